"""Benchmark: cold and warm build time of the full static instruction atlas (every instruction x every architecture).

    .venv/bin/python tests/bench_static_atlas.py [--repeat N]

Cold: a fresh process with an empty cache (GPU_PROBES_CACHE = a new temp dir), so every architecture is assembled,
disassembled and decoded. Warm: a fresh process on the filled cache. Each run is a separate interpreter, so the
import of pandas and the in-process tool-version look-ups count, as they do for `make static`.
Targets (issue 10): cold <= 60 s, warm <= 5 s on a 2-core machine. Not a pytest test: it takes a minute.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ("from pathlib import Path; from probes.static import instruction_atlas as a; "
         "df = a.build(Path({out!r}), progress=False); print(len(df))")


def _run(cache: str, out: str) -> float:
    env = dict(os.environ, GPU_PROBES_CACHE=cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILD.format(out=out)], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs to time")
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="atlas-cache-") as cache, \
                tempfile.TemporaryDirectory(prefix="atlas-out-") as out:
            cold.append(_run(cache, out))
            warm.append(_run(cache, out))
    print(f"cold build: {statistics.median(cold):.1f} s (target <= 60 s; runs {', '.join(f'{t:.1f}' for t in cold)})")
    print(f"warm build: {statistics.median(warm):.2f} s (target <= 5 s; runs {', '.join(f'{t:.2f}' for t in warm)})")
    print(f"machine: {os.cpu_count()} CPU cores")
    return 0 if statistics.median(cold) <= 60 and statistics.median(warm) <= 5 else 1


if __name__ == "__main__":
    sys.exit(main())
