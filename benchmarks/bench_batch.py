"""Batch generation on all cores: rate and peak memory (docx, or docx + PDF).

Run as `python bench_batch.py COUNT [--pdf]`: prints one JSON object, so the caller measures
each batch size in a fresh process and can compare peak memory (flat = no growth with COUNT).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from common import ROOT, make_deals, peak_rss_mb

from dpa_engine.agreements.batch import run_batch


def main(count: int, pdf: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        deals = Path(work) / "deals"
        make_deals(deals, count)
        summary = run_batch(deals, Path(work) / "out", pdf=pdf, library=ROOT / "clauses",
                            template=ROOT / "templates" / "agreement.docx")
    if summary.failed:
        raise SystemExit(f"{summary.failed} agreements failed: {summary.items[0].error}")
    ms = sorted(i.milliseconds for i in summary.items)
    return {
        "count": count, "per_second": summary.per_second, "seconds": summary.seconds,
        "p50_ms": ms[len(ms) // 2], "p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "jobs": summary.jobs, "pdf_engine": summary.pdf_engine,
        "parent_rss_mb": round(peak_rss_mb(), 1),
        "worker_rss_mb": round(peak_rss_mb(children=True), 1),
    }


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), "--pdf" in sys.argv)))
