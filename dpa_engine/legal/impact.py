"""Which example deals' agreements a library change alters (for `dpa clauses diff`).

Each deal is decided and assembled with the old and the new library, at one fixed moment, and
the two document models compared: any difference in the body (a clause in or out, another
wording, another number) counts.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..agreements.assemble import assemble
from ..agreements.deals import LoadedDeal, ProviderCache, load_deal
from ..agreements.rules import decide
from ..document import DocumentModel
from ..errors import DpaError
from ..library import Library

_MOMENT = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class DealImpact(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal: str
    status: Literal["changes", "unchanged", "fails"]
    clauses: list[str]  # included clauses whose version, wording or inclusion differs
    error: str | None = None


def _model(loaded: LoadedDeal, library: Library) -> tuple[DocumentModel, dict[str, int]]:
    decision = decide(loaded, library)
    versions = {c.id: c.version for c in decision.clauses if c.included}
    return assemble(loaded, library, decision, generated_at=_MOMENT), versions


def deal_impact(old: Library, new: Library, deals: list[Path]) -> list[DealImpact]:
    results: list[DealImpact] = []
    providers = ProviderCache()
    for path in deals:
        try:
            loaded = load_deal(path, providers)
            old_model, old_versions = _model(loaded, old)
            new_model, new_versions = _model(loaded, new)
        except DpaError as exc:
            results.append(DealImpact(deal=str(path), status="fails", clauses=[],
                                      error=exc.message))
            continue
        touched = sorted(
            cid for cid in old_versions.keys() | new_versions.keys()
            if old_versions.get(cid) != new_versions.get(cid)
            or (cid in old.clauses and cid in new.clauses
                and old.clauses[cid].clause != new.clauses[cid].clause))
        changed = old_model.blocks != new_model.blocks
        results.append(DealImpact(deal=str(path), status="changes" if changed else "unchanged",
                                  clauses=touched if changed else []))
    return results
