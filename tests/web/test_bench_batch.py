"""benchmarks/bench_web_batch.py still runs and prints its figure in the documented form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_web_batch.py"


def test_bench_web_batch_prints_its_line() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--deals", "3"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"web: batch upload of 3 deals \d+\.\d s \(\d+ ms per deal\), "
                        r"\.zip \d+ ms", run.stdout.strip().splitlines()[-1])
