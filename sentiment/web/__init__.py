"""The web console and JSON API (`sentiment web`): pages and routes over the library.

Kept light on purpose: `sentiment.web.users` imports neither Flask nor the app (the CLI's
`users` commands use it); `sentiment.web.app.create_app` builds the Flask application. The
full-text index the pages search is `sentiment.reports.search`, kept up to date by the worker.
"""
