"""The scopes' word classes come from rules/wordclasses.toml, validated when loaded."""
from __future__ import annotations

from pathlib import Path

import pytest

from sentiment.errors import ModelError
from sentiment.lang import negation
from sentiment.lang.wordclasses import WORDS, WordClasses
from sentiment.model import features


def test_the_engines_read_their_classes_from_the_data_file() -> None:
    assert features.NEGATORS == WORDS.get("model.negators") and "没有" in features.NEGATORS
    assert negation.NEG_WEAK == WORDS.get("rules.neg_weak") and "不" in negation.NEG_WEAK
    # where the engines differ, the file says so: 以为 concedes in the model, is counterfactual in the rules
    assert "以为" in WORDS.get("model.concessive") and "以为" in WORDS.get("rules.hypo_counter")


@pytest.mark.parametrize("text, message", [
    ('[model]\nnegators = []\n', "[model] negators: expected a non-empty list"),
    ('[model]\nnegators = ["不", "不"]\n', "[model] negators: a word is listed twice"),
    ('[modle]\nnegators = ["不"]\n', "unknown section [modle]"),
    ('[model]\nnegators = ["不"\n', "cannot read the word classes"),
])
def test_a_malformed_file_is_refused_naming_the_class(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "wordclasses.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelError) as err:
        WordClasses(path).get("model.negators")
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_missing_class_is_named(tmp_path: Path) -> None:
    path = tmp_path / "wordclasses.toml"
    path.write_text('[model]\nnegators = ["不"]\n', encoding="utf-8")
    with pytest.raises(ModelError, match="word class 'model.contrast' is missing"):
        WordClasses(path).get("model.contrast")
