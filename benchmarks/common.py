"""Shared helpers for the benchmark scripts (figures, not tests)."""

from __future__ import annotations

import glob
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def timed(func: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per call, `runs` calls after one warm-up call."""
    func()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def describe(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (f"{1000 / statistics.mean(samples):7.1f}/s   p50 {statistics.median(samples):6.2f} ms"
            f"   p95 {p95:6.2f} ms")


def rate(samples: list[float]) -> float:
    return 1000 / statistics.mean(samples)


def peak_rss_mb(children: bool = False) -> float:
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024


def make_deals(folder: Path, count: int) -> None:
    """`count` deal files (copies of the examples with distinct customers) plus the profile."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "provider.yaml", folder / "provider.yaml")
    sources = sorted(EXAMPLES.glob("deal-*.yaml"))
    texts = [p.read_text(encoding="utf-8") for p in sources]
    for index in range(count):
        source = sources[index % len(sources)]
        text = texts[index % len(texts)]
        name = source.stem.split("deal-", 1)[1]
        text = text.replace("reference: DPA-2026-", f"reference: B{index:05d}-")
        (folder / f"deal-{index:05d}-{name}.yaml").write_text(text, encoding="utf-8")


@contextmanager
def throwaway_postgres() -> Iterator[Callable[..., str]]:
    """A PostgreSQL cluster in a temporary folder, listening on a unix socket only, with its
    usual durability (fsync on). Yields `database(name, template=None)` -> URL."""
    found = shutil.which("initdb")
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found and not candidates:
        raise SystemExit("PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    bindir = Path(found).resolve().parent if found else Path(candidates[-1]).parent
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="dpa-bench-pg-"))
    if prefix:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", 54339
    subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A",
                    "trust", "-E", "UTF8", "--locale=C"], check=True, capture_output=True)
    subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l",
                    str(root / "server.log"), "-w", "-o",
                    f"-k {root} -p {port} -c listen_addresses='' -c max_connections=200",
                    "start"], check=True, capture_output=True)

    def database(name: str, template: str | None = None) -> str:
        import psycopg

        with psycopg.connect(host=str(root), port=port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}"
                               + (f" TEMPLATE {template}" if template else ""))
        return f"postgresql+psycopg://postgres@/{name}?host={root}&port={port}"

    try:
        yield database
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast",
                        "stop"], capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)
