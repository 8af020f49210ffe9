"""benchmarks/bench_web.py still runs and prints its figure in the documented form."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_web.py"


def test_bench_web_prints_its_line() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert re.fullmatch(r"web: new agreement p50 \d+ ms \(form post to \.docx ready\)",
                        run.stdout.strip().splitlines()[-1])
