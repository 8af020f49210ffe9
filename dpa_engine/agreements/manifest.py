"""The generation manifest: what an agreement was made from, so that it can be made again.

Every `dpa generate` records a manifest beside the .docx (`<name>.manifest.json`) and inside
it (the parts `dpa/manifest.json` and `dpa/library.json`, related from the package root; the
library snapshot is its own part so that it is compressed once per library, not per deal).
It lists the clauses with their versions, numbers, content hashes and parameter values,
the deviations and their approval, and — so that `dpa regenerate` reproduces the document
byte for byte after the library moved on — a snapshot of what the text was made from:

- the clause library files exactly as loaded (their hash is the library hash in the document
  properties), which holds every clause's title, text and parameters and the labels;
- the deal file and the provider profile, verbatim;
- language, generation time and the approved deviations.

A full snapshot is chosen over a store of past clause versions: a manifest stands on its own
(copied with the agreement, it needs nothing else) and covers the labels and article headings
as well as the clauses. It costs about 100 kB of text per agreement (about 25 kB compressed
inside the .docx).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..document import DocumentModel
from ..errors import DpaError, InputError
from ..files import write_atomically
from ..library import Library, load_library
from ..library.versions import content_hash
from ..models import Deal, Language, ProviderProfile
from ..render import DocxRenderer, ExtraPart
from ..version import __version__
from ..yamlsource import parse_yaml, validate
from .assemble import assemble
from .deals import LoadedDeal
from .rules import Decision, Deviation, decide

PART_NAME = "dpa/manifest.json"
LIBRARY_PART_NAME = "dpa/library.json"
PART_CONTENT_TYPE = "application/json"
PART_RELATIONSHIP = "urn:dpa-engine:relationships:manifest"
MANIFEST_SUFFIX = ".manifest.json"


class ManifestClause(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    effective: datetime.date
    number: str | None
    content_sha256: str
    parameters: dict[str, Any]


class SourceFile(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    text: str


class LibrarySnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    content_hash: str
    # File name -> text, exactly as loaded. Inside a .docx it is the part dpa/library.json.
    files: dict[str, str] = {}


class Manifest(BaseModel):
    """Everything needed to know, and to reproduce, what one agreement was made from."""

    model_config = ConfigDict(frozen=True)

    format: Literal["dpa-engine/manifest/1"] = "dpa-engine/manifest/1"
    engine_version: str
    generated_at: datetime.datetime
    language: Language
    reference: str | None
    deal_version: int
    draft: bool
    clauses: list[ManifestClause]
    deviations: list[Deviation]
    approved_deviations: list[str]
    library: LibrarySnapshot
    deal: SourceFile
    provider: SourceFile


# Clause content hashes and library snapshots, per library content hash (the same for every
# agreement made from one library: computed once).
_CLAUSE_HASHES: dict[tuple[str, str], str] = {}
_SNAPSHOTS: dict[str, bytes] = {}


def _clause_hash(library: Library, clause_id: str) -> str:
    key = (library.content_hash, clause_id)
    if key not in _CLAUSE_HASHES:
        _CLAUSE_HASHES[key] = content_hash(library.clauses[clause_id].clause)
    return _CLAUSE_HASHES[key]


def _library_files(library: Library) -> dict[str, str]:
    return {name: data.decode("utf-8") for name, data in library.sources.items()}


def _snapshot_json(library: Library) -> bytes:
    if library.content_hash not in _SNAPSHOTS:
        if len(_SNAPSHOTS) >= 8:
            _SNAPSHOTS.pop(next(iter(_SNAPSHOTS)))
        _SNAPSHOTS[library.content_hash] = json.dumps(
            _library_files(library), ensure_ascii=False, indent=1).encode("utf-8")
    return _SNAPSHOTS[library.content_hash]


def _source(path: Path, text: str) -> SourceFile:
    return SourceFile(path=str(path), sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                      text=text)


def build_manifest(loaded: LoadedDeal, library: Library, decision: Decision,
                   model: DocumentModel, approved_deviations: frozenset[str]) -> Manifest:
    numbers = {c.id: c.number for c in model.clauses}
    return Manifest(
        engine_version=__version__,
        generated_at=model.properties.generated_at,
        language=decision.language,
        reference=loaded.deal.reference,
        deal_version=loaded.deal.version,
        draft=model.draft,
        clauses=[
            ManifestClause(id=d.id, version=d.version,
                           effective=library.clauses[d.id].clause.effective,
                           number=numbers.get(d.id),
                           content_sha256=_clause_hash(library, d.id),
                           parameters=d.parameters)
            for d in decision.clauses if d.included
        ],
        deviations=decision.deviations,
        approved_deviations=sorted(approved_deviations),
        library=LibrarySnapshot(path=str(library.path), content_hash=library.content_hash),
        deal=_source(loaded.deal_path, loaded.deal_doc.text),
        provider=_source(loaded.provider_path, loaded.provider_doc.text),
    )


def manifest_json(manifest: Manifest, library: Library | None = None) -> bytes:
    """The manifest file written beside the agreement: with the library snapshot."""
    if library is not None:
        snapshot = manifest.library.model_copy(update={"files": _library_files(library)})
        manifest = manifest.model_copy(update={"library": snapshot})
    return manifest.model_dump_json(indent=1).encode("utf-8")


def manifest_parts(manifest: Manifest, library: Library) -> list[ExtraPart]:
    """The parts embedded in the agreement: the manifest, and the library snapshot."""
    bare = manifest.model_copy(update={"library": manifest.library.model_copy(
        update={"files": {}})})
    return [
        ExtraPart(name=PART_NAME, data=bare.model_dump_json(indent=1).encode("utf-8"),
                  content_type=PART_CONTENT_TYPE, relationship_type=PART_RELATIONSHIP),
        ExtraPart(name=LIBRARY_PART_NAME, data=_snapshot_json(library),
                  content_type=PART_CONTENT_TYPE, relationship_type=PART_RELATIONSHIP,
                  reusable=True),
    ]


def manifest_path_for(docx: Path) -> Path:
    return docx.with_name(docx.stem + MANIFEST_SUFFIX)


def read_manifest(path: Path) -> Manifest:
    """A manifest from its JSON file, or from inside an agreement (.docx)."""
    files: dict[str, str] | None = None
    if path.suffix.lower() == ".docx":
        data = DocxRenderer.read_part(path, PART_NAME)
        snapshot = DocxRenderer.read_part(path, LIBRARY_PART_NAME)
        if data is None or snapshot is None:
            raise InputError("this agreement holds no manifest", path=path,
                             fix="regenerate from the .manifest.json written beside it, or "
                                 "generate the agreement again with this version of dpa")
        try:
            files = json.loads(snapshot)
        except ValueError:
            files = None
        if not isinstance(files, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
            raise InputError(f"the part {LIBRARY_PART_NAME} is not a library snapshot",
                             path=path, fix="use the agreement as written by dpa generate")
    else:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the manifest ({exc.strerror})", path=path,
                             fix="give the .manifest.json written by dpa generate") from None
    try:
        manifest = Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"not a dpa-engine manifest ({where}: {first['msg']})", path=path,
                         fix="give the .manifest.json written by dpa generate, unedited") from None
    if files is not None:
        manifest = manifest.model_copy(update={"library": manifest.library.model_copy(
            update={"files": files})})
    return manifest


def _snapshot_library(manifest: Manifest, folder: Path, origin: Path) -> Library:
    for name, text in manifest.library.files.items():
        if "/" in name or "\\" in name or not name.endswith(".yaml"):
            raise InputError(f"the manifest names an unexpected library file '{name}'",
                             path=origin, fix="use the manifest written by dpa generate")
        (folder / name).write_text(text, encoding="utf-8")
    library = load_library(folder)
    if library.content_hash != manifest.library.content_hash:
        raise InputError("the library snapshot in the manifest does not match its hash "
                         "(edited?)", path=origin,
                         fix="use the manifest written by dpa generate, unedited")
    return library


def _snapshot_deal(manifest: Manifest, origin: Path) -> LoadedDeal:
    for source in (manifest.deal, manifest.provider):
        if hashlib.sha256(source.text.encode("utf-8")).hexdigest() != source.sha256:
            raise InputError(f"the snapshot of {source.path} in the manifest does not match its "
                             "hash (edited?)", path=origin,
                             fix="use the manifest written by dpa generate, unedited")
    deal_doc = parse_yaml(Path(manifest.deal.path), manifest.deal.text)
    provider_doc = parse_yaml(Path(manifest.provider.path), manifest.provider.text)
    return LoadedDeal(deal=validate(Deal, deal_doc), provider=validate(ProviderProfile, provider_doc),
                      deal_doc=deal_doc, provider_doc=provider_doc)


class Regenerated(BaseModel):
    model_config = ConfigDict(frozen=True)

    docx: Path
    clauses: list[str]
    draft: bool


def regenerate(manifest_path: Path, output: Path, renderer: DocxRenderer) -> Regenerated:
    """The agreement again, from the manifest alone: same clauses, versions and text."""
    manifest = read_manifest(manifest_path)
    with tempfile.TemporaryDirectory(prefix="dpa-regenerate-") as work:
        library = _snapshot_library(manifest, Path(work), manifest_path)
        loaded = _snapshot_deal(manifest, manifest_path)
        try:
            decision = decide(loaded, library)
        except DpaError as exc:
            raise InputError(f"the snapshot can no longer be decided: {exc.what}",
                             path=manifest_path, fix=exc.fix) from None
        recorded = [(c.id, c.version) for c in manifest.clauses]
        now = [(c.id, c.version) for c in decision.clauses if c.included]
        if recorded != now:
            raise InputError("this version of dpa selects other clauses from the snapshot than "
                             "the one that generated it", path=manifest_path,
                             fix=f"regenerate with dpa-engine {manifest.engine_version}")
        model = assemble(loaded, library, decision, generated_at=manifest.generated_at,
                         approved_deviations=frozenset(manifest.approved_deviations))
        data = renderer.render_bytes(model, extra_parts=manifest_parts(manifest, library))
    write_atomically(output, data, inputs=[("manifest", manifest_path),
                                           ("base template", renderer.template_path)])
    return Regenerated(docx=output, clauses=[c for c, _ in now], draft=model.draft)


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """The manifest without the snapshots (for printing)."""
    data: dict[str, Any] = json.loads(manifest.model_dump_json(
        exclude={"library": {"files"}, "deal": {"text"}, "provider": {"text"}}))
    return data
