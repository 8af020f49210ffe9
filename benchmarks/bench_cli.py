"""How long `dpa` takes to start: `dpa --help` and `dpa generate` of the standard example,
each the median of 5 fresh processes (wall time, and the CPU time the process used).

    python benchmarks/bench_cli.py [--runs N]

Ends with `cli: --help X s, generate Y s` (goals: --help <= 0.3 s, generate <= 1.0 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import EXAMPLES

DPA = str(Path(sys.executable).parent / "dpa")


def timed_run(args: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh `dpa` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([DPA, *args], cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def median_of(args: list[str], cwd: str, runs: int) -> tuple[float, float]:
    samples = [timed_run(args, cwd) for _ in range(runs)]
    return (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    env_clean = {k: v for k, v in os.environ.items() if not k.startswith("DPA_")}
    os.environ.clear()
    os.environ.update(env_clean)
    with tempfile.TemporaryDirectory(prefix="dpa-bench-cli-") as work:
        # from an empty folder: the packaged library and template, as a newcomer runs it
        help_wall, help_cpu = median_of(["--help"], work, runs)
        deal = str(EXAMPLES / "deal-standard-nl.yaml")
        gen_wall, gen_cpu = median_of(["generate", deal, "-o", "out.docx"], work, runs)
    print(f"  dpa --help: median {help_wall:.2f} s wall, {help_cpu:.2f} s CPU ({runs} processes)")
    print(f"  dpa generate {Path(deal).name}: median {gen_wall:.2f} s wall, {gen_cpu:.2f} s CPU")
    print(f"cli: --help {help_wall:.2f} s, generate {gen_wall:.2f} s")


if __name__ == "__main__":
    main()
