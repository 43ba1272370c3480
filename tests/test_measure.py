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

    return Probe(
        name="fake.trace",
        summary="trace",
        measure=measure,
        axes=lambda env, p: {"x": (1,)},
        unit="cycles",
        method="fake",
    )


def test_scalar_headline_with_a_trace_is_one_value_per_launch(tmp_path):
    doc = run_probe(
        _trace_probe(True),
        {},
        "simulator",
        {"gpu_slug": "sim"},
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 5},
        progress=False,
        warmup=0,
    )
    point = doc["points"][0]
    launches = len({r["rep"] for r in point["samples"]})
    assert len(point["samples"]) == 64 * launches
    assert point["summary"]["value_scope"] == "launch" and point["summary"]["n"] == launches
    assert io.load(tmp_path / "r.json")["points"][0]["summary"]["n"] == launches


def test_per_row_headline_counts_every_row(tmp_path):
    doc = run_probe(
        _trace_probe(False),
        {},
        "simulator",
        {"gpu_slug": "sim"},
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 5},
        progress=False,
        warmup=0,
    )
    summary = doc["points"][0]["summary"]
    assert summary["value_scope"] == "row" and summary["n"] == len(doc["points"][0]["samples"])


# ---- the engine derives per-op values (issue 21 §1) ------------------------------------------------------------


def test_per_op_gives_the_numbers_the_probes_computed_before():
    """One function writes (t(2n) - t(n)) / steps; the chase, cache-hint and prefetch samples are what they were."""
    from probes.catalogue.cache_hints import host
    from probes.kernel import chase
    from probes.kernel import timed_pass as T

    c1, n1, c2, n2, steps = 10_337, 5_011, 20_913, 10_200, 48
    assert chase.per_load_sample(c1, n1, c2, n2, steps) == {
        "cycles_per_op": (c2 - c1) / steps,
        "ns_per_op": (n2 - n1) / steps,
        "cycles": c2 - c1,
        "ns": n2 - n1,
        "cycles_n": c1,
        "cycles_2n": c2,
        "ns_n": n1,
        "ns_2n": n2,
        "steps": steps,
        "unroll": T.UNROLL,
    }
    assert chase.per_load_sample(c1, n1, c2, n2, steps)["cycles_per_op"] == 220.33333333333334
    out = np.array([7, 3, c1, c2], dtype=np.uint64)
    assert host.timed(out, 2, steps) == {"cycles_per_op": (c2 - c1) / steps, "cycles_n": c1, "cycles_2n": c2}
    assert host.timed(out, 2, steps, "band_l2_cycles") == {
        "band_l2_cycles": (c2 - c1) / steps,
        "band_l2_cycles_n": c1,
        "band_l2_cycles_2n": c2,
    }
    t = np.array([[400, 1010], [390, 1200]], dtype=np.int64)  # prefetch: t(1) and t(2) per triple
    got = T.per_op({"cycles_n": t[:, 0], "cycles_2n": t[:, 1], "steps": 1})["cycles_per_op"]
    assert got.dtype == float and list(got) == list((t[:, 1] - t[:, 0]).astype(float)) == [610.0, 810.0]
    assert T.per_op({"cycles_n": 1, "cycles_2n": 9, "steps": 2, "cycles_per_op": 3.5})["cycles_per_op"] == 3.5
    assert "cycles_per_op" not in T.per_op({"cycles_n": 1, "cycles_2n": 9})  # no step count: nothing


def _raw_probe(value_key: str = "cycles_per_op") -> Probe:
    def measure(ctx, point, params):
        return {
            "cycles_n": 1000,
            "cycles_2n": 1000 + 16 * point["x"],
            "ns_n": 500,
            "ns_2n": 500 + 8 * point["x"],
            "steps": 16,
        }

    return Probe(
        name="fake.raw",
        summary="raw",
        measure=measure,
        axes=lambda env, p: {"x": (4, 32)},
        unit="cycles",
        method="fake",
        value_key=value_key,
    )


def test_the_engine_derives_per_op_values_for_samples_that_hand_back_raw_times(tmp_path):
    from probes.engine.measure import derive_per_op

    doc = run_probe(
        _raw_probe(),
        {},
        "simulator",
        {"gpu_slug": "sim"},
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 3},
        progress=False,
        warmup=0,
    )
    for point, x in zip(doc["points"], (4, 32)):
        assert {(r["cycles_per_op"], r["ns_per_op"]) for r in point["samples"]} == {(float(x), x / 2)}
        assert point["summary"]["median"] == x
    assert io.load(tmp_path / "r.json")["points"][1]["samples"][0]["cycles_per_op"] == 32.0
    kept = {"cycles_n": 1, "cycles_2n": 33, "steps": 16, "cycles_per_op": 7.0}
    assert derive_per_op(kept) == kept  # a probe's own value is kept
