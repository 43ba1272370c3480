"""The engine's repetition: a per-launch headline beside a per-access trace is counted once per launch."""
import numpy as np

from probes.engine.measure import run_probe
from probes.results import io
from probes.spec import Probe


def _trace_probe(headline_is_scalar: bool) -> Probe:
    calls = iter(range(10_000))

    def measure(ctx, point, params):
        k = next(calls)
        trace = np.arange(64, dtype=float) + k  # 64 rows per launch: a latency trace
        mean = float(trace.mean())
        return {"latency_cycles": trace, "cycles_per_op": mean if headline_is_scalar else trace}

    return Probe(name="fake.trace", summary="trace", measure=measure, axes=lambda env, p: {"x": (1,)},
                 unit="cycles", method="fake")


def test_scalar_headline_with_a_trace_is_one_value_per_launch(tmp_path):
    doc = run_probe(_trace_probe(True), {}, "simulator", {"gpu_slug": "sim"}, tmp_path / "r.json",
                    rule="fixed-count", rule_params={"count": 5}, progress=False, warmup=0)
    point = doc["points"][0]
    launches = len({r["rep"] for r in point["samples"]})
    assert len(point["samples"]) == 64 * launches
    assert point["summary"]["value_scope"] == "launch" and point["summary"]["n"] == launches
    assert io.load(tmp_path / "r.json")["points"][0]["summary"]["n"] == launches


def test_per_row_headline_counts_every_row(tmp_path):
    doc = run_probe(_trace_probe(False), {}, "simulator", {"gpu_slug": "sim"}, tmp_path / "r.json",
                    rule="fixed-count", rule_params={"count": 5}, progress=False, warmup=0)
    summary = doc["points"][0]["summary"]
    assert summary["value_scope"] == "row" and summary["n"] == len(doc["points"][0]["samples"])
