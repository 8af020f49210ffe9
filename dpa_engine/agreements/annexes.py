"""The signature block and the four annexes (parties, processing, measures, sub-processors)."""

from __future__ import annotations

from typing import Any

from .. import locale
from ..document import (
    Block,
    Paragraph,
    SignatureBlock,
    SignatureField,
    SignatureParty,
    Style,
    Table,
    TextRun,
)
from ..library import Library
from ..library.facts import used_subprocessors
from ..models import (
    Language,
    LocalizedText,
    Party,
    Person,
    ProviderProfile,
    RetentionRule,
    SubProcessor,
    TransferMechanism,
)
from ..yamlsource import YamlDocument
from .deals import LoadedDeal
from .rules import Decision
from .textcontext import Localizer, party_context, period_text, service_names, signatories


def _heading(text: str, level: int = 1, *, new_page: bool = False) -> Paragraph:
    return Paragraph(style=Style.HEADING_1 if level == 1 else Style.HEADING_2,
                     runs=[TextRun(text=text)], keep_with_next=True, page_break_before=new_page)


def signature_table(loaded: LoadedDeal, library: Library, label: Any,
                    localize: Localizer) -> SignatureBlock:
    customer, provider = loaded.deal.customer, loaded.provider
    customer_signatory, provider_signatory = signatories(loaded, localize)
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


def annexes(loaded: LoadedDeal, decision: Decision, label: Any,
            localize: Localizer) -> list[Block]:
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
                   localize: Localizer) -> list[Block]:
    deal, provider = loaded.deal, loaded.provider
    customer_signatory, provider_signatory = signatories(loaded, localize)

    def party_rows(party: Party, signatory: Person | None) -> list[list[str]]:
        ctx = party_context(party, signatory, language, label("not_applicable"))
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
                      localize: Localizer) -> list[Block]:
    deal, provider, doc = loaded.deal, loaded.provider, loaded.deal_doc
    names = dict(zip(deal.services, service_names(loaded, localize), strict=True))
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
                     label: Any, localize: Localizer, doc: YamlDocument,
                     at: tuple[str | int, ...]) -> list[str]:
    if not isinstance(retention, list):
        return [localize(retention, doc, at)]
    lines = []
    colon = label("colon")
    for j, rule in enumerate(retention):
        period = period_text(rule.period, language)
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
                    localize: Localizer) -> list[Block]:
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
                         localize: Localizer) -> list[Block]:
    provider = loaded.provider
    names = dict(zip(loaded.deal.services, service_names(loaded, localize), strict=True))
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


def _sub_locations(sub: SubProcessor, language: Language, localize: Localizer,
                   loaded: LoadedDeal, index: int) -> str:
    parts = []
    for country in sub.locations:
        places = [localize(p.place, loaded.provider_doc, ("subprocessors", index, "places", k,
                                                          "place"))
                  for k, p in enumerate(sub.places) if p.country == country]
        name = locale.country_name(country, language)
        parts.append(f"{name} ({', '.join(places)})" if places else name)
    return ", ".join(parts)


def _transfer_text(mechanism: TransferMechanism | None, label: Any, localize: Localizer,
                   loaded: LoadedDeal, index: int) -> str:
    if mechanism is None:
        return str(label("transfer_none"))
    text = str(label(f"transfer_{mechanism.kind}")).format(module=mechanism.scc_module or "")
    if mechanism.detail is None:
        return text
    detail = localize(mechanism.detail, loaded.provider_doc,
                      ("subprocessors", index, "transfer", "detail"))
    return f"{text} ({detail})"
