"""Links from mail: with [web] base_url every digest incident and every alert (and summary) links to
its incident page; without it nothing changes (the golden files in tests/golden say so). The
fixtures are the digest's and the alerts' (tests/reports)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPORTS = Path(__file__).resolve().parent.parent / "reports"
if str(REPORTS) not in sys.path:
    sys.path.insert(0, str(REPORTS))

from digest_fixtures import DAY, RULES, make_settings, seed_day  # noqa: E402
from sentiment import store  # noqa: E402
from sentiment.reports import alerts, digest  # noqa: E402
from test_alerts import NOW, bodies, doc, incident, many, outbox  # noqa: E402
from test_alerts import RULES as ALERT_RULES  # noqa: E402

BASE = "https://monitor.example.com"


def incidents_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in data["incidents"]["order"] for c in data["incidents"][key]["items"]]


def test_digest_incidents_link_to_their_page(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, web={"base_url": BASE + "/"})
    db = store.open_db(settings.db)
    seed_day(db)
    data = digest.build_digest(db, settings, "cs", DAY, RULES)
    listed = incidents_of(data)
    assert listed and all(c["url"] == f"{BASE}/incidents/{c['id']}" for c in listed)
    message = digest.render_digest(data)
    for c in listed:
        assert f'href="{c["url"]}"' in message.html
        assert f"在控制台处理：{c['url']}\n" in message.text


def test_without_base_url_the_digest_has_no_console_link(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = store.open_db(settings.db)
    seed_day(db)
    data = digest.build_digest(db, settings, "cs", DAY, RULES)
    assert all(c["url"] is None for c in incidents_of(data))
    message = digest.render_digest(data)
    assert "/incidents/" not in message.html and "在控制台处理" not in message.text


def test_alerts_and_summaries_link_to_the_incident_page(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, web={"base_url": BASE}, alerts={"summary_over": 2})
    db = store.open_db(settings.db)
    doc(db, "m1", "2024-05-02T09:40:00+08:00", author="小明")
    mould = incident(db, ["m1"], owners="cs")
    alerts.queue_alerts(db, settings, NOW, ALERT_RULES)
    row = outbox(db)[0]  # one per owning audience (cs, pr)
    text, html = bodies(row)
    assert f"处理：{BASE}/incidents/{mould}\n" in text and f'href="{BASE}/incidents/{mould}"' in html
    assert "sentiment triage show" not in text
    fakes = many(db, 3, "cs")
    alerts.queue_alerts(db, settings, NOW, ALERT_RULES)
    (summary,) = [r for r in outbox(db) if r["key"].startswith("alert-summary") or "summary" in r["key"]]
    text, html = bodies(summary)
    for iid in fakes:
        assert f'href="{BASE}/incidents/{iid}"' in html and f"处理：{BASE}/incidents/{iid}" in text
