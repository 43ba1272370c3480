"""Benchmark: regenerate the cross-GPU comparison (reports/README.md) for 10 GPUs of synthetic data.

    .venv/bin/python -m pytest -q tests/bench_report.py --benchmark-enable      (`make bench` runs it)

Not collected by a plain `pytest` run (the file name does not match test_*.py). Target (issue 6): <= 10 s on a
2-core machine. The data are made up and the report sections are stand-ins doing the same kind of work as the real
ones (tables, findings, one matplotlib figure per GPU, an overlay figure in compare()), built in a temporary folder.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from probes.report import build, sections
from probes.report.sections import Figure, Finding, Paragraph, Section, Table
from probes.results import io
from probes.results.schema import SCHEMA_VERSION

N_GPUS, LADDER_POINTS, INSTRUCTIONS, SAMPLES = 10, 120, 60, 10
TARGET_S = 10.0


def _doc(name: str, gpu: str, axis: str, values, rng) -> dict:
    points = []
    for x, v in zip(*values):
        samples = [
            {
                "cycles_per_op": float(v + e),
                "sm_mhz_before": 1755,
                "sm_mhz_after": 1755,
                "throttled": False,
                "rep": k,
                "index": 0,
            }
            for k, e in enumerate(rng.normal(0, 0.3, SAMPLES))
        ]
        points.append(
            {
                "axes": {axis: x},
                "samples": samples,
                "summary": {
                    "median": float(v),
                    "ci_low": float(v) - 0.4,
                    "ci_high": float(v) + 0.4,
                    "n": SAMPLES,
                    "n_throttled": 0,
                    "stop_reason": "ci<=1%",
                },
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "name": name,
            "version": "bench",
            "params": {},
            "unit": "cycles",
            "method": "synthetic",
            "value_key": "cycles_per_op",
        },
        "backend": "gpu",
        "outcome": "ok",
        "environment": {"gpu_name": gpu, "compute_capability": [9, 0], "sm_count": 132, "versions": {}},
        "started_at": "2026-11-20T10:00:00+00:00",
        "finished_at": "2026-11-20T12:00:00+00:00",
        "points": points,
    }


def _ladder(docs):
    import matplotlib.pyplot as plt
    import pandas as pd

    doc = docs[0]
    fp = [p["axes"]["footprint_bytes"] for p in doc["points"]]
    lat = [p["summary"]["median"] for p in doc["points"]]
    fig, ax = plt.subplots(figsize=(9, 5))
    ax.plot(fp, lat, "o", ms=3)
    ax.set_xscale("log", base=2)
    findings = [
        Finding(
            "ladder",
            f"{lvl} latency",
            lat[i],
            "cycles",
            "undocumented",
            "Plateau.",
            ci=(lat[i] - 0.4, lat[i] + 0.4),
            surprise=i,
            figure="ladder-global",
            data=(doc["_file"],),
        )
        for lvl, i in (("L1", 5), ("L2", 60), ("DRAM", 115))
    ]
    return Section(
        "ladder",
        "Latency ladder",
        [
            Paragraph("Chase."),
            Table(pd.DataFrame({"footprint [bytes]": fp, "latency [cycles]": lat})),
            Figure("ladder-global", fig),
        ],
        findings,
    )


def _ladder_overlay(docs_by_gpu):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for gpu, docs in docs_by_gpu.items():
        pts = docs[0]["points"]
        ax.plot([p["axes"]["footprint_bytes"] for p in pts], [p["summary"]["median"] for p in pts], label=gpu)
    ax.set_xscale("log", base=2)
    ax.legend()
    return [Figure("ladder-overlay", fig, "latency ladders of every GPU")]


def _instructions(docs):
    doc = docs[0]
    return Section(
        "instructions",
        "Instructions",
        [],
        [
            Finding(
                "instructions",
                f"op{p['axes']['op']} latency",
                p["summary"]["median"],
                "cycles",
                "undocumented",
                "Dependent chain.",
                ci=(p["summary"]["ci_low"], p["summary"]["ci_high"]),
                data=(doc["_file"],),
            )
            for p in doc["points"]
        ],
    )


FAMILIES = (
    types.SimpleNamespace(
        FAMILY="ladder",
        TITLE="Latency ladder",
        PREFIXES=("latency.ladder.",),
        ORDER=10,
        section=_ladder,
        compare=_ladder_overlay,
    ),
    types.SimpleNamespace(
        FAMILY="instructions", TITLE="Instructions", PREFIXES=("instructions.",), ORDER=30, section=_instructions
    ),
)


@pytest.fixture(scope="module")
def ten_gpus(tmp_path_factory):
    reports = tmp_path_factory.mktemp("reports")
    rng = np.random.default_rng(0)
    fp = 2.0 ** np.linspace(10, 32, LADDER_POINTS)
    for g in range(N_GPUS):
        data = reports / f"gpu-{g}" / "data"
        ladder = np.where(fp < 2**18, 30.0, np.where(fp < 2**25, 250.0 + 10 * g, 600.0 + 20 * g))
        io.save(
            _doc("latency.ladder.global", f"GPU {g}", "footprint_bytes", (fp.tolist(), ladder), rng),
            data / "latency.ladder.global.json",
        )
        io.save(
            _doc(
                "instructions.latency",
                f"GPU {g}",
                "op",
                (list(range(INSTRUCTIONS)), rng.uniform(4, 40, INSTRUCTIONS)),
                rng,
            ),
            data / "instructions.latency.json",
        )
    return reports


def test_comparison_of_ten_gpus(benchmark, ten_gpus, monkeypatch):
    monkeypatch.setattr(sections, "families", lambda: FAMILIES)
    out = benchmark.pedantic(build.build_comparison, args=(ten_gpus,), rounds=3, iterations=1)
    text = out.read_text()
    assert text.count("](gpu-") == 2 * N_GPUS and "compare/ladder-overlay.png" in text
    assert (ten_gpus / "compare" / "ladder-overlay.png").is_file()
    if not benchmark.disabled:
        median = benchmark.stats.stats.median
        print(f"\ncomparison of {N_GPUS} GPUs: median {median:.2f} s over 3 rounds (target <= {TARGET_S} s)")
        assert median <= TARGET_S
