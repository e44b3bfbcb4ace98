"""Default rule pack, user dictionary and stopwords (installed as sentiment.resources.rules)."""
