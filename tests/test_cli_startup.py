"""`dpa` starts fast because each command imports only what it uses (no timing here: which
modules a command loads; the figures are in benchmarks/bench_cli.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from dpa_engine import __version__
from dpa_engine.cli.app import COMMANDS, LazyGroup, app
from dpa_engine.library.ruleparser import TABLES, table_data
from tests.conftest import EXAMPLES

DPA = str(Path(sys.executable).parent / "dpa")
HEAVY_FOR_AGREEMENTS = ("sqlalchemy", "alembic", "psycopg", "holidays", "dpa_engine.notices",
                        "dpa_engine.storage", "dpa_engine.cli.change", "dpa_engine.cli.send",
                        "dpa_engine.cli.customers",
                        "dpa_engine.cli.audit", "dpa_engine.cli.legal")
HEAVY_FOR_HELP = (*HEAVY_FOR_AGREEMENTS, "rule_engine", "docxtpl", "docx", "lxml", "jinja2",
                  "ruamel", "babel", "pydantic", "dpa_engine.agreements", "dpa_engine.library",
                  "dpa_engine.cli.agreements")


def modules_loaded_by(*args: str, cwd: Path) -> set[str]:
    """The modules a `dpa ARGS` process has imported when it exits."""
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: open('modules.json', 'w').write(json.dumps(sorted("
             "sys.modules))))\n"
             f"sys.argv = ['dpa', *{list(args)!r}]\n"
             "from dpa_engine.cli import main\n"
             "main()\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    return set(json.loads((cwd / "modules.json").read_text()))


def loaded_among(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


def test_help_imports_no_command_module_and_no_heavy_library(tmp_path: Path) -> None:
    assert loaded_among(modules_loaded_by("--help", cwd=tmp_path), HEAVY_FOR_HELP) == []


def test_generate_imports_neither_the_database_nor_the_notice_workflow(tmp_path: Path) -> None:
    modules = modules_loaded_by("generate", str(EXAMPLES / "deal-standard-nl.yaml"), "-o",
                                str(tmp_path / "a.docx"), cwd=tmp_path)
    assert (tmp_path / "a.docx").is_file()
    assert "rule_engine" in modules  # the probe sees what a real run loads
    assert loaded_among(modules, HEAVY_FOR_AGREEMENTS) == []


def test_explain_imports_no_database_either(tmp_path: Path) -> None:
    modules = modules_loaded_by("explain", str(EXAMPLES / "deal-health-en.yaml"), "--json",
                                cwd=tmp_path)
    assert loaded_among(modules, HEAVY_FOR_AGREEMENTS) == []


def test_the_stored_parser_tables_are_those_of_the_installed_rule_engine() -> None:
    # otherwise PLY quietly builds them at every start: run python -m dpa_engine.library.ruleparser
    stored = json.loads(TABLES.read_text())
    assert stored == json.loads(json.dumps(table_data(), sort_keys=True))


def test_a_library_loaded_with_the_stored_tables_decides_as_before(tmp_path: Path) -> None:
    result = subprocess.run([DPA, "explain", str(EXAMPLES / "deal-negotiated-nl.yaml"), "--json"],
                            capture_output=True, text=True, cwd=tmp_path)
    clauses = {c["id"]: c["included"] for c in json.loads(result.stdout)["clauses"]}
    assert clauses["subprocessors.general-authorisation"] is True
    assert clauses["subprocessors.specific-authorisation"] is False


def test_version() -> None:
    result = subprocess.run([DPA, "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == f"dpa {__version__}\n"


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda e: e.name)
def test_the_listed_help_is_the_commands_own(entry: object) -> None:
    group = typer.main.get_group(app)
    assert isinstance(group, LazyGroup)
    command = group.get_command(typer.Context(group), entry.name)  # type: ignore[attr-defined]
    assert command is not None
    own = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
    assert own == entry.help  # type: ignore[attr-defined]


def every_command_path() -> list[list[str]]:
    group = typer.main.get_group(app)
    paths: list[list[str]] = [[]]
    for entry in COMMANDS:
        command = group.get_command(typer.Context(group), entry.name)
        paths.append([entry.name])
        for sub in getattr(command, "commands", {}):
            paths.append([entry.name, sub])
    return paths


def test_help_shows_no_internal_type_names() -> None:
    runner = CliRunner()
    paths = every_command_path()
    assert ["change", "send"] in paths and ["init"] in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.output
        for internal in ("<bool>", "<list[", "<str>", "<int>", "<path>", "<float>"):
            assert internal not in result.output, (path, result.output)


def test_every_public_name_resolves_lazily() -> None:
    probe = ("import sys, dpa_engine as d\n"
             "assert 'dpa_engine.agreements' not in sys.modules\n"
             "assert set(d.__all__) - {'__version__'} == set(d._MODULES)\n"
             "print(sorted(type(getattr(d, n)).__name__ for n in d.__all__)[:1])\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_startup_benchmark_reports_in_its_documented_form() -> None:
    bench = Path(__file__).resolve().parent.parent / "benchmarks"
    result = subprocess.run([sys.executable, "bench_cli.py", "--runs", "1"], cwd=bench,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"cli: --help [\d.]+ s, generate [\d.]+ s",
                        result.stdout.strip().splitlines()[-1])
