"""What someone deciding on a change looks at before acting, read without writing anything:
the current sub-processor list and the register's services (to propose a change), and the
plan as `plan_change` would record it (to confirm it). The staff web app's change pages use
these; the commands print the same through `plan_change` itself."""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict

from ..models import LocalizedText, SubProcessor
from ..storage import Database
from .changes import get_change
from .errors import NoticeError
from .planning import Plan, plan_with_rows
from .provider import current_list, list_entries, provider_snapshot
from .register import now_utc


class ProposalChoices(BaseModel):
    """What a new proposal can name: the sub-processors on the current list (to replace or
    remove) and the provider's services in the register (for the new sub-processor)."""

    model_config = ConfigDict(frozen=True)
    list_version: int
    subprocessors: list[SubProcessor]
    services: dict[str, LocalizedText]


def proposal_choices(db: Database) -> ProposalChoices:
    with db.transaction() as session:
        listed = current_list(session)
        return ProposalChoices(list_version=listed.number, subprocessors=list_entries(listed),
                               services=provider_snapshot(session).services)


def preview_plan(db: Database, change_id: int, *, dispatch_at: datetime.datetime | None = None,
                 now: datetime.datetime | None = None) -> Plan:
    """The plan `plan_change` would record now (each deadline as if sent at `dispatch_at`,
    default now), without recording it: nothing is written, the status stays as it is."""
    with db.transaction() as session:
        row = get_change(session, change_id)
        if row.status not in ("proposed", "planned"):
            raise NoticeError(f"change {change_id} is already {row.status}",
                              fix=f"see what happened to it: dpa change status {change_id}")
        plan, _rows = plan_with_rows(session, row, dispatch_at or now or now_utc())
        return plan


__all__ = ["ProposalChoices", "preview_plan", "proposal_choices"]
