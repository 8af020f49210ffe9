"""The new input fields of issue 18: each refuses bad input with a message saying the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dpa_engine import locale
from dpa_engine.library.localnames import court_seat, legal_form, register_label
from dpa_engine.models import Party, RetentionRule, SubProcessor, vat_number
from tests.conftest import EXAMPLES, LIBRARY
from tests.legal.conftest import dpa


def _sub(**overrides: Any) -> SubProcessor:
    values: dict[str, Any] = {
        "id": "x", "name": "X", "legal_entity": "X BV", "country": "BE", "locations": ["BE"],
        "purpose": "hosting", "services": ["s"]}
    values.update(overrides)
    return SubProcessor.model_validate(values)


def test_serves_countries_is_only_for_group_entities() -> None:
    with pytest.raises(ValidationError, match="add 'group_entity: true'"):
        _sub(serves_countries=["NL"])
    assert _sub(group_entity=True, serves_countries=["NL"]).serves("NL")
    assert not _sub(group_entity=True, serves_countries=["NL"]).serves("BE")
    assert _sub(group_entity=True).serves("FR")  # no limit: every customer


def test_a_place_must_be_in_a_country_of_processing() -> None:
    with pytest.raises(ValidationError, match="add DE to 'locations'"):
        _sub(places=[{"country": "DE", "place": "Frankfurt am Main"}])


def test_a_retention_rule_needs_a_period_or_the_end_of_the_agreement() -> None:
    with pytest.raises(ValidationError, match="after_end: true"):
        RetentionRule.model_validate({"data": "logs"})
    with pytest.raises(ValidationError, match="exclude each other"):
        RetentionRule.model_validate({"data": "logs", "after_end": True, "after": "x",
                                      "period": {"count": 1, "unit": "years"}})


def test_dutch_vat_numbers_are_checked_with_their_check_digits() -> None:
    assert vat_number("NL812345678B01", "NL") == "NL812345678B01"
    with pytest.raises(ValueError, match="fails the Dutch BTW check digits"):
        vat_number("NL812345679B01", "NL")


def test_belgian_enterprise_numbers_are_checked_with_mod_97() -> None:
    office = {"street": "s", "postal_code": "1000", "city": "Brussel", "country": "BE"}
    with pytest.raises(ValidationError, match="mod 97"):
        Party.model_validate({"name": "A", "legal_form": "BV", "registered_office": office,
                              "enterprise_number": "0403.170.702"})


@pytest.mark.parametrize(("form", "country", "language", "expected"), [
    ("NV", "BE", "fr", "SA"), ("bv", "BE", "fr", "SRL"), ("SRL", "BE", "nl", "BV"),
    ("CommV", "BE", "fr", "SComm"), ("ASBL", "BE", "en", "VZW"), ("VZW", "BE", "fr", "ASBL"),
    ("B.V.", "NL", "fr", "B.V."), ("GmbH", "DE", "nl", "GmbH"),
])
def test_belgian_legal_forms_follow_the_language(form: str, country: str, language: str,
                                                 expected: str) -> None:
    assert legal_form(form, country, language) == expected  # type: ignore[arg-type]


def test_court_seats_and_register_labels_per_language() -> None:
    seat = court_seat("anvers")
    assert seat is not None and (seat.nl, seat.fr, seat.en) == ("Antwerpen", "Anvers", "Antwerp")
    assert court_seat("Louvain").nl == "Leuven"  # type: ignore[union-attr]
    assert court_seat("The Hague").country == "NL"  # type: ignore[union-attr]
    assert court_seat("Zaventem") is None
    assert register_label("NL", "nl") == "KvK-nummer"
    assert register_label("BE", "nl") == "ondernemingsnummer"


def test_periods_are_written_in_the_agreement_language() -> None:
    assert locale.duration(6, "months", "nl") == "6 maanden"
    assert locale.duration(6, "months", "fr").replace("\u00a0", " ") == "6 mois"
    assert locale.duration(1, "years", "en") == "1 year"


def test_explain_warns_when_the_provider_has_no_signatory(tmp_path: Path) -> None:
    profile = (EXAMPLES / "provider.yaml").read_text(encoding="utf-8")
    start = profile.index("signatory:\n")
    end = profile.index("\n", profile.index("  title:", start)) + 1
    (tmp_path / "provider.yaml").write_text(profile[:start] + profile[end:], encoding="utf-8")
    deal = (EXAMPLES / "deal-standard-nl.yaml").read_text(encoding="utf-8")
    (tmp_path / "deal.yaml").write_text(deal, encoding="utf-8")
    run = dpa("explain", tmp_path / "deal.yaml", "--library", LIBRARY)
    assert run.returncode == 0, run.stderr
    assert "warning" in run.stdout and "no signatory for Voxalis" in run.stdout
    data = json.loads(dpa("explain", tmp_path / "deal.yaml", "--json", "--library",
                          LIBRARY).stdout)
    assert any("authorised representative(s)" in w for w in data["warnings"])
    run = dpa("generate", tmp_path / "deal.yaml", "-o", tmp_path / "out.docx", "--library",
              LIBRARY)
    assert run.returncode == 0 and "no signatory for Voxalis" in run.stdout, run.stderr
