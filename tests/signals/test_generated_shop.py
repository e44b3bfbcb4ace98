"""The "Incidents" targets end to end on a smaller generated shop, through the CLI.

6,000 reviews over 45 days ending yesterday, 40 items, the same injected incidents as the
benchmark (benchmarks/gen_shop.py: mould batch, allergy cluster, smoking charger, counterfeit
claims, 12315 threats inside dateless follow-ups, a logistics failure, and an old mould
incident that must stay closed). After `sentiment ingest` + `sentiment run --once --digest`:
the open queue holds at most 40 items with every injected incident in its first 15, at most
12 alert mails name every recent critical incident, and the CS digest lists the mould
incident first. The checks are benchmarks/bench_incidents.py's `evaluate`.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SMALL = {"reviews": 6000, "days": 45, "items": 40, "seed": 20261206}


def _load(name: str, path: Path) -> ModuleType:
    """A benchmark module by file path (benchmarks/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen_shop = _load("benchmarks_gen_shop", BENCHMARKS / "gen_shop.py")
bench = _load("benchmarks_bench_incidents", BENCHMARKS / "bench_incidents.py")


def _yesterday() -> date:
    return (datetime.now(SHANGHAI) - timedelta(days=1)).date()


def test_generator_is_deterministic_and_realistic(tmp_path):
    end = date(2026, 11, 24)
    first = gen_shop.write_shop(tmp_path / "a", end=end, **SMALL)
    second = gen_shop.write_shop(tmp_path / "b", end=end, **SMALL)
    assert first == second
    for f in first["files"]:
        assert (tmp_path / "a" / f["path"]).read_bytes() == (tmp_path / "b" / f["path"]).read_bytes()

    expected = {"mould": "food_safety", "allergy": "health_safety", "charger": "health_safety",
                "counterfeit": "counterfeit", "escalation_12315": "escalation", "logistics": "logistics",
                "old_mould": "food_safety"}
    assert {i["name"]: i["category"] for i in first["incidents"]} == expected
    assert len({i["item_id"] for i in first["incidents"]}) == len(expected)
    by_name = {i["name"]: i for i in first["incidents"]}
    assert by_name["mould"]["last"][:10] == end.isoformat() and by_name["mould"]["documents"] == 15
    assert by_name["escalation_12315"]["in"] == "followup" and not by_name["old_mould"]["expect_open"]

    reviews = [f for f in first["files"] if f["kind"] == "reviews"]
    assert len(reviews) == 2  # 45 days in 30-day exports, the newest period last
    rows = []
    for f in reviews:
        with (tmp_path / "a" / f["path"]).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            assert next(reader) == gen_shop.HEADER  # no date column for the follow-up
            rows.extend(reader)
    dates = sorted(r[6] for r in rows)
    assert dates[0][:10] == (end - timedelta(days=44)).isoformat() and dates[-1][:10] == end.isoformat()
    assert len({r[0] for r in rows}) == len(rows) and all(len(r[10]) == 19 for r in rows)
    negative = sum(1 for r in rows if int(r[5]) <= 2) / len(rows)
    assert 0.03 < negative < 0.07
    assert 0.08 < sum(1 for r in rows if r[4]) / len(rows) < 0.2
    assert 0.15 < sum(1 for r in rows if r[9]) / len(rows) < 0.3
    texts = [r[3] for r in rows]
    assert texts.count("物流有点慢,东西还可以") >= 10  # duplicate praise that must not become an incident
    threats = [r for r in rows if "12315" in r[4]]
    assert len(threats) == 4 and all("12315" not in r[3] for r in threats)
    assert {r[1] for r in threats} == {by_name["escalation_12315"]["item_id"]}

    nxt = gen_shop.write_next_day(tmp_path / "next", end=end, now=datetime(2026, 11, 26, tzinfo=SHANGHAI), **SMALL)
    assert nxt["day"] == "2026-11-25" and nxt["reviews"] == round(SMALL["reviews"] / SMALL["days"])
    assert json.loads((tmp_path / "next" / "next_day.json").read_text(encoding="utf-8")) == nxt


def test_generated_shop_meets_the_incident_targets(tmp_path):
    bench.setup(tmp_path)
    manifest = gen_shop.write_shop(tmp_path / "exports", end=_yesterday(), **SMALL)
    run = bench.make_runner(tmp_path, timeout=300)
    files = [str(tmp_path / "exports" / f["path"]) for f in manifest["files"]]
    ingested = run("ingest", *files, "--json")
    assert ingested.failed() is None, ingested.failed()
    assert ingested.json()["totals"]["new"] == manifest["counts"]["documents"]
    cycle = run("run", "--once", "--digest", "--json")
    assert cycle.failed() is None, cycle.failed()

    ev = bench.evaluate(run, manifest, tmp_path / "shop.db")
    if not ev.ok:
        pytest.fail("incident targets missed:\n" + ev.report(), pytrace=False)
