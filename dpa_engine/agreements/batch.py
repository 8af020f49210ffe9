"""Batch generation: many deals, all cores, failures isolated, a summary at the end.

Each worker process loads the clause library and prepares the template once, keeps provider
profiles it has read, and (with PDFs) keeps one warm LibreOffice. One bad deal is reported
with its error; the others still succeed.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import multiprocessing.util
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ..errors import DpaError, InputError
from ..files import write_atomically
from ..render import LibreOfficeConverter
from ..render.pdf import WarmLibreOffice, uno_available
from ..safetext import UNSAFE_FIX, unsafe_character
from ..yamlsource import read_input
from .deals import scan_deal_folder
from .engine import Engine

SUMMARY_NAME = "batch-summary.json"


class BatchItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    deal: str
    status: Literal["ok", "failed"]
    docx: str | None = None
    pdf: str | None = None
    draft: bool | None = None
    error: str | None = None
    milliseconds: float


class BatchSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    source: str
    output_dir: str
    jobs: int
    pdf: bool
    pdf_engine: Literal["warm", "cold", "none"]
    total: int
    succeeded: int
    failed: int
    seconds: float
    per_second: float
    items: list[BatchItem]


@dataclass(frozen=True)
class BatchJob:
    deal: Path
    docx: Path


def find_jobs(source: Path, output_dir: Path) -> list[BatchJob]:
    """Deal files in a folder (YAML files with a `customer:` key), or listed in a CSV file
    with a `deal` column (paths relative to the CSV) and an optional `output` column."""
    if source.is_dir():
        # An entry that cannot be read becomes a job too: it fails alone, with its error.
        scan = scan_deal_folder(source)
        deals = sorted([*scan.deals, *(path for path, _ in scan.unreadable)])
        jobs = [BatchJob(d, output_dir / f"{d.stem}.docx") for d in deals]
    elif source.is_file() and source.suffix.lower() == ".csv":
        jobs = list(_jobs_from_csv(source, output_dir))
    elif source.exists():
        raise InputError("expected a folder of deal files or a .csv file", path=source,
                         fix="pass a folder with deal YAML files or a CSV with a 'deal' column")
    else:
        raise InputError("not found", path=source, fix="check the path")
    if not jobs:
        raise InputError("no deal files found", path=source,
                         fix="deal files are YAML files with a 'customer:' section")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.docx in seen:
            raise InputError(f"two deals would write {job.docx.name} ({seen[job.docx]} and "
                             f"{job.deal})", path=source,
                             fix="give them different file names or an 'output' column")
        seen[job.docx] = job.deal
    return jobs


def _jobs_from_csv(source: Path, output_dir: Path) -> Iterator[BatchJob]:
    text = read_input(source, what="CSV file").removeprefix("\ufeff")
    found = unsafe_character(text)
    if found is not None:
        raise InputError(f"contains the invisible character {found[1]}", path=source,
                         line=text.count("\n", 0, found[0]) + 1, fix=UNSAFE_FIX)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        yield from _csv_rows(reader, source, output_dir)
    except csv.Error as exc:
        raise InputError(f"the CSV cannot be read ({exc})", path=source, line=reader.line_num,
                         fix="save it as a plain comma-separated file (UTF-8)") from None


def _csv_rows(reader: csv.DictReader[str], source: Path, output_dir: Path) -> Iterator[BatchJob]:
    if reader.fieldnames is None or "deal" not in reader.fieldnames:
        raise InputError("the CSV has no 'deal' column", path=source, line=1,
                         fix="add a header line with a 'deal' column (and optionally 'output')")
    for row in reader:
        line = reader.line_num
        deal = (row.get("deal") or "").strip()
        if not deal:
            raise InputError("empty 'deal' cell", path=source, line=line,
                             fix="give the deal file's path or remove the row")
        deal_path = Path(os.path.abspath(source.parent / deal))  # resolve() fails on a loop
        name = (row.get("output") or "").strip() or f"{deal_path.stem}.docx"
        if not name.endswith(".docx") or "/" in name or name.startswith("."):
            raise InputError(f"bad output name '{name}'", path=source, line=line,
                             fix="a plain file name ending in .docx")
        yield BatchJob(deal_path, output_dir / name)


def _output_folder(output_dir: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError("the output folder is a file", path=output_dir,
                         fix="give -o a folder (it is created when missing)")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder ({exc.strerror})", path=output_dir,
                         fix="give -o a folder you may write to") from None


# --- worker side ---------------------------------------------------------------------------

class _Worker:
    engine: Engine | None = None
    converter: WarmLibreOffice | LibreOfficeConverter | None = None


def _init_worker(library: Path | None, template: Path | None, pdf_engine: str) -> None:
    if _Worker.engine is None:  # a forked worker inherits the coordinator's loaded engine
        _Worker.engine = Engine.load(library, template)
    if pdf_engine == "warm":
        _Worker.converter = WarmLibreOffice()
    elif pdf_engine == "cold":
        _Worker.converter = LibreOfficeConverter()
    if _Worker.converter is not None:
        # Workers end through multiprocessing's exit path, which runs these finalizers.
        multiprocessing.util.Finalize(None, _Worker.converter.close, exitpriority=10)


def _run_job(job: BatchJob) -> BatchItem:
    started = time.perf_counter()
    engine = _Worker.engine
    assert engine is not None, "worker not initialised"
    try:
        result = engine.generate(job.deal, job.docx)
        pdf: Path | None = None
        if _Worker.converter is not None:
            pdf = job.docx.with_suffix(".pdf")
            _Worker.converter.convert(job.docx, pdf)
        return BatchItem(deal=str(job.deal), status="ok", docx=str(job.docx),
                         pdf=str(pdf) if pdf else None, draft=result.draft,
                         milliseconds=_ms(started))
    except DpaError as exc:
        return BatchItem(deal=str(job.deal), status="failed", error=exc.message,
                         milliseconds=_ms(started))
    except Exception as exc:  # isolate the unexpected too: one deal must not stop the batch
        return BatchItem(deal=str(job.deal), status="failed",
                         error=f"internal error: {type(exc).__name__}: {exc}",
                         milliseconds=_ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


# --- coordinator ---------------------------------------------------------------------------

def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))


def run_batch(
    source: Path,
    output_dir: Path,
    *,
    pdf: bool = False,
    jobs: int | None = None,
    library: Path | None = None,
    template: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    on_item: Callable[[BatchItem], None] | None = None,
) -> BatchSummary:
    """Generate every deal of `source` into `output_dir`; never raises for a single bad deal."""
    planned = find_jobs(source, output_dir)
    workers = max(1, min(jobs or default_jobs(), len(planned)))
    # Fail fast on a broken library or template, before forking; forked workers reuse it.
    _Worker.engine = Engine.load(library, template)
    pdf_engine: Literal["warm", "cold", "none"] = "none"
    if pdf:
        pdf_engine = "warm" if uno_available() else "cold"
        if pdf_engine == "cold":
            LibreOfficeConverter().close()  # raises a clear error when LibreOffice is missing
    _output_folder(output_dir)
    if on_start:
        on_start(len(planned))
    started = time.perf_counter()
    items: list[BatchItem] = []

    def record(item: BatchItem) -> None:
        items.append(item)
        if on_item:
            on_item(item)

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker,
                             initargs=(library, template, pdf_engine)) as pool:
        futures: dict[Future[BatchItem], BatchJob] = {pool.submit(_run_job, j): j for j in planned}
        for future in as_completed(futures):
            job = futures[future]
            try:
                record(future.result())
            except BrokenProcessPool:
                record(BatchItem(deal=str(job.deal), status="failed", milliseconds=0,
                                 error="the worker process died (out of memory or killed)"))
    seconds = time.perf_counter() - started
    items.sort(key=lambda i: i.deal)
    succeeded = sum(1 for i in items if i.status == "ok")
    summary = BatchSummary(
        source=str(source), output_dir=str(output_dir), jobs=workers, pdf=pdf,
        pdf_engine=pdf_engine, total=len(items), succeeded=succeeded,
        failed=len(items) - succeeded, seconds=round(seconds, 3),
        per_second=round(len(items) / seconds, 2) if seconds else 0.0, items=items,
    )
    write_atomically(output_dir / SUMMARY_NAME,
                     summary.model_dump_json(indent=2).encode("utf-8"))
    return summary
