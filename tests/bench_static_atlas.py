"""Benchmark: cold and warm build time of the static atlases (every entry x every architecture).

    .venv/bin/python tests/bench_static_atlas.py [--repeat N] [--which instructions|variants|all]

Cold: a fresh process with an empty cache (GPU_PROBES_CACHE = a new temp dir), so every architecture is assembled,
disassembled and decoded. Warm: a fresh process on the filled cache. `+1 variant`: the warm cache plus one variant
that is not in it (the rebuild assembles only that variant's kernels). Each run is a separate interpreter, so the
import of pandas and the in-process tool-version look-ups count, as they do for `make static`.
Targets (issue 23): both atlases cold <= 120 s, one added variant <= 5 s on a 2-core machine. Not a pytest test.
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
BUILDS = {
    "instructions": "from pathlib import Path; from probes.static import instruction_atlas as a; "
                    "df = a.build(Path({out!r}), progress=False); print(len(df))",
    "variants": "from pathlib import Path; from probes.static import variant_atlas as a; "
                "df = a.build(Path({out!r}), progress=False); print(len(df))",
    "variants+1": "from pathlib import Path; from probes.static import variant_atlas as a, variants as v; "
                  "t = v.table() + (v.Variant('bench.extra', 'bench', 'add.s32 {{d:b32}}, {{a:b32}}, 12345;'),); "
                  "v.table = lambda: t; v.by_name.cache_clear(); "
                  "df = a.build(Path({out!r}), progress=False); print(len(df))",
}


def _run(which: str, cache: str, out: str) -> float:
    env = dict(os.environ, GPU_PROBES_CACHE=cache)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILDS[which].format(out=out)], cwd=ROOT, env=env, check=True,
                   capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs to time")
    parser.add_argument("--which", default="all", choices=("instructions", "variants", "all"))
    args = parser.parse_args()
    kinds = ["instructions", "variants"] if args.which == "all" else [args.which]
    ok = True
    for kind in kinds:
        cold, warm, plus = [], [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="atlas-cache-") as cache, \
                    tempfile.TemporaryDirectory(prefix="atlas-out-") as out:
                cold.append(_run(kind, cache, out))
                warm.append(_run(kind, cache, out))
                if kind == "variants":
                    plus.append(_run("variants+1", cache, out))
        print(f"{kind}: cold {statistics.median(cold):.1f} s, warm {statistics.median(warm):.2f} s"
              + (f", +1 variant {statistics.median(plus):.2f} s" if plus else ""))
        ok &= statistics.median(warm) <= 5 and (not plus or statistics.median(plus) <= 5)
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
