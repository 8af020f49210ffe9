"""`dpa audit`: verify the hash-chained audit log, sign checkpoints, export the evidence pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from .. import notices
from ..audit import checkpoints
from ..errors import DpaError
from .common import (
    MAX_ID,
    JsonOption,
    TemplateOption,
    echo_json,
    out,
    renamed,
    user_errors,
)
from .notice_options import (
    DbOption,
    OldChangeOption,
    notice_renderer,
    open_db,
)

audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log and evidence pack.")


@audit_app.command("verify")
@user_errors
def audit_verify(
    db: DbOption = None,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="A copy of the signed checkpoint file, kept outside the database")]
    = None,
    public_key: Annotated[str | None, typer.Option(
        "--public-key", help="Trusted public key (hex) for --checkpoint (default: the public "
                             "half of $DPA_AUDIT_KEY)")] = None,
    witness: Annotated[list[Path] | None, typer.Option(
        "--witness", help="A notice as received (.eml); its audit-head header is checked",
        metavar="MESSAGE.eml")] = None,
    as_json: JsonOption = False,
) -> None:
    """Recompute the hash chain and check it against external anchors; exit 1 on any problem."""
    database = open_db(db)
    result = notices.verify_audit(database)
    anchors: list[tuple[str, checkpoints.CheckpointVerification]] = []
    if result.ok and checkpoint is not None:
        anchors.append((f"checkpoints in {checkpoint}",
                        checkpoints.verify_checkpoint_file(database, checkpoint, public_key)))
    if result.ok:
        anchors += [(f"witness in {message}", checkpoints.verify_witness_file(database, message))
                    for message in witness or []]
    ok = result.ok and all(verification.ok for _, verification in anchors)
    if as_json:
        echo_json({**result.model_dump(mode="json"), "ok": ok,
                    "anchors": [{"anchor": label, **verification.model_dump(mode="json")}
                                for label, verification in anchors]})
        raise typer.Exit(0 if ok else 1)
    if not result.ok:
        for problem in result.problems or [f"at record {result.first_bad_seq}: {result.problem}"]:
            out.print("[bold red]BROKEN[/]" + escape(f" {problem}"), soft_wrap=True)
        raise typer.Exit(1)
    out.print("[green]ok[/]" + escape(
        f": {result.records} records, chain intact (last hash {result.last_hash[:16]}…); "
        f"{result.notices_checked} sent notice(s) match the digests recorded when sent; "
        "deadlines and statuses match the log"))
    for label, verification in anchors:
        if verification.ok:
            out.print("[green]ok[/]" + escape(f": {label} ({verification.checkpoints} checked)"))
        else:
            out.print("[bold red]BROKEN[/]" + escape(f": {label}: {verification.problem}"),
                      soft_wrap=True)
    if not ok:
        raise typer.Exit(1)


@audit_app.command("keygen")
@user_errors
def audit_keygen(
    path: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600)",
                                         metavar="KEY_FILE")],
) -> None:
    """Create the Ed25519 key that signs audit checkpoints; keep it outside the database."""
    public = checkpoints.generate_key(path)
    out.print(f"Wrote {path}. Set {checkpoints.KEY_VARIABLE}={path} for `change send` and "
              f"`change close`; public key (for --public-key): {public}", markup=False,
              soft_wrap=True)


@audit_app.command("export")
@user_errors
def audit_export(
    output: Annotated[Path, typer.Option("-o", "--output", metavar="FILE",
                                         help="Evidence pack to write (.zip)")],
    change: Annotated[int | None, typer.Argument(
        metavar="CHANGE", min=1, max=MAX_ID,
        help="Only this change's notices (default: every change)")] = None,
    db: DbOption = None, template: TemplateOption = None,
    old_change: OldChangeOption = None,
) -> None:
    """Write the evidence pack: audit log + verification, lists, register, notices as sent."""
    change = renamed(change, old_change, "CHANGE", "--change")
    if output.suffix.lower() != ".zip":
        raise DpaError("the evidence pack is a .zip file", path=output, fix="end -o with .zip")
    pack, verification = notices.export_checked(open_db(db), output, change_id=change,
                                                renderer=notice_renderer(template))
    out.print(f"Wrote {pack}", markup=False)
    if not verification.ok:  # the pack says so too: its texts are not proven
        out.print(f"BROKEN: {verification.problem} (the pack records the failed verification)",
                  markup=False, soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
