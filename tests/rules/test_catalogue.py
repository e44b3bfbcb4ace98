"""One rule catalogue: digests, alerts and triage agree on who owns a category."""
from __future__ import annotations

from sentiment.reports.digest import audience_scope
from sentiment.rules.catalogue import FALLBACK_OWNERS, bundled_catalogue
from sentiment.signals.triage import cluster_owners


def test_every_reader_gives_a_category_the_owners_of_its_rules() -> None:
    """`misleading` rules name cs and pr: triage said pr only, the digest cs only."""
    cat = bundled_catalogue()
    for category, owners in cat.owners_by_category().items():
        assert cluster_owners(category) == owners, category
        for audience in ("cs", "pr"):
            assert (category in audience_scope(None, audience)[0]) == (audience in owners), (category, audience)
    assert cluster_owners("misleading") == ("cs", "pr")
    assert "misleading" in audience_scope(None, "pr")[0] and "misleading" in audience_scope(None, "cs")[0]


def test_a_category_no_rule_names_falls_back_to_cs() -> None:
    assert cluster_owners(None) == FALLBACK_OWNERS == ("cs",)
    assert bundled_catalogue().category_owners("no_such_category") == ("cs",)
