"""Rule overrides: `extend = true` and `disable = true` on top of the bundled pack (and of earlier files)."""
from __future__ import annotations

import functools
import textwrap
from pathlib import Path

import pytest

from sentiment.errors import RuleError
from sentiment.lang.segment import Segmenter, get_segmenter
from sentiment.lang.text import normalize
from sentiment.rules.catalogue import listing
from sentiment.rules.loader import check_rules, load_all, load_ruleset, ruleset_paths
from sentiment.rules.records import MatchInput
from sentiment.rules.ruleset import RuleSet

EXTEND = """
[[rule]]
id = "quality.defect"
extend = true
query = "面膜发黏 OR 起球"
"""

DISABLE = """
[[rule]]
id = "logistics.slow"
disable = true
"""

NEW_ONLY = "面膜发黏，不好用"          # no bundled rule fires on it
SLOW = "物流太慢了，一个星期才到"        # the bundled logistics.slow fires on it


def write(tmp_path: Path, body: str, name: str = "over.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


@functools.cache
def segmenter(terms: tuple[str, ...]) -> Segmenter:
    return get_segmenter(terms)


def hits(rs: RuleSet, raw: str) -> dict[str, str]:
    """rule id -> severity of the hits of `rs` on `raw` (segmented with the rule set's terms)."""
    text = normalize(raw)
    doc = MatchInput(text=text, tokens=segmenter(rs.terms()).tokenize(text))
    return {h.rule_id: h.severity for h in rs.match(doc)}


def rule(rs: RuleSet, rule_id: str):  # noqa: ANN201
    (found,) = [r for r in rs.rules if r.id == rule_id]
    return found


def test_extend_ors_the_new_terms_onto_the_bundled_query(tmp_path: Path) -> None:
    assert "quality.defect" not in hits(load_ruleset([]), NEW_ONLY)
    rs = load_ruleset([write(tmp_path, EXTEND)])
    assert hits(rs, NEW_ONLY) == {"quality.defect": "medium"}
    # the bundled terms still fire, and the rule keeps everything else it had
    assert "quality.defect" in hits(rs, "洗发水漏液了，瓶子外面全是")
    extended, bundled = rule(rs, "quality.defect"), rule(load_ruleset([]), "quality.defect")
    assert extended.query == f"({bundled.query.strip()}) OR (面膜发黏 OR 起球)"
    assert (extended.name, extended.owners, extended.min_count) == (bundled.name, bundled.owners, bundled.min_count)


def test_extend_replaces_other_keys_without_repeating_required_ones(tmp_path: Path) -> None:
    rs = load_ruleset([write(tmp_path, EXTEND + 'severity = "high"\nowners = ["cs", "pr"]\nimmediate = true\n'
                                                'cooldown = "6h"\n')])
    defect = rule(rs, "quality.defect")
    assert (defect.severity, defect.owners, defect.immediate, defect.cooldown.total_seconds()) == (
        "high", ("cs", "pr"), True, 6 * 3600)
    assert hits(rs, NEW_ONLY) == {"quality.defect": "high"}
    assert hits(rs, "洗发水漏液了，瓶子外面全是")["quality.defect"] == "high"


def test_extend_without_query_only_replaces(tmp_path: Path) -> None:
    rs = load_ruleset([write(tmp_path, '[[rule]]\nid = "quality.defect"\nextend = true\nseverity = "low"\n')])
    assert rule(rs, "quality.defect").query == rule(load_ruleset([]), "quality.defect").query
    assert rule(rs, "quality.defect").severity == "low"


def test_disable_stops_matching_and_stays_listed(tmp_path: Path) -> None:
    assert "logistics.slow" in hits(load_ruleset([]), SLOW)
    path = write(tmp_path, DISABLE)
    rs = load_ruleset([path])
    assert "logistics.slow" not in hits(rs, SLOW)
    assert "logistics.slow" not in {r.id for r in rs.rules}
    (listed,) = [e for e in listing(load_all(ruleset_paths([path]))) if e["id"] == "logistics.slow"]
    assert listed["enabled"] is False
    assert listed["origin"].endswith("logistics.toml:3")
    assert listed["overrides"] == [{"action": "disable", "at": f"{path}:2"}]


def test_extend_can_switch_a_disabled_rule_back_on(tmp_path: Path) -> None:
    first = write(tmp_path, DISABLE, "a.toml")
    second = write(tmp_path, '[[rule]]\nid = "logistics.slow"\nextend = true\nenabled = true\n', "b.toml")
    assert "logistics.slow" in hits(load_ruleset([first, second]), SLOW)
    assert "logistics.slow" not in hits(load_ruleset([second, first]), SLOW)  # later files win


@pytest.mark.parametrize("body, key", [(EXTEND.replace("quality.defect", "x.y"), "extend"),
                                       (DISABLE.replace("logistics.slow", "x.y"), "disable")])
def test_override_of_an_unknown_id_is_an_error(tmp_path: Path, body: str, key: str) -> None:
    path = write(tmp_path, body)  # the extend / disable key is on line 4
    assert check_rules(ruleset_paths([path])) == [f'{path}:4: rule "x.y": {key}: no earlier rule has this id']
    with pytest.raises(RuleError, match=f'rule "x.y": {key}: no earlier rule has this id'):
        load_ruleset([path])


def test_override_needs_an_earlier_file(tmp_path: Path) -> None:
    """Order matters: a file may extend a rule of a file loaded before it, not after it."""
    base = write(tmp_path, '[[rule]]\nid = "shop.melt"\ncategory = "logistics"\nname = "化了"\n'
                           'severity = "high"\nowners = ["cs"]\nquery = "冰袋化了"\n', "a.toml")
    over = write(tmp_path, '[[rule]]\nid = "shop.melt"\nextend = true\nquery = "解冻了"\n', "b.toml")
    assert check_rules(ruleset_paths([base, over])) == []
    assert check_rules(ruleset_paths([over, base])) == [
        f'{over}:3: rule "shop.melt": extend: no earlier rule has this id']
    # a directory loads its files in name order: a.toml before b.toml
    assert "shop.melt" in hits(load_ruleset([tmp_path]), "牛排解冻了")


def test_duplicate_id_without_extend_stays_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, EXTEND.replace("extend = true\n", 'category = "quality"\nname = "x"\n'
                                                        'severity = "low"\nowners = ["cs"]\n'))
    (problem,) = check_rules(ruleset_paths([path]))
    assert problem.startswith(f'{path}:3: rule "quality.defect": duplicate id (first defined at ')
    assert "quality.toml:6" in problem


