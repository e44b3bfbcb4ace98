"""`sentiment score` and `sentiment model train|evaluate` through the CLI: output formats,
stdin, usage errors, training on a small labeled CSV and on the store's rated reviews,
selecting a trained model in sentiment.toml, and clean errors for bad model files."""
from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

import pytest
import sqlite_utils

POSITIVE = [
    "质量很好，非常满意", "物流很快，包装完好", "味道不错，孩子很喜欢", "性价比高，值得购买",
    "客服态度很好，耐心解答", "做工精细，手感很棒", "颜色好看，和图片一样", "尺码标准，穿着舒服",
    "已经回购好几次了，一直很好", "新鲜好吃，下次还来", "东西很好，推荐大家买", "包装精美，送人很有面子",
    "发货速度快，第二天就到了", "非常好用，超出预期", "很满意的一次购物", "卖家服务周到，好评",
    "正品无疑，放心购买", "效果明显，很喜欢", "物美价廉，五星好评", "宝贝很漂亮，质量也好",
]
NEGATIVE = [
    "质量太差了，用了两天就坏了", "物流太慢，等了一个星期", "味道很难吃，扔掉了", "做工粗糙，线头很多",
    "客服态度恶劣，不理人", "颜色和图片差太多，失望", "尺码不准，穿不了", "收到就是坏的，差评",
    "包装破损，东西洒了一地", "太差劲了，再也不买了", "假货，跟专柜不一样", "有异味，根本没法用",
    "发错货了，退货还麻烦", "很失望，完全不值这个价", "用了一次就坏了，垃圾", "卖家不发货，骗人",
    "质量很差，不推荐购买", "东西是旧的，有划痕", "难用死了，退款", "描述不符，差评",
]


