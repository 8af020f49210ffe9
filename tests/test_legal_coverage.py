"""Legal correctness: every generated agreement covers art. 28(3)(a)-(h), 28(2), 28(4), 33(2),
and the standard terms appear as the law and the provider's terms require."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpa_engine import Engine, decide, load_deal
from dpa_engine.library.format import REQUIRED_REFERENCES
from tests.conftest import EXAMPLE_DEALS, EXAMPLES
from tests.docx_helpers import body_text, bookmarks, parts

CASES = [(deal, ref) for deal in EXAMPLE_DEALS for ref in REQUIRED_REFERENCES]


@pytest.mark.parametrize(("deal", "reference"), CASES,
                         ids=[f"{d.stem}-{r}" for d, r in CASES])
def test_each_required_reference_is_covered_by_an_included_clause_in_the_document(
        engine: Engine, generated: dict[str, Path], deal: Path, reference: str) -> None:
    decision = decide(load_deal(deal), engine.library)
    covering = [c for c in decision.included_ids
                if reference in engine.library.clauses[c].clause.satisfies]
    assert covering, f"{deal.name}: no included clause satisfies GDPR art. {reference}"
    # ... and that clause really is in the generated document (its bookmarked number).
    from dpa_engine.document import bookmark_for

    marks = bookmarks(parts(generated[deal.stem])["word/document.xml"])
    assert any(bookmark_for(c) in marks for c in covering)


def test_the_standard_deal_states_the_default_terms(generated: dict[str, Path]) -> None:
    text = body_text(generated["deal-standard-nl"])
    assert "7 dagen" in text or "zeven dagen" in text
    assert "€ 2.500,00" in text and "€ 1.000,00" in text
    assert "Belgisch recht" in text
    assert "Nederlandse" in text or "Nederlands" in text
    assert "Antwerpen" in text  # courts of the provider's registered office
    assert "Gegevensbeschermingsautoriteit" in text


def test_the_negotiated_deal_states_the_negotiated_terms(generated: dict[str, Path]) -> None:
    text = body_text(generated["deal-negotiated-nl"])
    assert "14 dagen" in text
    assert "Nederlands recht" in text
    # The authority follows the provider's profile (a Belgian provider), not the law chosen.
    assert "Gegevensbeschermingsautoriteit" in text
    assert "Autoriteit Persoonsgegevens" not in text
    assert "rechter te Utrecht" in text  # the Dutch party's seat
    assert "Belgisch recht" not in text


def test_sub_processor_objection_window_is_deemed_approval_by_silence(
        generated: dict[str, Path]) -> None:
    text = body_text(generated["deal-health-en"])
    assert "7 days" in text
    assert "objection" in text.lower() or "object" in text.lower()


def test_examples_cover_the_three_required_situations() -> None:
    names = {d.stem for d in EXAMPLE_DEALS}
    assert {"deal-standard-nl", "deal-health-en", "deal-negotiated-nl"} <= names
    assert (EXAMPLES / "provider.yaml").is_file()
