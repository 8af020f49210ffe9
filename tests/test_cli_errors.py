"""Bad deal input: exit code 2, one line on stderr with file:line, field and a fix; no file written.

Runs the real `dpa` console script in a subprocess, once per fixture in tests/fixtures/bad/.
Each fixture is a one-change variant of tests/fixtures/bad/base-valid.yaml (or refers to a
one-change variant of examples/provider.yaml), so it fails for exactly the reason in its name.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import LIBRARY, TEMPLATE

DPA = Path(sys.executable).parent / "dpa"
BAD = Path(__file__).resolve().parent / "fixtures" / "bad"


@dataclass(frozen=True)
class Case:
    fixture: str  # deal file in tests/fixtures/bad/
    line: int | None  # expected line in `where` (None: the file has no meaningful line)
    fragments: tuple[str, ...]  # must all appear in the message
    field: str | None = None  # the field the message must name
    where: str | None = None  # file the message must point at, when not the deal (provider)
    library_patch: tuple[str, str, str] | None = None  # (file, old, new) applied to a library copy


CASES = [
    Case("unknown-field.yaml", 15, ("unknown field 'refrence'", "did you mean 'reference'"),
         field="refrence"),
    Case("unknown-nested-field.yaml", 11, ("unknown field 'province'", "street"),
         field="customer.registered_office.province"),
    Case("wrong-type-scalar.yaml", 14, ("integer",), field="version"),
    Case("wrong-type-list.yaml", 15, ("list",), field="services"),
    Case("wrong-type-mapping.yaml", 12, ("mapping",), field="customer.signatory"),
    Case("bad-kbo-check-digits.yaml", 6, ("'0403.170.702'", "check digits"),
         field="customer.enterprise_number"),
    Case("unknown-service.yaml", 15, ("unknown service 'customer-servise'",
                                      "did you mean 'customer-service'"), field="services.0"),
    Case("subprocessor-unknown-service.yaml", 59, ("mailrelay", "unknown service 'call-recording'"),
         field="subprocessors.1.services",
         where="provider-unknown-subprocessor-service.yaml"),
    Case("invalid-provider-profile.yaml", 84, ("unknown field 'engagment'",
                                               "did you mean 'engagement'"),
         field="subprocessors.3.engagment", where="provider-unknown-field.yaml"),
    Case("unreadable-yaml.yaml", 15, ("']'",)),  # the '[' opened on line 15 is never closed
    Case("unclosed-quote.yaml", 9, ("quot",)),  # the '"' opened on line 9 is never closed
    Case("duplicate-key.yaml", 15, ('duplicate key "language"',)),
    Case("missing-required-field.yaml", 7, ("required field 'city' is missing", "add 'city:'"),
         field="customer.registered_office.city"),
    Case("missing-top-level-field.yaml", 2, ("required field 'language' is missing",),
         field="language"),
    Case("missing-provider-file.yaml", 2, ("no-such-provider.yaml", "not found"), field="provider"),
    Case("special-categories-no-measures.yaml", 86, ("art. 9/10", "for_sensitive_data: true"),
         field="measures", where="provider-no-sensitive-measures.yaml"),
    Case("transfer-mechanism-missing.yaml", 60, ("transcribe-us", "outside the EEA", "scc"),
         field="transfer", where="provider-no-transfer-mechanism.yaml"),
    Case("objection-window-zero.yaml", 25, ("1",), field="deviations.objection_window_days"),
    Case("non-negotiable-deviation.yaml", 25, ("'liability_cap_total' is not negotiable",),
         field="deviations.liability_cap_total",
         library_patch=("liability.yaml", "liability_cap_total: {default: 2500, negotiable: true}",
                        "liability_cap_total: {default: 2500, negotiable: false}")),
    Case("bad-email.yaml", 14, ("e-mail",), field="customer.notice_emails.0"),
    Case("bad-email-signatory.yaml", 14, ("e-mail",), field="customer.signatory.email"),
    Case("dutch-vat-format.yaml", 7, ("'NL81234567B01'", "Dutch VAT number", "NLxxxxxxxxxB01"),
         field="customer.vat_number"),
    Case("wrong-language.yaml", 14, ("'nl', 'fr' or 'en'",), field="language"),
    Case("processing-not-bought.yaml", 24, ("'appointment-desk'", "does not buy"),
         field="processing.1.service"),
    Case("bought-without-processing.yaml", 17, ("no processing described for service "
                                                "'appointment-desk'",), field="services.1"),
    Case("tab-indentation.yaml", 10, ("tab",)),  # a tab is invisible: the message must say so
    Case("bad-indentation.yaml", 5, ("indentation",)),
    Case("empty.yaml", 1, ("mapping",)),
    Case("list-not-mapping.yaml", 1, ("mapping",)),
    Case("not-utf8.yaml", 4, ("UTF-8",)),
    Case("invalid-date.yaml", 14, ("date",), field="agreement_date"),
    Case("markup-in-key.yaml", 15, ("unknown field '[/b]'",), field="[/b]"),
    # Text no document can hold (issue 17, point 2): refused where it enters, naming the field.
    Case("control-char-in-list.yaml", 20, ("U+0007",), field="processing.0.data_subjects.0"),
    Case("escape-char-raw.yaml", 4, ("U+001B",), field="customer.name"),
    Case("non-character.yaml", 4, ("U+FFFF",), field="customer.name"),
    Case("nul-byte.yaml", 10, ("U+0000",), field="customer.registered_office.city"),
    Case("control-char-in-provider.yaml", 45, ("U+0007",), field="subprocessors.0.name",
         where="provider-control-char.yaml"),
    # Resource limits (point 5): no anchors or aliases, no nesting Python cannot walk.
    Case("yaml-alias.yaml", 20, ("anchor 'subjects'",)),
    Case("alias-bomb.yaml", 2, ("anchor 'a'",)),
    Case("alias-in-provider.yaml", 48, ("anchor 'eu'",), where="provider-alias.yaml"),
    Case("deep-nesting.yaml", None, ("nested too deeply",)),
    # Numbers no database can hold (point 8), and a misspelt key named first (issue 21).
    Case("version-too-big.yaml", 15, ("at most 1000000",), field="version"),
    Case("misspelt-required-key.yaml", 22, ("unknown field 'retentoin'", "did you mean 'retention'"),
         field="processing.0.retentoin"),
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DPA_DEBUG", "DPA_LIBRARY", "DPA_TEMPLATE", "FORCE_COLOR"}}
    env.update(NO_COLOR="1", COLUMNS="60", TERM="dumb")  # a narrow console must not wrap
    return env


def run_dpa(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DPA), *map(str, args)], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=120, check=False)


def _library_for(case: Case, tmp_path: Path) -> Path:
    if case.library_patch is None:
        return LIBRARY
    name, old, new = case.library_patch
    copy = tmp_path / "library"
    shutil.copytree(LIBRARY, copy)
    text = (copy / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"library patch no longer applies to {name}: {old!r}"
    (copy / name).write_text(text.replace(old, new), encoding="utf-8")
    return copy


def _assert_user_error(result: subprocess.CompletedProcess[str], case: Case) -> str:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert result.returncode == 2, f"exit code {result.returncode}: {output}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    message = lines[0]
    where = f"{case.where or case.fixture}:{case.line}:" if case.line else (case.where or case.fixture)
    assert where in message, f"expected {where!r} in: {message}"
    body = message.split(where, 1)[1]  # fragments must not match the file name
    if case.field is not None:
        assert case.field in body, f"expected field {case.field!r} in: {message}"
    assert " — fix: " in body, f"no fix in: {message}"
    for fragment in case.fragments:
        assert fragment in body, f"expected {fragment!r} in: {message}"
    return message


def test_every_fixture_is_in_the_table() -> None:
    deals = {p.name for p in BAD.glob("*.yaml") if not p.name.startswith("provider-")}
    assert deals - {"base-valid.yaml"} == {case.fixture for case in CASES}


def test_base_fixture_is_valid(tmp_path: Path) -> None:
    """The control: the deal every fixture varies generates, and leaves no temporary file."""
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run_dpa("generate", BAD / "base-valid.yaml", "-o", outdir / "out.docx",
                     "--library", LIBRARY, "--template", TEMPLATE, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    files = os.listdir(outdir)
    assert "out.docx" in files
    assert [f for f in files if f.startswith(".") or f.endswith(".tmp")] == [], files


@pytest.mark.parametrize("case", CASES, ids=[c.fixture.removesuffix(".yaml") for c in CASES])
def test_bad_deal_generate(case: Case, tmp_path: Path) -> None:
    library = _library_for(case, tmp_path)
    outdir = tmp_path / "out"
    outdir.mkdir()
    result = run_dpa("generate", BAD / case.fixture, "-o", outdir / "out.docx",
                     "--library", library, "--template", TEMPLATE, cwd=tmp_path)
    _assert_user_error(result, case)
    assert os.listdir(outdir) == [], "an output (or temporary) file was written"


@pytest.mark.parametrize("case", CASES, ids=[c.fixture.removesuffix(".yaml") for c in CASES])
def test_bad_deal_explain(case: Case, tmp_path: Path) -> None:
    library = _library_for(case, tmp_path)
    result = run_dpa("explain", BAD / case.fixture, "--library", library, cwd=tmp_path)
    _assert_user_error(result, case)
    assert result.stdout == ""


def test_output_must_be_docx(tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    target = outdir / "agreement.pdf"
    result = run_dpa("generate", BAD / "base-valid.yaml", "-o", target, "--library", LIBRARY,
                     cwd=tmp_path)
    _assert_user_error(result, Case(str(target), None, (".docx",)))
    assert os.listdir(outdir) == []


@pytest.mark.parametrize("command", ["generate", "explain"])
def test_deal_file_does_not_exist(command: str, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    missing = tmp_path / "no-such-deal.yaml"
    extra = ["-o", outdir / "out.docx"] if command == "generate" else []
    result = run_dpa(command, missing, *extra, "--library", LIBRARY, cwd=tmp_path)
    _assert_user_error(result, Case(str(missing), None, ("not found",)))
    assert os.listdir(outdir) == []


@pytest.mark.parametrize("command", ["generate", "explain"])
def test_deal_path_is_a_folder(command: str, tmp_path: Path) -> None:
    outdir = tmp_path / "out"
    outdir.mkdir()
    extra = ["-o", outdir / "out.docx"] if command == "generate" else []
    result = run_dpa(command, BAD, *extra, "--library", LIBRARY, cwd=tmp_path)
    _assert_user_error(result, Case(str(BAD), None, ()))
    assert os.listdir(outdir) == []
