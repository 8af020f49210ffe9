"""The `dpa` command's happy paths, run as a user would (a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES

DPA = str(Path(sys.executable).parent / "dpa")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DPA, *args], capture_output=True, text=True)


def test_generate_writes_the_agreement_and_says_where(tmp_path: Path) -> None:
    target = tmp_path / "out.docx"
    result = run("generate", str(EXAMPLES / "deal-negotiated-nl.yaml"), "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:2] == b"PK"
    assert str(target) in result.stdout and "DRAFT" in result.stdout
    assert "governing_law" in result.stdout


def test_explain_json_has_clauses_and_no_deviations_for_a_standard_deal() -> None:
    result = run("explain", str(EXAMPLES / "deal-standard-nl.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["deviations"] == []
    by_id = {c["id"]: c for c in report["clauses"]}
    specific = by_id["subprocessors.specific-authorisation"]
    assert specific["included"] is False
    assert specific["rule"] == 'subprocessor_authorisation == "specific"'
    assert specific["facts"] == {"subprocessor_authorisation": "general"}


def test_explain_lists_the_deviations_of_a_negotiated_deal() -> None:
    result = run("explain", str(EXAMPLES / "deal-negotiated-nl.yaml"), "--json")
    deviations = {d["parameter"]: d for d in json.loads(result.stdout)["deviations"]}
    assert deviations["objection_window_days"]["standard"] == 7
    assert deviations["objection_window_days"]["agreed"] == 14
    assert "subprocessors.general-authorisation" in deviations["objection_window_days"]["clauses"]


def test_explain_table_says_why() -> None:
    result = run("explain", str(EXAMPLES / "deal-health-en.yaml"))
    assert result.returncode == 0
    assert "has_transfers" in result.stdout and "No deviations" in result.stdout


def test_schema_describes_the_deal_file() -> None:
    result = run("schema", "deal")
    schema = json.loads(result.stdout)
    assert {"provider", "customer", "language", "services", "processing", "deviations"} <= set(
        schema["properties"])
    assert schema["additionalProperties"] is False


def test_commands_that_load_no_library_do_not_build_the_condition_parser() -> None:
    # rule-engine builds its parser when imported (~0.4 s): only loading the library may pay it
    probe = ("import sys, dpa_engine.cli.app; print('rule_engine' in sys.modules); "
             "from dpa_engine.library import load_library; load_library(__import__('pathlib')"
             ".Path('clauses')); print('rule_engine' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.split() == ["False", "True"]
