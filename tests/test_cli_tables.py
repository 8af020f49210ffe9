"""Readable output at 80 columns: ids and e-mail addresses are never cut, deviations read as
the agreement writes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

DPA = str(Path(sys.executable).parent / "dpa")


def run(*args: str, cwd: Path) -> str:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DPA_")},
           "COLUMNS": "80", "DPA_ACTOR": "tables-test"}
    result = subprocess.run([DPA, *args], capture_output=True, text=True, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_explain_keeps_every_clause_id_whole_at_80_columns(tmp_path: Path) -> None:
    deal = str(EXAMPLES / "deal-negotiated-nl.yaml")
    text = run("explain", deal, cwd=tmp_path)
    ids = [f"{c['id']} v{c['version']}"
           for c in json.loads(run("explain", deal, "--json", cwd=tmp_path))["clauses"]]
    assert max(map(len, ids)) > 30  # long enough to have been cut before
    for clause in ids:
        assert clause in text
    assert "…" not in text
    table = [line for line in text.splitlines() if line.startswith(("│", "┃", "┏", "└"))]
    assert max(len(line) for line in table) <= 80


def test_deviations_read_as_in_the_agreement(tmp_path: Path) -> None:
    text = run("explain", str(EXAMPLES / "deal-negotiated-nl.yaml"), cwd=tmp_path)
    flat = " ".join(text.split())
    assert "liability_cap_total: standard € 2.500,00 → agreed € 25.000,00" in flat
    assert "objection_window_days: standard 7 dagen → agreed 14 dagen" in flat
    assert "governing_law: standard België → agreed Nederland" in flat
    assert "2500 →" not in flat


def test_customers_import_and_list_at_80_columns(tmp_path: Path) -> None:
    imported = run("customers", "import", str(EXAMPLES), cwd=tmp_path)
    assert all(not line.startswith(" ") for line in imported.splitlines())
    listed = run("customers", "list", cwd=tmp_path)
    for address in ("privacy@bakkerijpeeters.example", "legal@groenveld.example"):
        assert address in listed
    for key in ("hopital-saint-lambert", "DPA-2026-0005 v1"):
        assert key in listed
    assert "…" not in listed
    assert max(len(line) for line in listed.splitlines()) <= 80
