"""One analysis path: `ingest` (analysis on), `ingest --no-analyze` + the worker's
`backlog.analyze_pending`, and `ingest --no-analyze` + `sentiment rescan` write identical
`analyses` and `rule_hits` rows; `sentiment score` agrees with what was stored; and the
`sentiment.analyze()` API contract. Real exports from tests/data, real SQLite files."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlite_utils
from click.testing import CliRunner

from conftest import DATA, TABULAR

JSON_DIR = DATA / "json"
EXPORTS = [
    TABULAR / "评论数据_20240510.csv",
    TABULAR / "isv_export.xlsx",
    TABULAR / "千牛评价导出.tsv",
    TABULAR / "问大家_752102501302.csv",
    JSON_DIR / "tmall_list_detail_rate_gbk.jsonp",
    JSON_DIR / "tmall_ratedetail_fragment.txt",
    JSON_DIR / "taobao_feedratelist.json",
]

ANALYSIS_SQL = ("SELECT document_id, score, label, tokens, model_version, rules_version"
                " FROM analyses ORDER BY document_id")
# a hit's time is its document's; a follow-up without a date of its own is dated when first seen,
# which differs between stores ingested a second apart: that it is its document's time is compared
HITS_SQL = ("SELECT h.document_id, h.rule_id, h.category, h.severity, h.terms,"
            " CASE WHEN d.date_precision = 'first_seen' THEN h.created_at = d.created_at ELSE h.created_at END"
            " FROM rule_hits h JOIN documents d ON d.id = h.document_id ORDER BY h.document_id, h.rule_id")


def cli(db: Path, *args: Any, input: str | None = None):
    """`sentiment --db DB ...` in-process; any non-SystemExit exception is a test failure."""
    from sentiment.cli import cli as group

    result = CliRunner().invoke(group, ["--db", str(db), *[str(a) for a in args]], input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stdout + result.stderr
    return result


def rows(db_path: Path, sql: str) -> list[tuple]:
    db = sqlite_utils.Database(db_path)
    try:
        return [tuple(r) for r in db.execute(sql).fetchall()]
    finally:
        db.conn.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The same exports analyzed three ways, into three stores (built once for the module)."""
    from sentiment import store
    from sentiment.config import load_settings
    from sentiment.pipeline.backlog import analyze_pending
    from sentiment.pipeline.analysis import Pipeline

    base = tmp_path_factory.mktemp("one_path")
    with pytest.MonkeyPatch.context() as mp:
        # The autouse isolation fixture is function-scoped: do the same here by hand.
        for name in list(os.environ):
            if name.startswith("SENTIMENT_"):
                mp.delenv(name)
        mp.chdir(base)
        paths = {name: base / f"{name}.db" for name in ("ingest", "worker", "rescan")}

        result = cli(paths["ingest"], "ingest", "--json", *EXPORTS)
        assert result.exit_code == 0, result.output
        for name in ("worker", "rescan"):
            result = cli(paths[name], "ingest", "--no-analyze", "--json", *EXPORTS)
            assert result.exit_code == 0, result.output
            assert rows(paths[name], "SELECT count(*) FROM analyses") == [(0,)]

        db = store.open_db(paths["worker"])
        settings = load_settings(db=paths["worker"])
        analyzed = analyze_pending(db, Pipeline.from_settings(settings))
        db.conn.close()
        assert analyzed == rows(paths["worker"], "SELECT count(*) FROM documents")[0][0]

        with warnings.catch_warnings():
            # click 8.5 deprecates click.get_text_stream, which `rescan` calls; tests/test_cli_rules.py
            # has its own test. Here we only compare the rows rescan writes.
            warnings.filterwarnings("ignore", "'get_text_stream' is deprecated", DeprecationWarning)
            result = cli(paths["rescan"], "rescan", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["reanalyzed"] == report["documents"] > 0
        assert report["rules_only"] == 0
        yield paths


def test_all_documents_analyzed_in_every_store(stores):
    for path in stores.values():
        docs = rows(path, "SELECT count(*) FROM documents")[0][0]
        assert docs > 50
        assert rows(path, "SELECT count(*) FROM analyses")[0][0] == docs
        # the exports are realistic: several risk categories fire, some texts are placeholders
        categories = {c for (c,) in rows(path, "SELECT DISTINCT category FROM rule_hits")}
        assert {"food_safety", "escalation", "counterfeit"} <= categories
        assert rows(path, "SELECT count(*) FROM analyses WHERE label IS NULL")[0][0] > 0
        assert rows(path, "SELECT count(*) FROM analyses WHERE label = 'negative'")[0][0] > 0
        assert rows(path, "SELECT count(*) FROM analyses WHERE label = 'positive'")[0][0] > 0


def test_same_documents_in_every_store(stores):
    ids = [rows(p, "SELECT id, text, kind FROM documents ORDER BY id") for p in stores.values()]
    assert ids[0] == ids[1] == ids[2]


def test_analyses_identical_across_ingest_worker_and_rescan(stores):
    ingest, worker, rescan = (rows(stores[n], ANALYSIS_SQL) for n in ("ingest", "worker", "rescan"))
    assert ingest, "no analyses"
    assert ingest == worker
    assert ingest == rescan


def test_rule_hits_identical_across_ingest_worker_and_rescan(stores):
    ingest, worker, rescan = (rows(stores[n], HITS_SQL) for n in ("ingest", "worker", "rescan"))
    assert len(ingest) >= 10
    assert ingest == worker
    assert ingest == rescan


def test_versions_are_recorded(stores):
    from sentiment.config import load_settings
    from sentiment.pipeline.analysis import Pipeline

    pipeline = Pipeline.from_settings(load_settings(db=stores["ingest"]))
    versions = set(rows(stores["ingest"], "SELECT DISTINCT model_version, rules_version FROM analyses"))
    assert versions == {(pipeline.model.version, pipeline.rules_version)}
    assert pipeline.rules_version


def test_score_cli_agrees_with_stored_rows(stores, run_cli):
    """`sentiment score --json` on each stored review text gives the stored score, label, tokens and hits.

    (`score` treats its input as a review, so questions and answers are left out.)"""
    docs = rows(stores["ingest"],
                "SELECT d.id, d.text, a.score, a.label, a.tokens FROM documents d"
                " JOIN analyses a ON a.document_id = d.id"
                " WHERE d.kind IN ('review', 'followup') ORDER BY d.id")
    docs = [d for d in docs if "\n" not in d[1] and d[1].strip()]
    assert len(docs) > 30
    hits: dict[str, list[tuple[str, list]]] = {}
    for doc_id, rule_id, terms in rows(stores["ingest"], "SELECT document_id, rule_id, terms FROM rule_hits"):
        hits.setdefault(doc_id, []).append((rule_id, json.loads(terms)))

    result = run_cli("score", "--json", *[d[1] for d in docs])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(docs)
    with_hits = 0
    for (doc_id, text, score, label, tokens), line in zip(docs, lines):
        got = json.loads(line)
        assert got["text"] == text
        assert got["label"] == label, text
        if score is None:
            assert got["score"] is None
        else:
            assert got["score"] == round(score, 4), text
        assert got["tokens"] == [t[0] for t in json.loads(tokens)]
        expected = sorted(hits.get(doc_id, []))
        assert sorted((h["rule_id"], [[t["term"], t["start"], t["end"]] for t in h["terms"]])
                      for h in got["hits"]) == expected, text
        with_hits += bool(expected)
    assert with_hits >= 5


def test_reingest_with_analysis_changes_nothing(stores, tmp_path):
    import sqlite3

    copy = tmp_path / "again.db"
    src, dst = sqlite3.connect(stores["ingest"]), sqlite3.connect(copy)
    src.backup(dst)  # WAL-safe copy
    src.close()
    dst.close()
    before = rows(copy, ANALYSIS_SQL), rows(copy, HITS_SQL)
    result = cli(copy, "ingest", "--json", *EXPORTS)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["totals"]["new"] == 0
    assert (rows(copy, ANALYSIS_SQL), rows(copy, HITS_SQL)) == before


# --- sentiment.analyze() --------------------------------------------------------------------------

@pytest.fixture
def fresh_api() -> Iterator[Any]:
    """`sentiment.analyze` with its once-per-process pipeline reset (it reads ./sentiment.toml)."""
    import sentiment

    sentiment._default_pipeline.cache_clear()
    yield sentiment.analyze
    sentiment._default_pipeline.cache_clear()


def test_analyze_api_contract(fresh_api):
    result = fresh_api("坚果发霉了，孩子吃了拉肚子，我要打12315投诉")
    assert 0.0 <= result.score <= 1.0
    assert result.label == "negative"
    assert result.tokens and all(isinstance(t, str) for t in result.tokens)
    assert "".join(result.tokens).replace(" ", "") == result.text.replace(" ", "")
    categories = {h.category for h in result.hits}
    assert {"food_safety", "escalation"} <= categories
    for hit in result.hits:
        assert hit.rule_id.startswith(hit.category + ".")
        assert hit.severity in ("critical", "high", "medium", "low")
        assert hit.owners and all(isinstance(o, str) for o in hit.owners)
        assert hit.terms
        for term, start, end in hit.terms:
            assert result.text[start:end] == term
    food = [h for h in result.hits if h.category == "food_safety"]
    assert all(h.severity == "critical" for h in food)
    assert any(t[0] == "发霉" for h in food for t in h.terms)


def test_analyze_spans_index_into_normalized_text(fresh_api):
    """Full-width digits, traditional characters and HTML entities are normalized first;
    term offsets refer to the normalized text, not to the raw input."""
    raw = "&lt;b&gt;收到就發霉了&lt;/b&gt;&nbsp;要去１２３１５投訴"
    result = fresh_api(raw)
    assert result.text != raw
    assert "发霉" in result.text and "12315" in result.text
    terms = [t for h in result.hits for t in h.terms]
    assert {"发霉", "12315"} <= {t[0] for t in terms}
    for term, start, end in terms:
        assert result.text[start:end] == term


def test_analyze_positive_text(fresh_api):
    result = fresh_api("质量很好，非常满意，物流也快，好评！")
    assert result.label == "positive"
    assert result.score > 0.6
    assert result.hits == []


@pytest.mark.parametrize("text, kind", [("会不会过敏？", "review"), ("穿着舒服吗", "question"),
                                        ("这个好用吗?", "review")])
def test_a_question_is_never_positive(fresh_api, text, kind):
    result = fresh_api(text, kind=kind)
    assert result.score > 0.6  # its words score high ...
    assert result.label == "neutral"  # ... but it asks rather than praises


def test_a_question_is_negative_only_on_strong_evidence(fresh_api):
    asked = fresh_api("味道重不重", kind="question")
    assert 0.2 < asked.score < 0.4 and asked.label == "neutral"  # 重 scores low; asking is no complaint
    assert fresh_api("质量好不好", kind="question").label == "neutral"
    assert fresh_api("为什么还不发货？客服也不理人？").label == "negative"
    assert fresh_api("质量很好", kind="answer").label == "positive"  # answers are opinions
    assert fresh_api("味道重不重", kind="answer").label == "negative"


@pytest.mark.parametrize("text", ["此用户没有填写评价。", "评价方未及时做出评价,系统默认好评!"])
def test_analyze_placeholder_has_no_label_and_no_hits(fresh_api, text):
    result = fresh_api(text)
    assert result.label is None
    assert result.score is None
    assert result.hits == []
    assert result.is_placeholder is True


def _mid_score() -> tuple[str, float]:
    from sentiment.config import load_settings
    from sentiment.pipeline.analysis import Pipeline

    pipeline = Pipeline.from_settings(load_settings())
    text = "东西收到了，还行吧，一般般"
    score = pipeline.analyze(text).score
    assert score is not None and 0.05 < score < 0.95, score
    return text, score


def test_thresholds_from_config_change_label(fresh_api, tmp_path, run_cli):
    text, score = _mid_score()
    low = round(max(score - 0.02, 0.0), 4)   # score is above both thresholds -> positive
    high = round(min(score + 0.02, 1.0), 4)  # score is below both thresholds -> negative
    labels = {}
    for name, (neg, pos) in {"positive": (low, low), "negative": (high, high), "neutral": (low, high)}.items():
        (tmp_path / "sentiment.toml").write_text(
            f"[model]\nnegative_below = {neg}\npositive_above = {pos}\n", encoding="utf-8")
        import sentiment

        sentiment._default_pipeline.cache_clear()
        api = fresh_api(text)
        result = run_cli("score", "--json", text)
        assert result.exit_code == 0, result.output
        cli_label = json.loads(result.stdout)["label"]
        assert api.label == cli_label
        assert api.score == pytest.approx(score)
        labels[name] = cli_label
    assert labels == {"positive": "positive", "negative": "negative", "neutral": "neutral"}


def test_bad_thresholds_are_a_config_error(tmp_path, run_cli):
    (tmp_path / "sentiment.toml").write_text("[model]\nnegative_below = 0.8\npositive_above = 0.2\n",
                                             encoding="utf-8")
    result = run_cli("score", "好")
    assert result.exit_code == 1
    assert "Error: [model] thresholds" in result.stderr


def test_stored_token_offsets_point_into_the_stored_text(tmp_path):
    """A masked phone number (1**********) is not re-normalized away before analysis."""
    export = tmp_path / "reviews.csv"
    export.write_text(
        "评价ID,宝贝ID,评价内容,评价时间,评分\n"
        "9001,1001,质量太差了，加我电话13812345678退款！！！！,2026-11-20 10:00:00,1\n"
        "9002,1001,很好很好很好很好,2026-11-20 11:00:00,5\n",
        encoding="utf-8")
    db = tmp_path / "s.db"
    cli(db, "ingest", export)
    stored = rows(db, "SELECT d.text, a.tokens FROM documents d JOIN analyses a ON a.document_id = d.id")
    assert len(stored) == 2
    texts = [text for text, _ in stored]
    assert any("1**********" in t for t in texts)
    for text, tokens in stored:
        spans = json.loads(tokens)
        assert spans and all(text[start:end] == word for word, start, end in spans)