def write_labeled(path: Path, header: tuple[str, str] = ("text", "label")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for text in POSITIVE:
            writer.writerow([text, "positive"])
        for text in NEGATIVE:
            writer.writerow([text, "0"])
    return path


def write_rated_export(path: Path, n_pos: int, n_neg: int) -> Path:
    """A review export with 评价类型 好评/差评: distinct texts, so nothing is a duplicate."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["商品ID", "评论内容", "评价类型", "日期"])
        for i in range(n_pos):
            writer.writerow(["600100", f"{POSITIVE[i % len(POSITIVE)]}，第{i}次购买", "好评",
                             f"2024-05-{1 + i % 28:02d} 10:00:00"])
        for i in range(n_neg):
            writer.writerow(["600100", f"{NEGATIVE[i % len(NEGATIVE)]}，第{i}次购买", "差评",
                             f"2024-05-{1 + i % 28:02d} 11:00:00"])
    return path


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# --- score ----------------------------------------------------------------------------------------

def test_score_human_output(run_cli):
    result = run_cli("score", "坚果发霉了，孩子吃了拉肚子", "质量很好，非常满意", "此用户没有填写评价。")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    neg, pos, placeholder = lines
    assert neg.startswith("negative ")
    assert "坚果发霉了，孩子吃了拉肚子" in neg  # the text as given
    assert "food_safety.spoiled" in neg and "food_safety.illness" in neg
    assert pos.startswith("positive ") and "[" not in pos
    assert placeholder.startswith("placeholder") and " - " in placeholder
    score = float(neg.split()[1])
    assert 0.0 <= score < 0.4


def test_score_json_one_object_per_line(run_cli):
    result = run_cli("score", "--json", "坚果发霉了，孩子吃了拉肚子", "质量很好，非常满意")
    assert result.exit_code == 0, result.output
    first, second = json_lines(result.stdout)
    for obj in (first, second):
        assert {"score", "label", "tokens", "hits"} <= set(obj)
        assert 0.0 <= obj["score"] <= 1.0
    assert first["label"] == "negative" and second["label"] == "positive"
    assert "发霉" in first["tokens"] and "拉肚子" in first["tokens"]
    food = {h["rule_id"]: h for h in first["hits"] if h["category"] == "food_safety"}
    assert set(food) == {"food_safety.spoiled", "food_safety.illness"}
    for hit in first["hits"]:
        assert hit["severity"] in ("critical", "high", "medium", "low")
        assert hit["owners"]
        for term in hit["terms"]:
            assert first["text"][term["start"]:term["end"]] == term["term"]
    assert second["hits"] == []


def test_score_stdin_gives_one_line_for_each_line_blank_ones_too(run_cli):
    """Output lines pair with input lines (paste in.txt out.jsonl): a blank line is not skipped."""
    result = run_cli("score", "-", "--json", input="质量很好，非常满意\n\n   \n物流太慢了，差评\n")
    assert result.exit_code == 0, result.output
    objs = json_lines(result.stdout)
    assert [o["text"] for o in objs] == ["质量很好,非常满意", "", "", "物流太慢了,差评"]
    assert [(o["score"], o["label"]) for o in objs[1:3]] == [(None, None), (None, None)]
    assert objs[3]["label"] == "negative"
    assert any(h["category"] == "logistics" for h in objs[3]["hits"])
    plain = run_cli("score", "-", input="质量很好\n\n").stdout.splitlines()
    assert len(plain) == 2 and plain[1].split()[:2] == ["empty", "-"]


def test_score_stdin_same_as_arguments(run_cli):
    texts = ["质量很好，非常满意", "坚果发霉了"]
    by_args = run_cli("score", "--json", *texts).stdout
    by_stdin = run_cli("score", "-", "--json", input="\n".join(texts) + "\n").stdout
    assert by_args == by_stdin


def test_score_stdin_reads_utf8_with_bom_crlf_and_gb18030_lines(run_cli):
    """Text pasted from an export saved on Chinese Windows (GB18030, CRLF) scores as the same text."""
    lines = ["质量很好，非常满意", "坚果发霉了，孩子吃了拉肚子"]
    expected = json_lines(run_cli("score", "--json", *lines).stdout)
    raw = codecs.BOM_UTF8 + lines[0].encode("utf-8") + b"\r\n" + lines[1].encode("gb18030") + b"\r\n"
    result = run_cli("score", "-", "--json", input=raw)
    assert result.exit_code == 0, result.output
    assert json_lines(result.stdout) == expected


def test_score_stdin_that_is_no_text_is_an_error_naming_the_line(run_cli):
    result = run_cli("score", "-", "--json", input="质量很好\n".encode() + b"\xff\xfe\xfa\xff\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: stdin line 2 is neither UTF-8 nor GB18030 text")
    assert "internal error" not in result.stderr
    assert len(json_lines(result.stdout)) == 1  # the line before it was scored


def test_score_without_arguments_is_a_usage_error(run_cli):
    result = run_cli("score")
    assert result.exit_code == 2
    assert "Usage:" in result.stderr
    assert "give TEXT arguments" in result.stderr
    assert result.stdout == ""


# --- model train / evaluate -----------------------------------------------------------------------

@pytest.fixture
def trained(run_cli, tmp_path) -> tuple[Path, Path, dict]:
    labeled = write_labeled(tmp_path / "labeled.csv")
    out = tmp_path / "m.json.gz"
    result, report = run_cli.json("model", "train", "--labeled", labeled, "--base", "none", "--holdout", "0", "--out", out)
    assert result.exit_code == 0, result.output
    return labeled, out, report


def test_train_labeled_reports_and_saves(trained):
    labeled, out, report = trained
    assert out.is_file() and out.stat().st_size > 0
    assert report["path"] == str(out)
    assert report["source"] == "labeled"
    assert report["examples"] == len(POSITIVE) + len(NEGATIVE)
    assert report["version"].startswith("custom-none-")


def test_train_is_deterministic(trained, run_cli, tmp_path):
    labeled, out, report = trained
    again = tmp_path / "again.json.gz"
    _, second = run_cli.json("model", "train", "--labeled", labeled, "--base", "none", "--holdout", "0", "--out", again)
    assert second["version"] == report["version"]
    assert again.read_bytes() == out.read_bytes()


def test_evaluate_prints_exactly_the_metric_keys(trained, run_cli):
    labeled, out, _ = trained
    result, metrics = run_cli.json("model", "evaluate", labeled, "--model", out)
    assert result.exit_code == 0, result.output
    assert list(metrics) == ["n", "accuracy", "macro_f1", "neg_precision", "neg_recall", "texts_per_s", "skipped"]
    assert metrics["n"] == 40
    for key in ("accuracy", "macro_f1", "neg_precision", "neg_recall"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["accuracy"] >= 0.9  # evaluated on its own training data
    assert metrics["texts_per_s"] > 0


def test_evaluate_human_output(trained, run_cli):
    labeled, out, report = trained
    result = run_cli("model", "evaluate", labeled, "--model", out)
    assert result.exit_code == 0
    assert report["version"] in result.stdout.splitlines()[0]
    assert "macro_f1" in result.stdout


def test_config_model_path_selects_trained_model(trained, run_cli, tmp_path):
    _, out, report = trained
    text = "物流太慢，等了一个星期"
    default = json.loads(run_cli("score", "--json", text).stdout)
    (tmp_path / "sentiment.toml").write_text('[model]\npath = "m.json.gz"\n', encoding="utf-8")
    custom = json.loads(run_cli("score", "--json", text).stdout)
    assert custom["score"] != default["score"]
    # the stored analysis records which model made it
    result = run_cli("ingest", "--json", write_rated_export(tmp_path / "few.csv", 2, 2))
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(run_cli.db)
    versions = {r[0] for r in db.execute("SELECT DISTINCT model_version FROM analyses")}
    db.conn.close()
    assert versions == {report["version"]}


def test_config_model_path_relative_to_config_file(trained, run_cli, tmp_path):
    """A relative [model] path resolves against the config file, not the working directory."""
    labeled, out, report = trained
    conf = tmp_path / "conf"
    conf.mkdir()
    out.rename(conf / "shop.json.gz")
    (conf / "sentiment.toml").write_text('[model]\npath = "shop.json.gz"\n', encoding="utf-8")
    result = run_cli("--config", conf / "sentiment.toml", "model", "evaluate", labeled)
    assert result.exit_code == 0, result.output
    assert report["version"] in result.stdout


@pytest.mark.parametrize("content", [b"\x00\x01garbage\xff\xfe not a model", b"",
                                     b"\x1f\x8b\x08\x00truncated gzip"])
def test_corrupt_model_file_is_a_clean_error(run_cli, tmp_path, content):
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(content)
    labeled = write_labeled(tmp_path / "labeled.csv")
    result = run_cli("model", "evaluate", labeled, "--model", bad)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert str(bad) in result.stderr and "not a sentiment model file" in result.stderr
    (tmp_path / "sentiment.toml").write_text('[model]\npath = "bad.json.gz"\n', encoding="utf-8")
    result = run_cli("score", "好")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "bad.json.gz" in result.stderr
    assert result.stdout == ""


def test_gzip_json_that_is_not_a_model_is_a_clean_error(run_cli, tmp_path):
    import gzip

    bad = tmp_path / "other.json.gz"
    bad.write_bytes(gzip.compress(json.dumps({"hello": "world"}).encode()))
    result = run_cli("model", "evaluate", write_labeled(tmp_path / "l.csv"), "--model", bad)
    assert result.exit_code == 1
    assert "Error: " in result.stderr and "not a sentiment model file" in result.stderr


def test_missing_model_file_is_a_clean_error(run_cli, tmp_path):
    labeled = write_labeled(tmp_path / "labeled.csv")
    result = run_cli("model", "evaluate", labeled, "--model", tmp_path / "nope.json.gz")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope.json.gz" in result.stderr
    assert "missing" in result.stderr
    (tmp_path / "sentiment.toml").write_text('[model]\npath = "nope.json.gz"\n', encoding="utf-8")
    result = run_cli("score", "--json", "好")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and "nope.json.gz" in result.stderr


def test_labeled_csv_without_label_column(run_cli, tmp_path):
    bad = write_labeled(tmp_path / "nolabel.csv", header=("text", "polarity"))
    result = run_cli("model", "train", "--labeled", bad, "--base", "none", "--out", tmp_path / "x.json.gz")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:1: ")
    assert "text,label" in result.stderr
    assert not (tmp_path / "x.json.gz").exists()
    result = run_cli("model", "evaluate", bad)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:1: ")


def test_labeled_csv_bad_label_names_the_line(run_cli, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\n很好,1\n很差,0\n一般,maybe\n", encoding="utf-8")
    result = run_cli("model", "train", "--labeled", path, "--base", "none", "--out", tmp_path / "x.json.gz")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {path}:4: label 'maybe'")


def test_labeled_csv_missing_file(run_cli, tmp_path):
    result = run_cli("model", "evaluate", tmp_path / "absent.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "absent.csv" in result.stderr


def test_train_without_a_source_is_a_usage_error(run_cli):
    result = run_cli("model", "train")
    assert result.exit_code == 2
    assert "--builtin, --from-db or --labeled" in result.stderr


# --- model train --from-db ------------------------------------------------------------------------

def test_train_from_db_without_a_store(run_cli):
    result = run_cli("model", "train", "--from-db", "--base", "none")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "does not exist" in result.stderr
    assert not run_cli.db.exists()


def test_train_from_db_with_too_few_rated_reviews(run_cli, tmp_path):
    result = run_cli("ingest", "--no-analyze", write_rated_export(tmp_path / "few.csv", 25, 5))
    assert result.exit_code == 0, result.output
    result = run_cli("model", "train", "--from-db", "--base", "none")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "25 positive and 5 negative" in result.stderr
    assert "at least 20 of each" in result.stderr
    assert not (tmp_path / "models").exists()


def test_train_from_db_saves_under_the_db_directory(run_cli, tmp_path):
    store_dir = tmp_path / "store"
    from conftest import CliCall

    call = CliCall(store_dir / "shop.db")
    result = call("ingest", "--no-analyze", "--json", write_rated_export(tmp_path / "rated.csv", 32, 30))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["new"] == 62
    result, report = call.json("model", "train", "--from-db", "--base", "none", "--holdout", "0")
    assert result.exit_code == 0, result.output
    saved = Path(report["path"])
    assert saved.parent == store_dir / "models"
    assert saved.is_file()
    assert report["source"] == "db"
    assert report["examples"] == 60  # balanced: the 32 positives down-sampled to 30
    assert report["version"].startswith("custom-none-")
    assert not (tmp_path / "models").exists()  # not the working directory
    # the saved model is usable
    labeled = write_labeled(tmp_path / "labeled.csv")
    result, metrics = call.json("model", "evaluate", labeled, "--model", saved)
    assert metrics["n"] == 40 and metrics["accuracy"] >= 0.7


def test_train_from_db_human_output_tells_how_to_select(run_cli, tmp_path):
    run_cli("ingest", "--no-analyze", write_rated_export(tmp_path / "rated.csv", 30, 30))
    result = run_cli("model", "train", "--from-db", "--base", "none")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("saved custom-none-")
    assert '[model] path = "' in result.stdout
