"""Assembly: the included clauses -> an ordered, numbered document model with cross-references.

The engine numbers articles and sub-clauses; clause texts refer to each other by id and get
the number here. The model is plain data: the renderer turns it into WordprocessingML.
The steps: number the clauses, render the articles (`clauseblocks`, with the values of
`textcontext`), add the signature block and annexes (`annexes`), describe the document.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from .. import locale
from ..document import (
    Block,
    DocumentModel,
    DocumentProperties,
    NumberedClause,
    Paragraph,
    Style,
    TextRun,
    bookmark_for,
)
from ..library import Library
from ..models import Language
from .annexes import annexes, signature_table
from .clauseblocks import Lettering, clause_blocks
from .deals import LoadedDeal
from .rules import Decision, Deviation
from .textcontext import Localizer, labeller, text_context

# Unnumbered articles at or after this order (the signature part) go after the articles.
_SIGNATURE_ORDER = 200


def assemble(
    loaded: LoadedDeal,
    library: Library,
    decision: Decision,
    *,
    generated_at: datetime.datetime,
    approved_deviations: frozenset[str] = frozenset(),
) -> DocumentModel:
    language = decision.language
    label = labeller(library, language)
    localize = Localizer(language)
    included = set(decision.included_ids)
    numbers, article_numbers = _number_clauses(library, included)
    blocks: list[Block] = [
        Paragraph(style=Style.TITLE, runs=[TextRun(text=label("document_title"))]),
        Paragraph(style=Style.SUBTITLE, runs=[TextRun(text=_subtitle(loaded, label, language,
                                                                     generated_at))]),
    ]
    body, closing = _article_blocks(library, included, numbers, article_numbers, label,
                                    language, text_context(loaded, library, decision, localize))
    blocks.extend(body)
    blocks.extend(_keeping_with_next(closing))
    blocks.append(signature_table(loaded, library, label, localize))
    blocks.extend(annexes(loaded, decision, label, localize))

    unapproved = [d for d in decision.deviations if d.parameter not in approved_deviations]
    properties = _properties(loaded, library, decision, label("document_title"), unapproved,
                             generated_at)
    return DocumentModel(
        language=language,
        header_title=properties.title,
        draft=bool(unapproved),
        draft_marker=label("draft_marker"),
        page_label=label("page"),
        page_of_label=label("page_of"),
        properties=properties,
        clauses=[
            NumberedClause(id=i, version=library.clauses[i].clause.version, number=numbers[i],
                           bookmark=bookmark_for(i))
            for i in numbers
        ],
        blocks=blocks,
    )


def _number_clauses(library: Library, included: set[str]
                    ) -> tuple[dict[str, str | None], dict[str, int]]:
    """Each included clause's number ("3.2", None in an unnumbered article), and each numbered
    article's number by family."""
    numbers: dict[str, str | None] = {}
    article_numbers: dict[str, int] = {}
    next_article = 0
    for article in library.articles:
        present = [c for c in article.clauses if c.id in included]
        if not present:
            continue
        if article.header.numbered:
            next_article += 1
            article_numbers[article.family] = next_article
        for index, item in enumerate(present, start=1):
            numbers[item.id] = f"{next_article}.{index}" if article.header.numbered else None
    return numbers, article_numbers


def _article_blocks(library: Library, included: set[str], numbers: dict[str, str | None],
                    article_numbers: dict[str, int], label: Any, language: Language,
                    context: dict[str, Any]) -> tuple[list[Block], list[Block]]:
    """Every clause text rendered in the sandbox and turned into paragraphs: the articles, and
    the closing words of the signature part."""
    body: list[Block] = []
    closing: list[Block] = []
    first_numbered = min((a.header.order for a in library.articles if a.header.numbered),
                         default=_SIGNATURE_ORDER)
    for article in library.articles:
        present = [c for c in article.clauses if c.id in included]
        if not present:
            continue
        target = closing if article.header.order >= _SIGNATURE_ORDER else body
        # List items are lettered so that they can be cited: recitals (A), (B) before the
        # first article, items of a clause (a), (b); elsewhere they stay bullets.
        lettering: Lettering = "lower" if article.header.numbered else (
            "upper" if article.header.order < first_numbered else None)
        if article.header.numbered:
            heading = f"{label('article')} {article_numbers[article.family]} – " \
                      f"{article.header.title[language]}"
            target.append(Paragraph(style=Style.HEADING_1, runs=[TextRun(text=heading)],
                                    keep_with_next=True))
        for item in present:
            target.extend(clause_blocks(item, numbers, context, language, lettering))
    return body, closing


def _properties(loaded: LoadedDeal, library: Library, decision: Decision, document_title: str,
                unapproved: list[Deviation], generated_at: datetime.datetime) -> DocumentProperties:
    """The document's properties: title, status and what it was generated from."""
    deal, provider, language = loaded.deal, loaded.provider, decision.language
    customer_name = deal.customer.name
    return DocumentProperties(
        title=f"{document_title} – {customer_name}",
        subject=f"{customer_name} / {provider.name}",
        creator=provider.name,
        keywords="GDPR art. 28; DPA",
        version=str(deal.version),
        generated_at=generated_at,
        language=language,
        custom={
            "dpa.status": "DRAFT" if unapproved else "FINAL",
            "dpa.customer": customer_name,
            "dpa.provider": provider.name,
            "dpa.reference": deal.reference or "",
            "dpa.version": str(deal.version),
            "dpa.language": language,
            "dpa.generated_at": generated_at.isoformat(),
            "dpa.library_hash": library.content_hash,
            "dpa.deviations": json.dumps(
                [d.model_dump(mode="json") for d in decision.deviations], ensure_ascii=False),
            "dpa.unapproved_deviations": ", ".join(d.parameter for d in unapproved),
        },
    )


def _subtitle(loaded: LoadedDeal, label: Any, language: Language,
              generated_at: datetime.datetime) -> str:
    deal = loaded.deal
    day = deal.agreement_date or generated_at.date()
    parts = [f"{label('reference')} {deal.reference}"] if deal.reference else []
    parts.append(f"{label('version')} {deal.version}")
    parts.append(locale.long_date(day, language))
    return " – ".join(parts)


def _keeping_with_next(blocks: list[Block]) -> list[Block]:
    """The closing words stay on the page of the signatures that follow them."""
    return [b.model_copy(update={"keep_with_next": True}) if isinstance(b, Paragraph) else b
            for b in blocks]
