"""External anchors for the audit log: signed checkpoints and e-mail witnesses.

The hash chain proves that no record was changed *relative to the others*; someone who can
write to the database could still edit a record and recompute every later hash, or delete
the newest records and move the head back. Two anchors outside the database catch that:

- A **checkpoint** is the chain head (sequence number and hash) at a moment, signed with an
  Ed25519 key that lives outside the database (a PEM file named by $DPA_AUDIT_KEY). One is
  appended to a checkpoint file at every send and close; a copy of that file kept elsewhere
  is verified with `dpa audit verify --checkpoint FILE`.
- A **witness** is the chain head written into each notice's headers when it is sent
  (`X-DPA-Audit-Head: <seq>:<hash>`), so every customer's inbox holds proof that history
  before that notice was not rewritten; `dpa audit verify --witness MESSAGE.eml` checks one.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError
from ..storage import Database
from ..storage.schema import AuditEventRow
from .chain import canonical_json, head_of

KEY_VARIABLE = "DPA_AUDIT_KEY"
CHECKPOINTS_VARIABLE = "DPA_AUDIT_CHECKPOINTS"
WITNESS_HEADER = "X-DPA-Audit-Head"
_MAX_CHECKPOINT_FILE = 64 * 1024 * 1024


class ChainHead(BaseModel):
    """The last record of the audit log at one moment."""

    model_config = ConfigDict(frozen=True)
    seq: int
    hash: str

    def header_value(self) -> str:
        return f"{self.seq}:{self.hash}"


class Checkpoint(ChainHead):
    """A chain head signed with the audit key; one JSON line in the checkpoint file."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    at: datetime.datetime
    public_key: str  # raw Ed25519 public key, hex: which key signed (not trusted by itself)
    signature: str  # hex, over signed_message(seq, hash, at)


class CheckpointVerification(BaseModel):
    model_config = ConfigDict(frozen=True)
    ok: bool
    checkpoints: int
    problem: str | None = None


def signed_message(seq: int, digest: str, at: datetime.datetime) -> bytes:
    """What a checkpoint's signature covers: its head and time as canonical JSON (ASCII)."""
    return canonical_json({"seq": seq, "hash": digest,
                           "at": at.astimezone(datetime.UTC).isoformat()}).encode("ascii")


def chain_head(session: Session) -> ChainHead:
    seq, digest = head_of(session)
    return ChainHead(seq=seq, hash=digest)


# --- the key ---------------------------------------------------------------------------------

def generate_key(path: Path) -> str:
    """Write a new private key (PEM, mode 0600) to `path`; returns the public key (hex)."""
    if path.exists():
        raise InputError("the key file already exists", path=path,
                         fix="choose another path, or move the old key away first (checkpoints "
                             "signed with it can only be verified with it)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return public_hex(key.public_key())


def public_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def configured_key() -> Ed25519PrivateKey | None:
    """The key named by $DPA_AUDIT_KEY, or None when the variable is not set."""
    name = os.environ.get(KEY_VARIABLE)
    return load_key(Path(name)) if name else None


def load_key(path: Path) -> Ed25519PrivateKey:
    fix = f"create one with `dpa audit keygen {path}` and keep it outside the database"
    if not path.is_file():
        raise InputError("the audit key file does not exist", path=path, field=KEY_VARIABLE,
                         fix=fix)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError):
        raise InputError("the audit key file is not an unencrypted PEM private key", path=path,
                         field=KEY_VARIABLE, fix=fix) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("the audit key is not an Ed25519 key", path=path, field=KEY_VARIABLE,
                         fix=fix)
    return key


def public_key_from_hex(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.strip()))
    except ValueError:
        raise InputError("not an Ed25519 public key (64 hex digits)", field="--public-key",
                         fix="pass the public key `dpa audit keygen` printed") from None


# --- writing and verifying checkpoints ---------------------------------------------------------

def sign(key: Ed25519PrivateKey, head: ChainHead, at: datetime.datetime) -> Checkpoint:
    moment = at.astimezone(datetime.UTC).replace(microsecond=0)
    signature = key.sign(signed_message(head.seq, head.hash, moment))
    return Checkpoint(seq=head.seq, hash=head.hash, at=moment,
                      public_key=public_hex(key.public_key()), signature=signature.hex())


