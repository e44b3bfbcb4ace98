"""The package ships its data (rule pack, templates, default model, config template) and its
C segmentation scan."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_carries_rules_templates_model_and_config(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    wheel = next(tmp_path.glob("sentiment-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for category in ("food_safety", "health_safety", "counterfeit", "quality", "logistics", "service",
                     "misleading", "escalation", "review_manipulation"):
        assert f"sentiment/resources/rules/{category}.toml" in names
    assert "sentiment/resources/rules/userdict.txt" in names
    for template in ("base.html", "base.txt", "digest.html", "digest.txt", "alert.html", "alert.txt"):
        assert f"sentiment/resources/templates/{template}" in names
    assert "sentiment/models/default.json.gz" in names
    # the web console's pages, assets and assignment mail
    for page in ("base.html", "queue.html", "incident.html", "search.html", "dashboard.html", "login.html",
                 "mail/assign.html", "mail/assign.txt"):
        assert f"sentiment/web/templates/{page}" in names
    assert {"sentiment/web/static/app.css", "sentiment/web/static/app.js"} <= names
    assert "sentiment/default_config.toml" in names
    assert any(n.startswith("sentiment/lang/_dag.") and n.endswith(".so") for n in names)  # the C DAG scan
    # every module of the source tree (an installed `sentiment` command imports sentiment.cli)
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sentiment").rglob("*.py")}
    assert "sentiment/cli/__init__.py" in modules and modules <= names, sorted(modules - names)
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sentiment = sentiment.__main__:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_python_dash_m_runs_the_cli(tmp_path):
    result = subprocess.run([sys.executable, "-m", "sentiment", "--version"], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0 and "sentiment" in result.stdout
