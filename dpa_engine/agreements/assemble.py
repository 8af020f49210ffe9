"""Assembly: the included clauses -> an ordered, numbered document model with cross-references.

The engine numbers articles and sub-clauses; clause texts refer to each other by id and get
the number here. The model is plain data: the renderer turns it into WordprocessingML.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

from jinja2 import TemplateError

from .. import locale
from ..document import (
    Block,
    DocumentModel,
    DocumentProperties,
    NumberedClause,
    Paragraph,
    RefRun,
    Run,
    SignatureBlock,
    SignatureField,
    SignatureParty,
    Style,
    Table,
    TextRun,
    bookmark_for,
    letter,
)
from ..errors import InputError, LibraryError
from ..library import Library, LoadedClause
from ..library.facts import used_subprocessors
from ..library.localnames import court_seat, legal_form, register_label
from ..library.textenv import REF_PATTERN, ref_marker
from ..models import (
    Language,
    LocalizedText,
    Party,
    Period,
    Person,
    ProviderProfile,
    RetentionRule,
    SubProcessor,
    TransferMechanism,
    text_in,
)
from ..yamlsource import YamlDocument
from .deals import LoadedDeal
from .rules import Decision


class _Localizer:
    """Provider/deal texts in the agreement's language; a missing language is an error."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def __call__(self, value: LocalizedText, doc: YamlDocument, loc: tuple[str | int, ...]) -> str:
        text = text_in(value, self.language)
        if text is None:
            raise InputError(
                f"no '{self.language}' text", path=doc.path, line=doc.line_of(loc),
                field=".".join(map(str, loc)),
                fix=f"add a '{self.language}:' entry (the agreement is in {self.language})")
        return text


