"""docx generation: the engine against a naive docxtpl loop and the raw zip limit.

- engine: the full path per agreement (deal YAML -> rules -> assembly -> .docx bytes), with
  the library loaded and the template prepared once;
- naive docxtpl: new DocxTemplate, render, save, per agreement, on a flat template holding the
  same agreement text with placeholders;
- raw limit: no engine at all: the same flat template's zip copied with the placeholders
  string-replaced in document.xml (every part recompressed, as zipfile does).
"""

from __future__ import annotations

import datetime
import io
import sys
import tempfile
import zipfile
from pathlib import Path

from common import EXAMPLES, ROOT, describe, rate, timed
from docxtpl import DocxTemplate

from dpa_engine import Engine, decide, load_deal
from dpa_engine.agreements.assemble import assemble
from dpa_engine.agreements.deals import ProviderCache

PLACEHOLDER = "Zzcustomerzz"


def flat_template(engine: Engine, folder: Path) -> Path:
    """The health example's agreement with the customer name as a docxtpl placeholder."""
    text = (EXAMPLES / "deal-health-en.yaml").read_text(encoding="utf-8")
    deal = folder / "deal-flat.yaml"
    deal.write_text(text.replace("MedCare Clinics", PLACEHOLDER).replace(
        "provider: provider.yaml", f"provider: {EXAMPLES / 'provider.yaml'}"), encoding="utf-8")
    docx = folder / "flat.docx"
    engine.generate(deal, docx)
    with zipfile.ZipFile(docx) as source:
        parts = {n: source.read(n) for n in source.namelist()}
    for name in parts:
        if name.startswith("word/") and name.endswith(".xml"):
            parts[name] = parts[name].replace(PLACEHOLDER.encode(), b"{{ customer_name }}")
    template = folder / "flat-template.docx"
    with zipfile.ZipFile(template, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in parts.items():
            out.writestr(name, data)
    return template


def main(quick: bool) -> dict[str, float]:
    runs = 40 if quick else 200
    engine = Engine.load(ROOT / "clauses", ROOT / "templates" / "agreement.docx")
    providers = ProviderCache()
    deal_path = EXAMPLES / "deal-health-en.yaml"
    moment = datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    def engine_once() -> None:
        loaded = load_deal(deal_path, providers)
        decision = decide(loaded, engine.library)
        model = assemble(loaded, engine.library, decision, generated_at=moment)
        engine.renderer.render_bytes(model)

    with tempfile.TemporaryDirectory() as work:
        template = flat_template(engine, Path(work))
        with zipfile.ZipFile(template) as source:
            raw_parts = [(n, source.read(n)) for n in source.namelist()]
        pages = len(engine.library.clauses)

        def naive_once() -> None:
            tpl = DocxTemplate(str(template))
            tpl.render({"customer_name": "MedCare Clinics"}, autoescape=True)
            tpl.save(io.BytesIO())

        def raw_once() -> None:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
                for name, data in raw_parts:
                    if name == "word/document.xml":
                        data = data.replace(b"{{ customer_name }}", b"MedCare Clinics")
                    out.writestr(name, data)

        engine_ms = timed(engine_once, runs)
        naive_ms = timed(naive_once, max(10, runs // 4))
        raw_ms = timed(raw_once, runs)
    print(f"agreement: examples/deal-health-en.yaml ({pages} clauses in the library, 13 pages)")
    print(f"  engine (deal file -> docx bytes)  {describe(engine_ms)}")
    print(f"  naive docxtpl loop                {describe(naive_ms)}")
    print(f"  raw limit (zip + replace)         {describe(raw_ms)}")
    return {"engine": rate(engine_ms), "naive": rate(naive_ms), "raw": rate(raw_ms)}


if __name__ == "__main__":
    main("--quick" in sys.argv)