@pytest.mark.parametrize("body, expected", [
    (DISABLE + 'severity = "low"\n', ':5: rule "logistics.slow": disable = true takes no other keys (got "severity")'),
    (EXTEND + "disable = true\n", ':6: rule "quality.defect": extend and disable cannot be combined'),
    (EXTEND.replace("extend = true", 'extend = "yes"'), ":4: rule \"quality.defect\": extend must be true or false"),
    (EXTEND.replace("面膜发黏 OR 起球", "(面膜发黏 OR"), ':5: rule "quality.defect": query: '),
    (EXTEND + 'severity = "urgent"\n', ":6: rule \"quality.defect\": bad severity 'urgent'"),
])
def test_bad_overrides_name_file_line_and_rule(tmp_path: Path, body: str, expected: str) -> None:
    path = write(tmp_path, body)
    (problem,) = check_rules(ruleset_paths([path]))
    assert problem.startswith(f"{path}{expected}"), problem


def test_a_file_named_twice_loads_once(tmp_path: Path) -> None:
    path = write(tmp_path, EXTEND)
    assert check_rules(ruleset_paths([path, tmp_path, path])) == []
    assert rule(load_ruleset([path, path]), "quality.defect").query.count("面膜发黏") == 1


def test_version_and_digests_change_with_an_override(tmp_path: Path) -> None:
    base = load_ruleset([])
    extended = load_ruleset([write(tmp_path, EXTEND, "e.toml")])
    severity = load_ruleset([write(tmp_path, '[[rule]]\nid = "quality.defect"\nextend = true\nseverity = "high"\n',
                                   "s.toml")])
    disabled = load_ruleset([write(tmp_path, DISABLE, "d.toml")])
    assert len({base.version, extended.version, severity.version, disabled.version}) == 4
    for changed in (extended, severity):
        old, new = base.digests(), changed.digests()
        assert {r for r in old if old[r] != new[r]} == {"quality.defect"}
    assert set(base.digests()) - set(disabled.digests()) == {"logistics.slow"}