def append_checkpoint(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line and sync it: the file only ever grows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(checkpoint.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_checkpoints(path: Path) -> list[Checkpoint]:
    if not path.is_file():
        raise InputError("checkpoint file not found", path=path,
                         fix="pass the copy of the checkpoint file you keep outside the database")
    if path.stat().st_size > _MAX_CHECKPOINT_FILE:
        raise InputError(f"checkpoint file is larger than {_MAX_CHECKPOINT_FILE // 2**20} MiB",
                         path=path, fix="pass the checkpoint file dpa wrote")
    checkpoints: list[Checkpoint] = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                  .splitlines(), start=1):
        if not line.strip():
            continue
        try:
            checkpoints.append(Checkpoint.model_validate_json(line))
        except ValidationError:
            raise InputError("not a checkpoint line", path=path, line=number,
                             fix="pass the checkpoint file dpa wrote, unedited") from None
    return checkpoints


def _mismatch(session: Session, head: ChainHead, seq: int, digest: str, source: str
              ) -> str | None:
    if seq > head.seq:
        return (f"{source} saw {seq} records but the log now ends at record {head.seq}: "
                "records were removed from the end")
    if seq == 0:
        return None
    stored = session.execute(select(AuditEventRow.hash).where(AuditEventRow.seq == seq)
                             ).scalar_one_or_none()
    if stored is None:
        return f"{source} names record {seq}, which is no longer in the log"
    if stored != digest:
        return (f"record {seq} does not have the hash {source} holds: the log was rewritten "
                "up to there")
    return None


# --- witnesses in sent notices ---------------------------------------------------------------

def witness_of(message: bytes, origin: str = "the message") -> ChainHead:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    value = parsed.get(WITNESS_HEADER)
    if value is None:
        raise InputError(f"{origin} has no {WITNESS_HEADER} header",
                         fix="pass a change notice as received (.eml with all headers)")
    seq_text, _, digest = str(value).strip().partition(":")
    if not seq_text.isdigit() or len(digest) != 64:
        raise InputError(f"the {WITNESS_HEADER} header of {origin} is malformed",
                         fix="pass the notice exactly as received")
    return ChainHead(seq=int(seq_text), hash=digest)


def checkpoint_file(db: Database) -> Path:
    """$DPA_AUDIT_CHECKPOINTS, else `<file>.checkpoints` beside a SQLite database."""
    if os.environ.get(CHECKPOINTS_VARIABLE):
        return Path(os.environ[CHECKPOINTS_VARIABLE])
    database = db.engine.url.database if db.dialect == "sqlite" else None
    if not database or database == ":memory:":
        raise InputError(f"{KEY_VARIABLE} is set but there is no checkpoint file for this "
                         "database", field=CHECKPOINTS_VARIABLE,
                         fix=f"set {CHECKPOINTS_VARIABLE} to a file outside the database server")
    return Path(database).with_name(Path(database).name + ".checkpoints")


def write_checkpoint(db: Database, *, at: datetime.datetime | None = None) -> Checkpoint | None:
    """Sign the current head and append it to the checkpoint file, when $DPA_AUDIT_KEY is
    set (None otherwise). Called after every send and close."""
    key = configured_key()
    if key is None:
        return None
    with db.transaction() as session:
        head = chain_head(session)
    checkpoint = sign(key, head, at or datetime.datetime.now(datetime.UTC))
    append_checkpoint(checkpoint_file(db), checkpoint)
    return checkpoint


def verify_checkpoint_file(db: Database, path: Path, public_key: str | None = None
                           ) -> CheckpointVerification:
    """Verify a kept copy of the checkpoint file against the database. The trusted key is
    `public_key` (hex) when given, else the public half of $DPA_AUDIT_KEY. Each checkpoint
    must be signed by the trusted key, and the log must still hold the signed hash at the
    signed sequence number (not shorter, not rewritten)."""
    if public_key is not None:
        trusted = public_key_from_hex(public_key)
    else:
        key = configured_key()
        if key is None:
            raise InputError("no key to check the checkpoints against", field=KEY_VARIABLE,
                             fix=f"set {KEY_VARIABLE}, or pass --public-key")
        trusted = key.public_key()
    checkpoints = read_checkpoints(path)
    with db.transaction() as session:
        head = chain_head(session)
        for checkpoint in checkpoints:
            try:
                trusted.verify(bytes.fromhex(checkpoint.signature),
                               signed_message(checkpoint.seq, checkpoint.hash, checkpoint.at))
            except (InvalidSignature, ValueError):
                return CheckpointVerification(
                    ok=False, checkpoints=len(checkpoints),
                    problem=f"the checkpoint at record {checkpoint.seq} is not signed by the "
                            "audit key (forged or edited checkpoint file)")
            problem = _mismatch(session, head, checkpoint.seq, checkpoint.hash,
                                f"the checkpoint of {checkpoint.at:%Y-%m-%d %H:%M} UTC")
            if problem:
                return CheckpointVerification(ok=False, checkpoints=len(checkpoints),
                                              problem=problem)
    return CheckpointVerification(ok=True, checkpoints=len(checkpoints))


def verify_witness_file(db: Database, message: Path) -> CheckpointVerification:
    if not message.is_file():
        raise InputError("message file not found", path=message, fix="pass a saved .eml file")
    witness = witness_of(message.read_bytes(), str(message))
    with db.transaction() as session:
        problem = _mismatch(session, chain_head(session), witness.seq, witness.hash,
                            "the notice's witness header")
    return CheckpointVerification(ok=problem is None, checkpoints=1, problem=problem)


__all__ = [
    "CHECKPOINTS_VARIABLE", "KEY_VARIABLE", "WITNESS_HEADER", "ChainHead", "Checkpoint",
    "CheckpointVerification", "append_checkpoint", "chain_head", "checkpoint_file",
    "configured_key", "generate_key", "load_key", "public_key_from_hex", "read_checkpoints",
    "sign", "verify_checkpoint_file", "verify_witness_file", "witness_of", "write_checkpoint",
]
