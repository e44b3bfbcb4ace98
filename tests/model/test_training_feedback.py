"""Training with feedback (`model train` holds out a stratified share and compares the new model
with the one in use), `model evaluate` on any rated export or the store, and the progress
callbacks of long commands. Everything through the CLI, on real files and a real SQLite store."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from conftest import TABULAR

PRAISE = ["质量很好", "物流很快", "包装很精美", "性价比高", "和描述一致", "客服态度很好", "做工精细", "非常满意"]
COMPLAINTS = ["质量太差了", "物流太慢了", "客服不理人", "和图片完全不一样", "包装破损", "味道很怪", "做工粗糙", "很失望"]
QUALITY_KEYS = {"accuracy", "macro_f1", "neg_precision", "neg_recall"}


def labeled_rows(n_pos: int, n_neg: int) -> list[tuple[str, int]]:
    rows = [(f"{PRAISE[i % 8]}，{PRAISE[(i * 3 + 1) % 8]}，第{i}次买", 1) for i in range(n_pos)]
    rows += [(f"{COMPLAINTS[i % 8]}，{COMPLAINTS[(i * 5 + 2) % 8]}，第{i}次买", 0) for i in range(n_neg)]
    return rows


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def labeled(tmp_path: Path) -> Path:
    """100 rows, 60 positive and 40 negative, labels in two vocabularies."""
    rows = [[text, "positive" if label else "0"] for text, label in labeled_rows(60, 40)]
    return write_csv(tmp_path / "labeled.csv", ["text", "label"], rows)


# --- model train --labeled: the held-out comparison ------------------------------------------------


def test_train_prints_held_out_table_for_both_models_and_switch_hint(run_cli, labeled, tmp_path):
    out = tmp_path / "shop.json.gz"
    result = run_cli("model", "train", "--labeled", labeled, "--base", "none", "--out", out)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("saved custom-none-")
    assert lines[1].startswith("held out 20 texts (20% of each label)")
    assert lines[2].split() == ["new", "current"]
    for name in ("accuracy", "macro-F1", "neg precision", "neg recall"):
        row = next(line for line in lines if line.strip().startswith(name))
        new, current = (float(v) for v in row.split()[-2:])
        assert 0.0 <= new <= 1.0 and 0.0 <= current <= 1.0
    assert "current: bundled default, builtin-" in result.stdout
    assert f'[model] path = "{out}"' in result.stdout
    assert "sentiment rescan" in result.stdout
    assert result.stderr == ""  # stderr is no TTY under the runner: no progress bar


def test_train_json_has_holdout_with_both_models(run_cli, labeled, tmp_path):
    result, report = run_cli.json("model", "train", "--labeled", labeled, "--base", "none",
                                  "--out", tmp_path / "m.json.gz")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    holdout = report["holdout"]
    assert holdout["n"] == 20  # 12 of 60 positives + 8 of 40 negatives
    assert report["examples"] == 80
    for side in ("new", "current"):
        assert set(holdout[side]) == QUALITY_KEYS
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in holdout[side].values())
    assert holdout["new"]["accuracy"] >= 0.8  # the new model learnt the shop's wording
    assert holdout["current_version"].startswith("builtin-")


def test_train_holdout_compares_with_the_configured_model(run_cli, labeled, tmp_path):
    first = tmp_path / "first.json.gz"
    run_cli("model", "train", "--labeled", labeled, "--base", "none", "--holdout", "0", "--out", first)
    (tmp_path / "sentiment.toml").write_text('[model]\npath = "first.json.gz"\n', encoding="utf-8")
    _, report = run_cli.json("model", "train", "--labeled", labeled, "--base", "none",
                             "--out", tmp_path / "second.json.gz")
    assert report["holdout"]["current_model"] == str(first)
    assert report["holdout"]["current_version"].startswith("custom-none-")


def test_train_holdout_zero_reports_nothing(run_cli, labeled, tmp_path):
    result, report = run_cli.json("model", "train", "--labeled", labeled, "--base", "none", "--holdout", "0",
                                  "--out", tmp_path / "m.json.gz")
    assert "holdout" not in report
    assert report["examples"] == 100
    text = run_cli("model", "train", "--labeled", labeled, "--base", "none", "--holdout", "0",
                   "--out", tmp_path / "m2.json.gz")
    assert "held out" not in text.stdout and "[model] path" in text.stdout


def test_train_holdout_is_reproducible_and_stratified():
    from sentiment.model.training import holdout_split

    rows = labeled_rows(60, 40)
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    (train_x, train_y), (test_x, test_y) = holdout_split(texts, labels, 0.2)
    assert (test_y.count(1), test_y.count(0)) == (12, 8)
    assert sorted(train_x + test_x) == sorted(texts) and not set(train_x) & set(test_x)
    assert holdout_split(texts, labels, 0.2)[1] == (test_x, test_y)  # seeded
    assert holdout_split(texts, labels, 0.2, seed=1)[1][0] != test_x


def test_train_holdout_out_of_range_is_a_usage_error(run_cli, labeled):
    result = run_cli("model", "train", "--labeled", labeled, "--holdout", "1")
    assert result.exit_code == 2 and "--holdout" in result.stderr


def test_train_labeled_accepts_chinese_labels_and_leaves_out_neutral(run_cli, tmp_path):
    rows = [[t, "好评" if y else "差评"] for t, y in labeled_rows(30, 30)] + [["一般般吧", "中评"]]
    path = write_csv(tmp_path / "zh.csv", ["text", "label"], rows)
    result, report = run_cli.json("model", "train", "--labeled", path, "--base", "none", "--holdout", "0",
                                  "--out", tmp_path / "m.json.gz")
    assert result.exit_code == 0, result.stderr
    assert report["examples"] == 60


def test_train_from_db_holds_out_balanced_texts(run_cli, tmp_path):
    rows = [["600100", t, "好评" if y else "差评", f"2024-05-{1 + i % 28:02d} 10:00:00"]
            for i, (t, y) in enumerate(labeled_rows(70, 30))]
    export = write_csv(tmp_path / "rated.csv", ["商品ID", "评论内容", "评价类型", "日期"], rows)
    assert run_cli("ingest", "--no-analyze", export).exit_code == 0
    result, report = run_cli.json("model", "train", "--from-db", "--base", "none")
    assert result.exit_code == 0, result.output
    assert report["examples"] + report["holdout"]["n"] == 60  # balanced: 30 of the 70 positives
    assert report["holdout"]["n"] == 12


def test_balanced_from_db_is_seeded_and_reads_chosen_texts_only(run_cli, tmp_path):
    from sentiment import store
    from sentiment.model.training import balanced_ids

    def balanced_from_db(db):
        return store.labeled_texts(db, *balanced_ids(*store.rated_rowids(db)))

    rows = [["600100", t, "好评" if y else "差评", "2024-05-01 10:00:00"] for t, y in labeled_rows(70, 30)]
    run_cli("ingest", "--no-analyze", write_csv(tmp_path / "rated.csv", ["商品ID", "评论内容", "评价类型", "日期"], rows))
    db = store.open_db(run_cli.db, create=False)
    texts, labels = balanced_from_db(db)
    assert labels.count(1) == labels.count(0) == 30
    assert balanced_from_db(db) == (texts, labels)
    from sentiment.lang.text import normalize

    assert set(texts[30:]) == {normalize(t) for t, y in labeled_rows(70, 30) if y == 0}  # stored texts


# --- model evaluate: any export, any vocabulary, the store --------------------------------------


def test_evaluate_export_with_star_ratings_counts_neutral(run_cli, tmp_path):
    rows = [[t, str(5 - i % 2) if y else str(1 + i % 2), f"2024-05-{1 + i % 28:02d}"]
            for i, (t, y) in enumerate(labeled_rows(20, 20))]
    rows += [[f"一般般吧，第{i}次", "3", "2024-05-02"] for i in range(3)]
    path = write_csv(tmp_path / "评论导出.csv", ["评论内容", "评分", "日期"], rows)
    result, metrics = run_cli.json("model", "evaluate", path)
    assert result.exit_code == 0, result.stderr
    assert metrics["n"] == 40
    assert metrics["skipped"]["neutral"] == 3
    assert 0.0 <= metrics["accuracy"] <= 1.0
    text = run_cli("model", "evaluate", path)
    assert "left out: 3 neutral" in text.stdout


def test_evaluate_haoping_chaping_column(run_cli, tmp_path):
    rows = [[t, "好评" if y else "差评"] for t, y in labeled_rows(10, 10)] + [["还行吧", "中评"]]
    path = write_csv(tmp_path / "rated.csv", ["评论内容", "评价类型"], rows)
    result, metrics = run_cli.json("model", "evaluate", path)
    assert result.exit_code == 0, result.stderr
    assert metrics["n"] == 20 and metrics["skipped"]["neutral"] == 1


def test_evaluate_text_label_csv_with_chinese_labels_is_not_refused(run_cli, tmp_path):
    rows = [[t, "好评" if y else "差评"] for t, y in labeled_rows(10, 10)] + [["还行吧", "中评"], ["还可以", "0"]]
    path = write_csv(tmp_path / "zh.csv", ["text", "label"], rows)
    result, metrics = run_cli.json("model", "evaluate", path)
    assert result.exit_code == 0, result.stderr
    assert metrics["n"] == 21 and metrics["skipped"]["neutral"] == 1  # "0" is negative in text,label


def test_evaluate_xlsx_export(run_cli):
    result, metrics = run_cli.json("model", "evaluate", TABULAR / "isv_export.xlsx")
    assert result.exit_code == 0, result.stderr
    assert metrics["n"] > 0


def test_evaluate_from_db_and_since_until(run_cli):
    assert run_cli("ingest", "--no-analyze", TABULAR / "评论数据_20240510.csv").exit_code == 0
    # rated, not placeholders: 4 positive, 3 negative reviews (the 3-star one is neutral)
    _, everything = run_cli.json("model", "evaluate", "--from-db")
    assert everything["n"] == 7
    assert "skipped" not in everything
    _, recent = run_cli.json("model", "evaluate", "--from-db", "--since", "2024-05-05")
    assert recent["n"] == 4
    _, early = run_cli.json("model", "evaluate", "--from-db", "--until", "2024-05-05")
    assert early["n"] == 3
    text = run_cli("model", "evaluate", "--from-db", "--since", "2024-05-05")
    assert "on the store from 2024-05-05" in text.stdout


def test_evaluate_from_db_empty_period_is_a_clean_error(run_cli):
    run_cli("ingest", "--no-analyze", TABULAR / "评论数据_20240510.csv")
    result = run_cli("model", "evaluate", "--from-db", "--since", "2030-01-01")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the store has no rated reviews in that period")


def test_evaluate_needs_a_file_or_from_db(run_cli, labeled):
    assert run_cli("model", "evaluate").exit_code == 2
    assert run_cli("model", "evaluate", labeled, "--from-db").exit_code == 2
    assert run_cli("model", "evaluate", labeled, "--since", "2024-05-01").exit_code == 2


# --- the compact feature store of training: same matrix as the former dict-based one -------------


def test_compact_docs_give_the_dict_based_vocabulary_and_matrix_bit_for_bit():
    import numpy as np
    from scipy import sparse

    from sentiment.lang.text import normalize
    from sentiment.model import features, training
    from sentiment.rules.terms import analysis_segmenter

    seg, lexicon = analysis_segmenter(), features.default_lexicon()
    docs = [features.extract(seg.cut(normalize(t)), lexicon, 2) for t, _ in labeled_rows(30, 30)]
    docs.append({})  # an empty document keeps its (empty) row
    compact = training._CompactDocs()
    for d in docs:
        compact.add(d)
    counts: dict[str, int] = {}
    for d in docs:
        for name in d:
            counts[name] = counts.get(name, 0) + 1
    vocab = {n: i for i, n in enumerate(sorted(n for n, c in counts.items() if c >= 3
                                               or n in (features.LEX_POS, features.LEX_NEG)))}
    assert compact.vocabulary(3) == vocab
    rows, cols, vals = [], [], []
    for r, d in enumerate(docs):
        scale = sum(v * v for v in d.values()) ** -0.5 if d else 1.0
        for name, value in d.items():
            if name in vocab:
                rows.append(r), cols.append(vocab[name]), vals.append(value * scale)
    expected = sparse.csr_matrix((vals, (rows, cols)), shape=(len(docs), len(vocab)))
    got = compact.matrix(vocab, "l2", sparse, np)
    assert got.shape == expected.shape
    assert np.array_equal(got.indptr, expected.indptr) and np.array_equal(got.indices, expected.indices)
    assert got.data.tobytes() == expected.data.tobytes()
