"""The public workflow: deal file -> decision -> document model -> .docx (and PDF).

The CLI and any web front end call these functions and nothing below them.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..document import RedlineModel
from ..errors import RenderError
from ..files import OutputSet, write_atomically
from ..library import Library, load_library
from ..render import DocxRenderer, convert_to_pdf
from ..render.tracked import redline_body_xml
from ..resources import packaged_library, packaged_template
from .approvals import ApprovalStatus, approval_status, approved_deviation_names
from .assemble import assemble
from .deals import LoadedDeal, ProviderCache, load_deal
from .manifest import (
    Regenerated,
    build_manifest,
    manifest_json,
    manifest_parts,
    manifest_path_for,
    regenerate,
)
from .redline import redline_model
from .rules import ClauseDecision, Decision, Deviation, decide


def default_library_path() -> Path:
    """$DPA_LIBRARY, else ./clauses, else the standard library shipped in the package."""
    if os.environ.get("DPA_LIBRARY"):
        return Path(os.environ["DPA_LIBRARY"])
    local = Path.cwd() / "clauses"
    return local if local.is_dir() else packaged_library()


def default_template_path() -> Path:
    """$DPA_TEMPLATE, else ./templates/agreement.docx, else the template shipped in the package."""
    if os.environ.get("DPA_TEMPLATE"):
        return Path(os.environ["DPA_TEMPLATE"])
    local = Path.cwd() / "templates" / "agreement.docx"
    return local if local.is_file() else packaged_template()


class Explanation(BaseModel):
    """What `dpa explain` reports: every clause in or out and why, and every deviation."""

    model_config = ConfigDict(frozen=True)

    deal: str
    language: str
    facts: dict[str, Any]
    clauses: list[ClauseDecision]
    deviations: list[Deviation]
    approval: ApprovalStatus | None = None
    warnings: list[str] = []


class GenerationResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    docx: Path
    pdf: Path | None
    draft: bool
    language: str = "en"
    clauses: list[str]
    deviations: list[Deviation]
    manifest: Path | None = None
    warnings: list[str] = []


@dataclass
class Engine:
    """A loaded clause library and prepared template, reusable for many deals."""

    library: Library
    renderer: DocxRenderer
    providers: ProviderCache = field(default_factory=ProviderCache)

    @classmethod
    def load(cls, library_path: Path | None = None, template_path: Path | None = None) -> Engine:
        library = load_library(library_path or default_library_path())
        template = template_path or default_template_path()
        if not template.is_file():
            raise RenderError("base template not found", path=template,
                              fix="restore templates/agreement.docx or pass --template")
        return cls(library=library, renderer=DocxRenderer(template))

    def decide(self, loaded: LoadedDeal) -> Decision:
        return decide(loaded, self.library)

    def generate(self, deal_path: Path, output: Path, *, pdf: bool = False,
                 generated_at: datetime.datetime | None = None) -> GenerationResult:
        loaded = load_deal(deal_path, self.providers)
        decision = self.decide(loaded)
        moment = generated_at or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        approved = approved_deviation_names(deal_path, decision)
        model = assemble(loaded, self.library, decision, generated_at=moment,
                         approved_deviations=approved)
        manifest = build_manifest(loaded, self.library, decision, model, approved)
        data = self.renderer.render_bytes(model,
                                          extra_parts=manifest_parts(manifest, self.library))
        manifest_path = manifest_path_for(output)
        pdf_path = output.with_suffix(".pdf") if pdf else None
        with OutputSet(inputs=self._inputs(loaded)) as outputs:
            outputs.add(output, data)
            if pdf_path is not None:
                # Convert a private copy: a failed conversion leaves no file behind.
                with tempfile.TemporaryDirectory(prefix="dpa-generate-") as work:
                    draft_docx, draft_pdf = Path(work) / output.name, Path(work) / pdf_path.name
                    draft_docx.write_bytes(data)
                    convert_to_pdf(draft_docx, draft_pdf)
                    outputs.add(pdf_path, draft_pdf.read_bytes())
            outputs.add(manifest_path, manifest_json(manifest, self.library))
        return GenerationResult(docx=output, pdf=pdf_path, draft=model.draft,
                                language=decision.language,
                                clauses=decision.included_ids, deviations=decision.deviations,
                                manifest=manifest_path, warnings=decision.warnings)

    def regenerate(self, manifest: Path, output: Path) -> Regenerated:
        """The agreement again from its manifest (.manifest.json or the .docx), with the
        clause versions, data and time it was first made with; this engine's template."""
        return regenerate(manifest, output, self.renderer)

    def explain(self, deal_path: Path) -> Explanation:
        return _explanation(deal_path, self.library)

    def redline(self, deal_path: Path, output: Path, *,
                generated_at: datetime.datetime | None = None) -> RedlineModel:
        """A .docx with tracked changes from the standard agreement to the negotiated one."""
        loaded = load_deal(deal_path, self.providers)
        moment = generated_at or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        approved = approved_deviation_names(deal_path, self.decide(loaded))
        model = redline_model(loaded, self.library, generated_at=moment,
                              approved_deviations=approved)
        write_atomically(output, self.renderer.render_bytes(model.document,
                                                            body=redline_body_xml(model)),
                         inputs=self._inputs(loaded))
        return model

    def _inputs(self, loaded: LoadedDeal) -> list[tuple[str, Path]]:
        """Every file a generation reads, which no output may replace."""
        files = [("deal file", loaded.deal_path), ("provider profile", loaded.provider_path),
                 ("base template", self.renderer.template_path)]
        files += [("clause library file", self.library.path / name)
                  for name in self.library.sources]
        return files


def generate(deal_path: Path, output: Path, *, pdf: bool = False,
             library_path: Path | None = None, template_path: Path | None = None
             ) -> GenerationResult:
    return Engine.load(library_path, template_path).generate(deal_path, output, pdf=pdf)


def explain(deal_path: Path, *, library_path: Path | None = None) -> Explanation:
    return _explanation(deal_path, load_library(library_path or default_library_path()))


def _explanation(deal_path: Path, library: Library) -> Explanation:
    decision = decide(load_deal(deal_path), library)
    return Explanation(deal=str(deal_path), language=decision.language, facts=decision.facts,
                       clauses=decision.clauses, deviations=decision.deviations,
                       approval=approval_status(deal_path, decision),
                       warnings=decision.warnings)
