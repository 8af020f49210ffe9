"""Coverage: which clauses satisfy each legal requirement of a processor agreement.

The requirements are GDPR art. 28(2), 28(3)(a)–(h), 28(4), 28(9), 32–36, 33(2), Chapter V,
art. 9/10, and the Commission's standard clauses (Implementing Decision (EU) 2021/915: clauses
7.1–7.8, 8, 9, 10 and Annexes I–IV). A clause satisfies a requirement when its `satisfies:`
lists it. For the library as a whole, a requirement is covered when some clause satisfies it;
for a deal, when a clause included for that deal does — requirements that only arise for some
deals (art. 9/10 data, listed sub-processors) are "not applicable" to the others.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..agreements.rules import Decision
from ..library import Library
from ..library.conditions import holds


class Requirement(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str  # as written in a clause's `satisfies:`
    source: Literal["GDPR", "2021/915"]
    title: str
    applies_when: str | None = None  # condition over the deal's facts; None = every deal


def _gdpr(reference: str, title: str, applies_when: str | None = None) -> Requirement:
    return Requirement(reference=reference, source="GDPR", title=title, applies_when=applies_when)


def _scc(number: str, title: str, applies_when: str | None = None) -> Requirement:
    return Requirement(reference=f"2021/915 {number}", source="2021/915", title=title,
                       applies_when=applies_when)


SENSITIVE = "has_special_categories or has_criminal_data"

REQUIREMENTS: tuple[Requirement, ...] = (
    _gdpr("28(2)", "art. 28(2) prior written authorisation of sub-processors; objection right"),
    _gdpr("28(3)(a)", "art. 28(3)(a) documented instructions, incl. on transfers"),
    _gdpr("28(3)(b)", "art. 28(3)(b) confidentiality of authorised persons"),
    _gdpr("28(3)(c)", "art. 28(3)(c) security measures of art. 32"),
    _gdpr("28(3)(d)", "art. 28(3)(d) conditions for engaging sub-processors"),
    _gdpr("28(3)(e)", "art. 28(3)(e) assistance with data-subject requests"),
    _gdpr("28(3)(f)", "art. 28(3)(f) assistance with art. 32–36"),
    _gdpr("28(3)(g)", "art. 28(3)(g) deletion or return at the end of the services"),
    _gdpr("28(3)(h)", "art. 28(3)(h) information, audits; warning on infringing instructions"),
    _gdpr("28(4)", "art. 28(4) equivalent obligations flowed down to sub-processors"),
    _gdpr("28(9)", "art. 28(9) in writing, electronic form allowed"),
    _gdpr("32", "art. 32 security of processing"),
    _gdpr("33", "art. 33 notification of a breach to the authority"),
    _gdpr("33(2)", "art. 33(2) processor notifies the controller without undue delay"),
    _gdpr("34", "art. 34 communication of a breach to data subjects"),
    _gdpr("35", "art. 35 data protection impact assessment"),
    _gdpr("36", "art. 36 prior consultation"),
    _gdpr("Chapter V", "Chapter V transfers outside the EEA"),
    _gdpr("9", "art. 9 special categories of data", "has_special_categories"),
    _gdpr("10", "art. 10 criminal convictions and offences", "has_criminal_data"),
    _scc("7.1", "clause 7.1 instructions"),
    _scc("7.2", "clause 7.2 purpose limitation"),
    _scc("7.3", "clause 7.3 duration of the processing"),
    _scc("7.4", "clause 7.4 security of processing"),
    _scc("7.5", "clause 7.5 sensitive data", SENSITIVE),
    _scc("7.6", "clause 7.6 documentation and compliance"),
    _scc("7.7", "clause 7.7 use of sub-processors"),
    _scc("7.8", "clause 7.8 international transfers"),
    _scc("8", "clause 8 assistance to the controller"),
    _scc("9", "clause 9 notification of a personal data breach"),
    _scc("10", "clause 10 non-compliance and termination"),
    _scc("Annex I", "Annex I list of parties"),
    _scc("Annex II", "Annex II description of the processing"),
    _scc("Annex III", "Annex III technical and organisational measures"),
    _scc("Annex IV", "Annex IV list of sub-processors", "has_subprocessors"),
)


class SatisfyingClause(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    when: str | None


class CoverageRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str
    source: Literal["GDPR", "2021/915"]
    title: str
    status: Literal["covered", "gap", "not-applicable"]
    clauses: list[SatisfyingClause]


class CoverageReport(BaseModel):
    """The matrix `dpa clauses coverage` prints (and `--json` writes)."""

    model_config = ConfigDict(frozen=True)

    scope: str  # "library" or the deal file
    library: str
    library_hash: str
    rows: list[CoverageRow]

    @property
    def gaps(self) -> list[CoverageRow]:
        return [row for row in self.rows if row.status == "gap"]


def coverage(library: Library, decision: Decision | None = None, *, scope: str = "library"
             ) -> CoverageReport:
    """The coverage matrix of the library, or of one deal when its decision is given."""
    included = set(decision.included_ids) if decision is not None else None
    rows: list[CoverageRow] = []
    for requirement in REQUIREMENTS:
        satisfying = [
            SatisfyingClause(id=item.id, version=item.clause.version, when=item.clause.when)
            for article in library.articles for item in article.clauses
            if requirement.reference in item.clause.satisfies
            and (included is None or item.id in included)
        ]
        applies = True
        if decision is not None and requirement.applies_when is not None:
            applies = holds(requirement.applies_when, decision.facts)
        status: Literal["covered", "gap", "not-applicable"] = (
            "covered" if satisfying else "gap" if applies else "not-applicable")
        rows.append(CoverageRow(reference=requirement.reference, source=requirement.source,
                                title=requirement.title, status=status, clauses=satisfying))
    return CoverageReport(scope=scope, library=str(library.path),
                          library_hash=library.content_hash, rows=rows)
