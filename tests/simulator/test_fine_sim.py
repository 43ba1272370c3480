"""Fine-grained chase and L2 near/far kernels under Numba's simulator: traces and per-SM claim logic are right.

Run with NUMBA_ENABLE_CUDASIM=1 in its own process. The simulator's %smid is blockIdx.x % sm_count (a private
fallback in probes/kernel/fine_ops.py), so the one-block-per-SM claim runs for both pretend SMs.
"""

import os

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)


@pytest.fixture
def ctx():
    from probes.engine import environment
    from probes.kernel.context import Context

    return Context("simulator", environment.capture("simulator"))


def test_chase_trace_records_the_last_accesses_of_every_pass_in_order(ctx):
    from probes.catalogue import latency_fine as L

    out = L.measure_chase(ctx, {"footprint_bytes": 1024, "stride_bytes": 64}, {"passes": 3})
    slots = 1024 // 64
    assert len(out["latency_cycles"]) == 3 * slots  # fits the trace: every access recorded
    assert list(out["offset_bytes"][:slots]) == [i * 64 for i in range(slots)]
    assert list(out["pass_index"]) == [p for p in range(3) for _ in range(slots)]
    assert (out["latency_cycles"] > 0).all()  # test clock: +4 per read, not a measurement


def test_long_chase_keeps_only_the_trace_window(ctx, monkeypatch):
    from probes.catalogue import latency_fine as L

    monkeypatch.setattr(L, "TRACE_LEN", 24)  # the host side caps the recorded count
    out = L.measure_chase(ctx, {"footprint_bytes": 1024, "stride_bytes": 64}, {"passes": 2})
    assert len(out["hop"]) == 24 and out["hop"][0] == 2 * 16 - 24 and out["pass_index"][-1] == 1


def test_stride_sweep_windows_move_on_between_launches(ctx, monkeypatch):
    from probes.catalogue import latency_fine as L

    L._CURSOR.clear()
    point = {"footprint_bytes": 512, "stride_bytes": 4}
    first = L.measure_stride(ctx, point, {})
    second = L.measure_stride(ctx, point, {})
    assert len(first["hop"]) == 128 and first["hop"][0] == 0 and second["hop"][0] == 0  # 128 slots: full wrap
    L._CURSOR.clear()
    monkeypatch.setattr(L, "TRACE_LEN", 50)
    a, b = L.measure_stride(ctx, point, {}), L.measure_stride(ctx, point, {})
    assert a["offset_bytes"][-1] == 196 and list(b["offset_bytes"][:2]) == [200, 204]  # b starts where a stopped
    L._CURSOR.clear()


def test_corrupted_chain_is_a_kernel_check_error(ctx):
    from probes.catalogue import latency_fine as L
    from probes.spec import KernelCheckError

    L.measure_chase(ctx, {"footprint_bytes": 512, "stride_bytes": 32}, {"passes": 2})
    d_chain, _ = L._CHAINS[(512, 32)]
    host = d_chain.copy_to_host()
    host[8 * 5] = 0  # slot 5 now jumps back to slot 0
    d_chain.copy_to_device(host)
    with pytest.raises(KernelCheckError, match="expected"):
        L.measure_chase(ctx, {"footprint_bytes": 512, "stride_bytes": 32}, {"passes": 2})
    L._CHAINS.clear()


def test_nearfar_claims_each_sm_once_and_chases_every_window(ctx):
    from probes.catalogue import latency_nearfar as L

    params = {
        "windows": 3,
        "lines_per_window": 2,
        "window_stride_bytes": 0,
        "steps": 16,
        "blocks_per_sm": 3,
        "sm_slots_factor": 2,
    }
    point = {"window_stride_bytes": L.window_stride(ctx.env, params)}
    out = L.measure(ctx, point, params)
    assert out["sms_claimed"] == ctx.env["sm_count"] == 2
    assert sorted(set(zip(out["sm"].tolist(), out["window"].tolist()))) == [(s, w) for s in (0, 1) for w in range(3)]
    assert all(b % 2 == s for b, s in zip(out["block"], out["sm"]))  # the claiming block really ran on that SM
    # test clock: +1 per L2-only load, so t(2n) - t(n) = n loads exactly: the loop counts are right
    assert (out["cycles_2n"] - out["cycles_n"] == params["steps"]).all() and (out["cycles_per_op"] == 1).all()


def test_nearfar_corrupted_window_is_a_kernel_check_error(ctx):
    from probes.catalogue import latency_nearfar as L
    from probes.spec import KernelCheckError

    params = {
        "windows": 2,
        "lines_per_window": 2,
        "window_stride_bytes": 0,
        "steps": 16,
        "blocks_per_sm": 1,
        "sm_slots_factor": 2,
    }
    point = {"window_stride_bytes": L.window_stride(ctx.env, params)}
    L.measure(ctx, point, params)
    d_mem, d_starts, _ = next(iter(L._STATE.values()))
    host = d_mem.copy_to_host()
    succ = int(host[int(d_starts.copy_to_host()[0])])  # the line after window 0's start
    host[succ] = succ  # a self-loop there: the walk ends on it
    d_mem.copy_to_device(host)
    with pytest.raises(KernelCheckError, match="window 0"):
        L.measure(ctx, point, params)
    L._STATE.clear()


def test_simulated_runs_analyse_without_a_split(tmp_path):
    from probes.analysis import finegrained as fg
    from probes.analysis import nearfar as nf
    from probes.cli import main
    from probes.results import io

    assert (
        main(
            [
                "run",
                "latency.l2.nearfar",
                "--backend",
                "simulator",
                "--out",
                str(tmp_path),
                "--quiet",
                "--param",
                "windows=4",
                "--param",
                "steps=16",
                "--param",
                "blocks_per_sm=2",
            ]
        )
        == 0
    )
    assert not nf.from_doc(io.load(next(tmp_path.glob("*.json")))).split  # constant test clock: one group
    assert (
        main(
            [
                "run",
                "latency.fine.chase",
                "--backend",
                "simulator",
                "--out",
                str(tmp_path / "f"),
                "--quiet",
                "--param",
                "footprint_bytes=512",
                "--param",
                "stride_bytes=64",
                "--param",
                "passes=2",
            ]
        )
        == 0
    )
    traces = fg.traces_from_doc(io.load(next((tmp_path / "f").glob("*.json"))))
    assert len(traces) == 1 and traces[0].slots == 8 and list(traces[0].pass_index) == [0] * 8 + [1] * 8
    assert fg.infer_all(traces, [])["threshold"] is None
