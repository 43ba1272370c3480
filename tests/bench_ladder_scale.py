"""Benchmark (not a unit test): `detect_levels` time and peak memory on synthetic ladders of 10^3 .. 10^6 points.

Run: `PYTHONPATH=. python tests/bench_ladder_scale.py [max_points]`. The ladder is synthetic (a 3-level step ladder
with 0.5 % noise, distinct log-spaced footprints); it measures the analysis's cost only, never a GPU. Prints one
Markdown row per size: points, distinct footprints, wall seconds, peak traced memory (tracemalloc), levels found.
"""

from __future__ import annotations

import sys
import time
import tracemalloc

import numpy as np

from probes.analysis.levels import DetectionParams, detect_levels


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    fp = np.geomspace(1024, 2**32, n)
    lat = np.where(fp < 192 * 1024, 32.0, np.where(fp < 40 * 2**20, 260.0, 650.0))
    return fp, lat * (1 + 0.005 * np.random.default_rng(seed).standard_normal(n))


def main(max_points: int = 10**6) -> None:
    print(
        f"| points | distinct footprints | seconds | peak MiB (tracemalloc) | levels "
        f"| bin_above={DetectionParams().bin_above} |"
    )
    print("|---|---|---|---|---|---|")
    n = 1000
    while n <= max_points:
        fp, lat = synthetic(n)
        tracemalloc.start()
        t0 = time.perf_counter()
        levels = detect_levels(fp, lat)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(
            f"| {n} | {np.unique(fp).size} | {dt:.2f} | {peak:.0f} | "
            f"{', '.join(f'{lv.name} {lv.latency_cycles:.0f}' for lv in levels)} | |"
        )
        n *= 10


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10**6)
