"""The evidence pack a regulator would ask for, as one .zip file.

Contents: the whole audit log (JSON lines, with hashes) and its verification; every version
of the sub-processor list; the register (customers, signed agreement terms); and per change
its plan outcome, objections, and every notice exactly as sent (.eml, text, HTML, letter).
"""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from ..audit.chain import AuditVerification, records
from ..audit.crosscheck import verify_log
from ..files import write_atomically
from ..render import DocxRenderer
from ..storage import Database
from ..storage.schema import ChangeRow
from .changes import get_change
from .delivery import change_outbox, letter_bytes
from .feed import published_versions
from .register import list_customers
from .status import change_status

# the pack's folder for each kind of outbox message
FOLDERS = {"notice": "notices", "withdrawal": "withdrawal-notices"}


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def export_evidence(db: Database, output: Path, *, renderer: DocxRenderer,
                    change_id: int | None = None) -> Path:
    """Write the evidence pack; `change_id` limits the notices to one change."""
    return export_checked(db, output, renderer=renderer, change_id=change_id)[0]


def export_checked(db: Database, output: Path, *, renderer: DocxRenderer,
                   change_id: int | None = None) -> tuple[Path, AuditVerification]:
    """The evidence pack and the verification it holds: a pack whose notices are not what
    the log says was sent is still written (it is evidence), but marked BROKEN, and the
    caller must report failure."""
    with db.transaction() as session:
        verification = verify_log(session)
        log = records(session)
        if change_id is None:
            change_ids = list(session.execute(select(ChangeRow.id).order_by(ChangeRow.id))
                              .scalars())
        else:
            change_ids = [get_change(session, change_id).id]
        notices: dict[int, list[tuple[str, bytes, str, str, bytes]]] = {}
        for cid in change_ids:
            # a notice never sent is not rendered yet: there is nothing it was sent as
            notices[cid] = [(f"{FOLDERS[m.purpose]}/{m.target.customer.key}", m.payload.mime,
                             m.payload.body_text, m.payload.body_html,
                             letter_bytes(m.payload, renderer))
                            for m in change_outbox(session, cid, ("notice", "withdrawal"))
                            if m.payload is not None]
    _, _, versions = published_versions(db)
    buffer = io.BytesIO()
    stamp = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as pack:
        pack.writestr("README.txt", (
            "Evidence pack of the sub-processor change-notice workflow (dpa-engine)\n"
            f"Exported: {stamp.isoformat()}\n"
            f"Audit log: {verification.records} records, verification "
            f"{'INTACT' if verification.ok else 'BROKEN: ' + (verification.problem or '')}\n"
            f"Last hash: {verification.last_hash}\n\n"
            "audit-log.jsonl          every event (time, actor, data) with its hash chain\n"
            "audit-verification.json  result of recomputing the chain, the sent notices'\n"
            "                         digests, deadlines and statuses\n"
            "subprocessor-lists.json  every published version of the list, with diffs\n"
            "register.json            customers and the terms of the agreement they signed\n"
            "changes/change-N/        status.json (targets, deadlines, objections, outcomes)\n"
            "                         and each notice as sent: .eml, .txt, .html, .docx\n"
            "                         (notices/; of a withdrawn change, also\n"
            "                         withdrawal-notices/)\n"
        ).encode())
        pack.writestr("audit-log.jsonl", "".join(
            json.dumps(r.model_dump(mode="json"), ensure_ascii=False) + "\n" for r in log))
        pack.writestr("audit-verification.json", _json(verification.model_dump(mode="json")))
        pack.writestr("subprocessor-lists.json",
                      _json([v.model_dump(mode="json", exclude_none=True) for v in versions]))
        pack.writestr("register.json",
                      _json([c.model_dump(mode="json") for c in list_customers(db)]))
        for cid in change_ids:
            folder = f"changes/change-{cid}"
            pack.writestr(f"{folder}/status.json",
                          _json(change_status(db, cid).model_dump(mode="json")))
            for name, mime, text, html, letter in notices[cid]:
                pack.writestr(f"{folder}/{name}.eml", mime)
                pack.writestr(f"{folder}/{name}.txt", text)
                pack.writestr(f"{folder}/{name}.html", html)
                pack.writestr(f"{folder}/{name}.docx", letter)
    write_atomically(output, buffer.getvalue())
    return output, verification
