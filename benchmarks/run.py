"""Runs every benchmark and ends with one summary line per figure.

    python benchmarks/run.py [--quick]

Quick mode (under a minute) uses fewer agreements; the figures are noisier.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_docx  # noqa: E402


def batch(count: int, pdf: bool = False) -> dict[str, float]:
    args = [sys.executable, str(HERE / "bench_batch.py"), str(count)] + (["--pdf"] if pdf else [])
    run = subprocess.run(args, capture_output=True, text=True, cwd=HERE)
    if run.returncode != 0:
        raise SystemExit(f"bench_batch failed: {run.stderr.strip()[-500:]}")
    result: dict[str, float] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def fanout(quick: bool) -> str | None:
    script = HERE / "bench_fanout.py"
    if not script.is_file():
        return None
    run = subprocess.run([sys.executable, str(script)] + (["--quick"] if quick else []),
                         capture_output=True, text=True, cwd=HERE)
    print(run.stdout.rstrip())
    if run.returncode != 0:
        return f"fan-out: FAILED ({run.stderr.strip().splitlines()[-1] if run.stderr else '?'})"
    return run.stdout.strip().splitlines()[-1]


def public(quick: bool) -> str | None:
    script = HERE / "bench_public.py"
    run = subprocess.run([sys.executable, str(script)] + (["--quick"] if quick else []),
                         capture_output=True, text=True, cwd=HERE)
    print(run.stdout.rstrip())
    if run.returncode != 0:
        return f"web: FAILED ({run.stderr.strip().splitlines()[-1] if run.stderr else '?'})"
    return run.stdout.strip().splitlines()[-1]


def main() -> None:
    quick = "--quick" in sys.argv
    started = time.perf_counter()
    print("== docx, one process ==")
    single = bench_docx.main(quick)
    print("== batch docx, all cores ==")
    small, large = (50, 200) if quick else (100, 1000)
    first, second = batch(small), batch(large)
    for result in (first, second):
        print(f"  {result['count']:5.0f} agreements: {result['per_second']:6.1f}/s on "
              f"{result['jobs']:.0f} jobs, p50 {result['p50_ms']:.1f} ms, p95 "
              f"{result['p95_ms']:.1f} ms, peak RSS parent {result['parent_rss_mb']} MB, "
              f"worker {result['worker_rss_mb']} MB")
    print("== batch docx + PDF, warm LibreOffice per worker ==")
    # (at least 20: with fewer, the two workers' LibreOffice cold starts dominate the rate)
    pdf = batch(20 if quick else 40, pdf=True)
    print(f"  {pdf['count']:5.0f} agreements: {pdf['per_second']:6.2f}/s, p50 {pdf['p50_ms']:.0f} ms,"
          f" p95 {pdf['p95_ms']:.0f} ms ({pdf['pdf_engine']} LibreOffice), peak RSS worker "
          f"{pdf['worker_rss_mb']} MB")
    print("== notice fan-out ==")
    fan = fanout(quick)
    print("== customer's notice page (web) ==")
    web_page = public(quick)
    growth = second["worker_rss_mb"] - first["worker_rss_mb"]
    print(f"\n-- summary ({time.perf_counter() - started:.0f} s{', quick' if quick else ''}) --")
    print(f"docx: {single['engine']:.1f} agreements/s, {single['engine'] / single['naive']:.1f}x naive "
          f"docxtpl, {100 * single['engine'] / single['raw']:.0f} % of raw limit")
    print(f"batch: {second['per_second']:.1f} agreements/s on {second['jobs']:.0f} cores, "
          f"{second['count']:.0f} agreements, worker memory {second['worker_rss_mb']} MB "
          f"({growth:+.1f} MB vs {first['count']:.0f})")
    print(f"pdf: {pdf['per_second']:.1f} agreements/s")
    if fan:
        print(fan)
    if web_page:
        print(web_page)
    subprocess.run([sys.executable, str(HERE / "bench_web.py"), *(["--quick"] if quick else [])], check=False)
    print((subprocess.run([sys.executable, str(HERE / "bench_cli.py")], capture_output=True,
                          text=True, cwd=HERE).stdout.strip().splitlines() or ["cli: FAILED"])[-1])


if __name__ == "__main__":
    main()