def assemble(
    loaded: LoadedDeal,
    library: Library,
    decision: Decision,
    *,
    generated_at: datetime.datetime,
    approved_deviations: frozenset[str] = frozenset(),
) -> DocumentModel:
    language = decision.language
    label = _labels(library, language)
    localize = _Localizer(language)
    deal, provider = loaded.deal, loaded.provider

    # 1. Number the included clauses, article by article.
    included = set(decision.included_ids)
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

    # 2. Render each clause text in the sandbox, then turn it into paragraphs.
    context = _text_context(loaded, library, decision, localize)
    blocks: list[Block] = [
        Paragraph(style=Style.TITLE, runs=[TextRun(text=label("document_title"))]),
        Paragraph(style=Style.SUBTITLE, runs=[TextRun(text=_subtitle(loaded, label, language,
                                                                     generated_at))]),
    ]
    signature_blocks: list[Block] = []
    first_numbered = min((a.header.order for a in library.articles if a.header.numbered),
                         default=_SIGNATURE_ORDER)
    for article in library.articles:
        present = [c for c in article.clauses if c.id in included]
        if not present:
            continue
        target = signature_blocks if article.header.order >= _SIGNATURE_ORDER else blocks
        # List items are lettered so that they can be cited: recitals (A), (B) before the
        # first article, items of a clause (a), (b); elsewhere they stay bullets.
        lettering: _Lettering = "lower" if article.header.numbered else (
            "upper" if article.header.order < first_numbered else None)
        if article.header.numbered:
            heading = f"{label('article')} {article_numbers[article.family]} – " \
                      f"{article.header.title[language]}"
            target.append(Paragraph(style=Style.HEADING_1, runs=[TextRun(text=heading)],
                                    keep_with_next=True))
        for item in present:
            target.extend(_clause_blocks(item, numbers, context, language, lettering))
    blocks.extend(_keeping_with_next(signature_blocks))
    blocks.append(_signature_table(loaded, library, label, localize))
    blocks.extend(_annexes(loaded, decision, label, localize))

    unapproved = [d for d in decision.deviations if d.parameter not in approved_deviations]
    customer_name = deal.customer.name
    title = f"{label('document_title')} – {customer_name}"
    properties = DocumentProperties(
        title=title,
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
    return DocumentModel(
        language=language,
        header_title=title,
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


# Unnumbered articles at or after this order (the signature part) go after the articles.
_SIGNATURE_ORDER = 200
_Lettering = Literal["lower", "upper"] | None


# French typography puts a narrow no-break space before a colon; label texts are stripped
# when loaded, so the colon is the engine's.
_COLON: dict[Language, str] = {"nl": ":", "fr": "\u202f:", "en": ":"}


def _labels(library: Library, language: Language) -> Any:
    def label(key: str) -> str:
        return _COLON[language] if key == "colon" else library.label(key, language)

    return label


def _subtitle(loaded: LoadedDeal, label: Any, language: Language,
              generated_at: datetime.datetime) -> str:
    deal = loaded.deal
    day = deal.agreement_date or generated_at.date()
    parts = [f"{label('reference')} {deal.reference}"] if deal.reference else []
    parts.append(f"{label('version')} {deal.version}")
    parts.append(locale.long_date(day, language))
    return " – ".join(parts)


def _party_context(party: Party, signatory: Person | None, language: Language,
                   not_applicable: str) -> dict[str, str]:
    """A party for clause texts. A missing signatory gives empty strings, never 'n/a': the
    texts then name the party's authorised representative(s)."""
    contact = party.privacy_contact
    country = party.registered_office.country
    return {
        "name": party.name,
        "legal_form": legal_form(party.legal_form, country, language),
        "register_label": register_label(country, language),
        "enterprise_number": party.enterprise_number,
        "vat_number": party.vat_number or not_applicable,
        "address": f"{party.registered_office.one_line()}, "
                   f"{locale.country_name(party.registered_office.country, language)}",
        "city": party.registered_office.city,
        "country": locale.country_name(party.registered_office.country, language),
        "signatory_name": signatory.name if signatory else "",
        "signatory_title": str(signatory.title) if signatory else "",
        "contact": (f"{contact.name}" + (f" ({contact.email})" if contact.email else ""))
        if contact else "",
    }


def _signatories(loaded: LoadedDeal, localize: _Localizer) -> tuple[Person, Person | None]:
    """The customer's and the provider's signatory, their titles in the agreement's language."""
    def titled(person: Person | None, doc: YamlDocument, loc: tuple[str | int, ...]
               ) -> Person | None:
        if person is None or isinstance(person.title, str):
            return person
        return person.model_copy(update={"title": localize(person.title, doc, (*loc, "title"))})

    deal = loaded.deal
    customer = titled(deal.customer.signatory, loaded.deal_doc, ("customer", "signatory"))
    assert customer is not None
    provider = (titled(deal.provider_signatory, loaded.deal_doc, ("provider_signatory",))
                if deal.provider_signatory else
                titled(loaded.provider.signatory, loaded.provider_doc, ("signatory",)))
    return customer, provider


def _service_names(loaded: LoadedDeal, localize: _Localizer) -> list[str]:
    provider = loaded.provider
    index = {s.id: i for i, s in enumerate(provider.services)}
    return [
        localize(provider.services[index[s]].name, loaded.provider_doc,
                 ("services", index[s], "name"))
        for s in loaded.deal.services
    ]


def _text_context(loaded: LoadedDeal, library: Library, decision: Decision,
                  localize: _Localizer) -> dict[str, Any]:
    language = decision.language
    na = library.label("not_applicable", language)
    terms: dict[str, Any] = decision.terms.model_dump()
    customer_signatory, provider_signatory = _signatories(loaded, localize)
    return {
        **terms,
        "language": language,
        "customer": _party_context(loaded.deal.customer, customer_signatory, language, na),
        "provider": _party_context(loaded.provider, provider_signatory, language, na),
        "authority": library.label(f"authority_{decision.authority}", language),
        "courts_city": _court_name(decision.courts_city, language),
        "backup_retention": _period(loaded.provider.backup_retention, language),
        "services_list": ", ".join(_service_names(loaded, localize)),
        "prevailing_language_name": locale.language_name(decision.terms.prevailing_language,
                                                         language),
        "ref": ref_marker,
    }


def _court_name(seat_name: str, language: Language) -> str:
    seat = court_seat(seat_name)
    return seat.name(language) if seat else seat_name


def _period(period: Period | None, language: Language) -> str:
    return locale.duration(period.count, period.unit, language) if period else ""


def _clause_blocks(item: LoadedClause, numbers: dict[str, str | None], context: dict[str, Any],
                   language: Language, lettering: _Lettering = None) -> list[Block]:
    try:
        text = item.templates[language].render(context)
    except TemplateError as exc:
        raise LibraryError(f"clause text cannot be rendered: {exc}", path=item.path,
                           line=item.line, field=f"{item.id}.text.{language}",
                           fix="correct the placeholder in the clause text") from None
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    number = numbers[item.id]
    blocks: list[Block] = []
    for index, paragraph in enumerate(paragraphs):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        prose: list[str] = []
        bullets: list[str] = []
        for line in lines:
            if line.startswith("- "):
                bullets.append(line[2:].strip())
            elif bullets:
                bullets[-1] += " " + line
            else:
                prose.append(line)
        if prose:
            first = index == 0 and not blocks
            style = (Style.CLAUSE if number else Style.BODY) if first else (
                Style.CLAUSE_CONTINUATION if number else Style.BODY)
            runs = _runs(" ".join(prose), item, numbers)
            blocks.append(Paragraph(
                style=style, runs=runs,
                number=number if first else None,
                bookmark=bookmark_for(item.id) if first else None,
                title=item.clause.title[language] if first and number else None,
            ))
        for position, bullet in enumerate(bullets, start=1):
            if lettering is None:
                blocks.append(Paragraph(style=Style.CLAUSE_BULLET if number else Style.BULLET,
                                        runs=_runs(bullet, item, numbers)))
            else:
                blocks.append(Paragraph(
                    style=Style.CLAUSE_LIST if lettering == "lower" else Style.RECITAL,
                    number=letter(position, upper=lettering == "upper"),
                    runs=_runs(bullet, item, numbers)))
    return blocks


def _runs(text: str, item: LoadedClause, numbers: dict[str, str | None]) -> list[Run]:
    runs: list[Run] = []
    position = 0
    for match in REF_PATTERN.finditer(text):
        if match.start() > position:
            runs.append(TextRun(text=text[position:match.start()]))
        target = match.group(1)
        number = numbers.get(target)
        if number is None:
            raise LibraryError(
                f"clause '{item.id}' refers to '{target}', which is "
                + ("not numbered" if target in numbers else "not included for this deal"),
                path=item.path, line=item.line, field=f"{item.id}.text",
                fix="refer only to numbered clauses that apply whenever this clause applies")
        runs.append(RefRun(target=target, bookmark=bookmark_for(target), number=number))
        position = match.end()
    if position < len(text):
        runs.append(TextRun(text=text[position:]))
    return runs


# --- signature and annexes -----------------------------------------------------------------

def _heading(text: str, level: int = 1, *, new_page: bool = False) -> Paragraph:
    return Paragraph(style=Style.HEADING_1 if level == 1 else Style.HEADING_2,
                     runs=[TextRun(text=text)], keep_with_next=True, page_break_before=new_page)


def _keeping_with_next(blocks: list[Block]) -> list[Block]:
    """The closing words stay on the page of the signatures that follow them."""
    return [b.model_copy(update={"keep_with_next": True}) if isinstance(b, Paragraph) else b
            for b in blocks]


def _signature_table(loaded: LoadedDeal, library: Library, label: Any,
                     localize: _Localizer) -> SignatureBlock:
    customer, provider = loaded.deal.customer, loaded.provider
    customer_signatory, provider_signatory = _signatories(loaded, localize)
    colon = label("colon")
    # `signature_place` is newer than some library snapshots kept in manifests.
    place = ([SignatureField(label=label("signature_place") + colon)]
             if "signature_place" in library.labels else [])

    def party(name: str, person: Person | None) -> SignatureParty:
        return SignatureParty(
            heading=f"{label('signature_for')} {name}",
            above=[*place, SignatureField(label=label("signature_date") + colon)],
            sign_label=label("signature_sign") + colon,
            below=[SignatureField(label=label("signature_name") + colon,
                                  value=person.name if person else ""),
                   SignatureField(label=label("signature_title") + colon,
                                  value=str(person.title or "") if person else "")],
        )

    return SignatureBlock(parties=[party(customer.name, customer_signatory),
                                   party(provider.name, provider_signatory)])


def _annex_heading(label: Any, number: str, key: str) -> Paragraph:
    return _heading(f"{label('annex')} {number} – {label(key)}", new_page=True)


def _annexes(loaded: LoadedDeal, decision: Decision, label: Any,
             localize: _Localizer) -> list[Block]:
    blocks: list[Block] = [_annex_heading(label, "I", "annex_1_title")]
    blocks.extend(_annex_parties(loaded, decision.language, label, localize))
    blocks.append(_annex_heading(label, "II", "annex_2_title"))
    blocks.extend(_annex_processing(loaded, decision.language, label, localize))
    blocks.append(_annex_heading(label, "III", "annex_3_title"))
    sensitive = bool(decision.facts["has_special_categories"] or decision.facts["has_criminal_data"])
    blocks.extend(_annex_measures(loaded, sensitive, label, localize))
    blocks.append(_annex_heading(label, "IV", "annex_4_title"))
    blocks.extend(_annex_subprocessors(loaded, decision.language, label, localize))
    return blocks


def _annex_parties(loaded: LoadedDeal, language: Language, label: Any,
                   localize: _Localizer) -> list[Block]:
    deal, provider = loaded.deal, loaded.provider
    customer_signatory, provider_signatory = _signatories(loaded, localize)

    def party_rows(party: Party, signatory: Person | None) -> list[list[str]]:
        ctx = _party_context(party, signatory, language, label("not_applicable"))
        register = ctx["register_label"]
        signer = (ctx["signatory_name"] + (f", {ctx['signatory_title']}"
                                           if ctx["signatory_title"] else "")
                  ) if signatory else label("authorised_representative")
        return [[ctx["name"]], [ctx["legal_form"]],
                [f"{register[:1].upper()}{register[1:]} {ctx['enterprise_number']}"],
                [ctx["vat_number"]], [ctx["address"]], [ctx["contact"]], [signer]]

    keys = ["party_name", "party_legal_form", "party_enterprise_number", "party_vat_number",
            "party_registered_office", "party_privacy_contact", "party_signatory"]
    customer_rows = party_rows(deal.customer, customer_signatory)
    provider_rows = party_rows(provider, provider_signatory)
    rows = [[[label(k)], c, p] for k, c, p in zip(keys, customer_rows, provider_rows, strict=True)]
    if provider.dpo is not None:
        rows.append([[label("party_dpo")], [""],
                     _dpo_lines(provider, language, label)])
    return [Table(header=["", label("role_controller"), label("role_processor")], rows=rows,
                  widths=[24, 38, 38], label_column=True)]


def _dpo_lines(provider: ProviderProfile, language: Language, label: Any) -> list[str]:
    dpo = provider.dpo
    assert dpo is not None
    lines = [dpo.name + (f" ({label('dpo_external')})" if dpo.external else "")]
    if dpo.address:
        lines.append(f"{dpo.address.one_line()}, "
                     f"{locale.country_name(dpo.address.country, language)}")
    colon = label("colon")
    if dpo.phone:
        lines.append(f"{label('phone')}{colon} {dpo.phone}")
    if dpo.email:
        lines.append(f"{label('email')}{colon} {dpo.email}")
    return lines


def _annex_processing(loaded: LoadedDeal, language: Language, label: Any,
                      localize: _Localizer) -> list[Block]:
    deal, provider, doc = loaded.deal, loaded.provider, loaded.deal_doc
    names = dict(zip(deal.services, _service_names(loaded, localize), strict=True))
    colon = label("colon")
    blocks: list[Block] = []
    for i, processing in enumerate(deal.processing):
        at = ("processing", i)
        data = [
            localize(c.name, doc, (*at, "personal_data", j))
            + (f" – {label('sensitive_' + c.sensitive)}" if c.sensitive else "")
            for j, c in enumerate(processing.categories())
        ]
        subjects = [localize(d, doc, (*at, "data_subjects", j))
                    for j, d in enumerate(processing.data_subjects)]
        rows = [
            [[label("purpose")], [localize(processing.purpose, doc, (*at, "purpose"))]],
            [[label("nature")], [localize(processing.nature, doc, (*at, "nature"))]],
            [[label("data_subjects")], subjects],
            [[label("personal_data")], data],
            [[label("retention")], _retention_lines(processing.retention, language, label,
                                                    localize, doc, (*at, "retention"))],
            [[label("duration")], [localize(processing.duration, doc, (*at, "duration"))]],
        ]
        index = next(k for k, s in enumerate(provider.services) if s.id == processing.service)
        disclosures = provider.services[index].legal_disclosures
        if disclosures:
            lines = []
            for k, item in enumerate(disclosures):
                where = ("services", index, "legal_disclosures", k)
                lines.append(
                    f"{localize(item.recipient, loaded.provider_doc, (*where, 'recipient'))}"
                    f" – {label('disclosure_data')}{colon} "
                    f"{localize(item.data, loaded.provider_doc, (*where, 'data'))}"
                    f" – {label('disclosure_basis')}{colon} "
                    f"{localize(item.legal_basis, loaded.provider_doc, (*where, 'legal_basis'))}")
            lines.append(label("disclosures_note"))
            rows.append([[label("legal_disclosures")], lines])
        blocks.append(Table(header=[f"{label('service')}{colon} {names[processing.service]}"],
                            rows=rows, widths=[30, 70], label_column=True))
    return blocks


def _retention_lines(retention: LocalizedText | list[RetentionRule], language: Language,
                     label: Any, localize: _Localizer, doc: YamlDocument,
                     at: tuple[str | int, ...]) -> list[str]:
    if not isinstance(retention, list):
        return [localize(retention, doc, at)]
    lines = []
    colon = label("colon")
    for j, rule in enumerate(retention):
        period = _period(rule.period, language)
        if rule.after_end:
            text = (str(label("retention_after_end")).format(period=period) if period
                    else label("retention_until_end"))
        elif rule.after is not None:
            text = str(label("retention_after")).format(
                period=period, event=localize(rule.after, doc, (*at, j, "after")))
        else:
            text = period
        lines.append(f"{localize(rule.data, doc, (*at, j, 'data'))}{colon} {text}")
    return lines


def _annex_measures(loaded: LoadedDeal, sensitive: bool, label: Any,
                    localize: _Localizer) -> list[Block]:
    provider, doc = loaded.provider, loaded.provider_doc
    blocks: list[Block] = []
    groups = [("measures_general", False)] + ([("measures_sensitive", True)] if sensitive else [])
    for key, for_sensitive in groups:
        rows = [
            [[localize(m.category, doc, ("measures", i, "category"))],
             [localize(m.description, doc, ("measures", i, "description"))]]
            for i, m in enumerate(provider.measures) if m.for_sensitive_data == for_sensitive
        ]
        if for_sensitive and provider.sensitive_data_access:
            rows.append([[label("access_categories")], [
                f"{localize(a.category, doc, ('sensitive_data_access', i, 'category'))} – "
                f"{localize(a.capacity, doc, ('sensitive_data_access', i, 'capacity'))}"
                for i, a in enumerate(provider.sensitive_data_access)]])
        if rows:
            blocks.append(Table(header=[label(key)], rows=rows, widths=[30, 70],
                                label_column=True))
        else:
            blocks.append(_heading(label(key), level=2))
    return blocks


def _annex_subprocessors(loaded: LoadedDeal, language: Language, label: Any,
                         localize: _Localizer) -> list[Block]:
    provider = loaded.provider
    names = dict(zip(loaded.deal.services, _service_names(loaded, localize), strict=True))
    subs = used_subprocessors(loaded.deal, provider)
    listed = [s for s in subs if s.engagement == "systematic"]
    blocks: list[Block] = []
    if listed:
        rows = []
        for sub in listed:
            index = provider.subprocessors.index(sub)
            rows.append([
                _sub_identity(sub, language, label),
                [locale.country_name(sub.country, language)],
                [_sub_locations(sub, language, localize, loaded, index)],
                [localize(sub.purpose, loaded.provider_doc, ("subprocessors", index, "purpose"))],
                [", ".join(names[s] for s in sub.services if s in names)],
                [_transfer_text(sub.transfer, label, localize, loaded, index)],
            ])
        # One label per header cell; the legal entity is the second line of the name.
        blocks.append(Table(
            header=[label("sub_name"), label("sub_country"), label("sub_locations"),
                    label("sub_purpose"), label("sub_services"), label("sub_transfer")],
            rows=rows, widths=[17, 12, 19, 18, 14, 20], label_column=True,
        ))
    else:
        blocks.append(Paragraph(style=Style.BODY, runs=[TextRun(text=label("no_subprocessors"))]))
    blocks.append(Paragraph(style=Style.BODY, runs=[TextRun(text=label("incidental_note"))]))
    return blocks


def _sub_identity(sub: SubProcessor, language: Language, label: Any) -> list[str]:
    lines = [sub.name, sub.legal_entity + (f" ({label('group_entity')})" if sub.group_entity
                                           else "")]
    if sub.address is not None:
        lines.append(f"{sub.address.one_line()}, "
                     f"{locale.country_name(sub.address.country, language)}")
    return lines


def _sub_locations(sub: SubProcessor, language: Language, localize: _Localizer,
                   loaded: LoadedDeal, index: int) -> str:
    parts = []
    for country in sub.locations:
        places = [localize(p.place, loaded.provider_doc, ("subprocessors", index, "places", k,
                                                          "place"))
                  for k, p in enumerate(sub.places) if p.country == country]
        name = locale.country_name(country, language)
        parts.append(f"{name} ({', '.join(places)})" if places else name)
    return ", ".join(parts)


def _transfer_text(mechanism: TransferMechanism | None, label: Any, localize: _Localizer,
                   loaded: LoadedDeal, index: int) -> str:
    if mechanism is None:
        return str(label("transfer_none"))
    text = str(label(f"transfer_{mechanism.kind}")).format(module=mechanism.scc_module or "")
    if mechanism.detail is None:
        return text
    detail = localize(mechanism.detail, loaded.provider_doc,
                      ("subprocessors", index, "transfer", "detail"))
    return f"{text} ({detail})"
