"""`dpa clauses coverage`: the matrix of legal requirements against the clauses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dpa_engine.agreements.deals import load_deal
from dpa_engine.agreements.rules import decide
from dpa_engine.legal.coverage import REQUIREMENTS, coverage
from dpa_engine.library import load_library
from tests.conftest import EXAMPLE_DEALS, LIBRARY
from tests.legal.conftest import dpa

EXPECTED = {"28(2)", "28(3)(a)", "28(3)(h)", "28(4)", "28(9)", "32", "36", "33(2)", "Chapter V",
            "9", "10", "2021/915 7.1", "2021/915 7.8", "2021/915 8", "2021/915 10",
            "2021/915 Annex I", "2021/915 Annex IV"}


def test_the_matrix_lists_every_requirement_of_the_issue() -> None:
    assert {r.reference for r in REQUIREMENTS} >= EXPECTED


def test_the_library_covers_everything() -> None:
    report = coverage(load_library(LIBRARY))
    assert report.gaps == []
    row = next(r for r in report.rows if r.reference == "33(2)")
    assert [c.id for c in row.clauses] == ["breach.notification"]


@pytest.mark.parametrize("deal", EXAMPLE_DEALS, ids=[d.stem for d in EXAMPLE_DEALS])
def test_every_example_deal_is_covered(deal: Path) -> None:
    library = load_library(LIBRARY)
    report = coverage(library, decide(load_deal(deal), library), scope=str(deal))
    assert report.gaps == [], [g.reference for g in report.gaps]


def test_art_9_is_not_applicable_without_special_categories() -> None:
    library = load_library(LIBRARY)
    deal = next(d for d in EXAMPLE_DEALS if d.stem == "deal-standard-nl")
    rows = {r.reference: r for r in coverage(library, decide(load_deal(deal), library)).rows}
    assert rows["9"].status == "not-applicable"
    assert rows["28(3)(a)"].status == "covered"


def test_a_library_without_the_breach_clause_has_a_gap(workspace: Path) -> None:
    # Remove breach.notification (the only clause for art. 33(2) and 2021/915 clause 9).
    (workspace / "clauses" / "breach.yaml").unlink()
    assistance = workspace / "clauses" / "assistance.yaml"
    text = assistance.read_text(encoding="utf-8")
    assistance.write_text(text.replace('ref("breach.notification")', '"9"'), encoding="utf-8")
    run = dpa("clauses", "coverage", "--library", workspace / "clauses", "--json")
    assert run.returncode == 1, run.stdout + run.stderr
    data = json.loads(run.stdout)
    assert "33(2)" in data["gaps"] and "2021/915 9" in data["gaps"]
    table = dpa("clauses", "coverage", "--library", workspace / "clauses")
    assert table.returncode == 1 and "gap" in table.stdout and "33(2)" in table.stdout


def test_the_cli_exits_0_on_the_real_library_and_a_deal() -> None:
    assert dpa("clauses", "coverage", "--library", LIBRARY).returncode == 0
    run = dpa("clauses", "coverage", EXAMPLE_DEALS[0], "--library", LIBRARY, "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["gaps"] == []
