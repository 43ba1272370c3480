"""Cache-hint kernels under Numba's simulator: staleness counter logic, checksums and chain checks.

Run in its own process with NUMBA_ENABLE_CUDASIM=1 (the simulator is fixed at import). The simulated clock is a
test clock (+4 per chase step), so latencies here test the arithmetic, not the hardware.
"""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)


@pytest.fixture
def ctx():
    from probes.catalogue.cache_hints import host
    from probes.engine import environment
    from probes.kernel.context import Context

    host.CACHE.clear()
    return Context("simulator", environment.capture("simulator"))


def test_staleness_log_is_a_non_decreasing_sequence_of_written_values(ctx):
    from probes.catalogue.cache_hints import kernels, staleness

    writes, polls, consumers = 6, 24, 2
    flag = ctx.to_device(np.zeros(1, dtype=np.uint32))
    wtime = ctx.to_device(np.zeros(writes + 1, dtype=np.uint64))
    obs = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint32))
    otime = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint64))
    sm = ctx.to_device(np.zeros(consumers + 1, dtype=np.uint32))
    ctx.kernel("stale", kernels.staleness_kernel("nc.L1::no_allocate"))[consumers + 1, 1](
        flag, writes, np.uint64(4), polls, wtime, obs, otime, sm, 0
    )
    assert int(flag.copy_to_host()[0]) == writes
    w = wtime.copy_to_host()
    assert int(w[0]) == kernels.marker("staleness", "nc.L1::no_allocate")
    assert np.all(np.diff(w[1:].astype(np.int64)) > 0)  # one stamp per write, in order
    for c in range(consumers):
        log = obs.copy_to_host()[c * polls : (c + 1) * polls].astype(int)
        assert set(log) <= set(range(writes + 1))  # only values the producer wrote (or the initial 0)
        assert np.all(np.diff(log) >= 0)  # never an older value after a newer one
        counts = staleness.litmus_counts(log, otime.copy_to_host()[c * polls : (c + 1) * polls], w)
        assert counts["regressions"] == 0 and counts["polls"] == polls
        assert 0 <= counts["stale_reads"] <= polls - 1 and counts["last_seen"] == log.max()


def test_staleness_measure_rows_per_consumer(ctx):
    from probes.catalogue.cache_hints import staleness

    rows = staleness.measure_staleness(
        ctx, {"hint": "volatile"}, {"writes": 3, "polls": 8, "consumers": 2, "gap_cycles": 4}
    )
    assert rows["consumer"] == [0, 1] and all(p == 8 for p in rows["polls"])
    assert all(0.0 <= f <= 1.0 for f in rows["fresh_fraction"])


def test_chase_latency_cancels_overhead_exactly(ctx):
    """One simulated clock read (+4) per load: (t(2n) - t(n)) / n must be exactly 4, for every region and hint."""
    from probes.catalogue.cache_hints import prefetch_size, residency

    for hint in ("none", "nc.L1::no_allocate"):
        out = residency.measure_residency(ctx, {"hint": hint}, {"k": 3})
        assert {
            out[k]
            for k in ("cycles_per_op", "l2_reaccess_cycles", "band_l1_cycles", "band_l2_cycles", "band_hbm_cycles")
        } == {4.0}
        # Both raw series are kept (issue 21 §1): the per-load value is their difference over the n steps, and
        # the 2n section reads more than the n one (it is not a copy of the per-load value). k = 3 asks for at
        # least 3 steps: the timed pass is whole trips of the unrolled loop, n = 16, and the result says so.
        assert out["steps"] == 16 and out["k"] == 3
        for name, raw in (
            ("cycles_per_op", "cycles"),
            ("l2_reaccess_cycles", "l2_reaccess_cycles"),
            ("band_hbm_cycles", "band_hbm_cycles"),
        ):
            assert out[f"{raw}_2n"] > out[f"{raw}_n"] > 0
            assert (out[f"{raw}_2n"] - out[f"{raw}_n"]) / out["steps"] == out[name]
    out = prefetch_size.measure_prefetch(ctx, {"hint": "L2::128B", "offset_bytes": 256}, {"triples": 3})
    assert list(out["cycles_per_op"]) == [4.0, 4.0, 4.0]
    assert list(out["cycles_2n"] - out["cycles_n"]) == [4, 4, 4] and out["steps"] == 1


def test_corrupted_chain_raises_kernel_check_error(ctx):
    from probes.catalogue.cache_hints import host as shared
    from probes.catalogue.cache_hints import residency
    from probes.spec import KernelCheckError

    residency.measure_residency(ctx, {"hint": "cg"}, {"k": 2})
    d_mem, host_copy, _ = shared.CACHE[("residency", 16)]  # k = 2 -> one trip of 16 steps per timed pass
    bad = host_copy.copy()
    bad[bad != 0] = bad[bad != 0][0]  # every pointer to the same slot
    d_mem.copy_to_device(bad)
    with pytest.raises(KernelCheckError, match="chain"):
        residency.measure_residency(ctx, {"hint": "cg"}, {"k": 2})


def test_checksums_of_stream_bandwidth_and_store(ctx, monkeypatch):
    from probes.catalogue.cache_hints import bandwidth, kernels, pollution, store
    from probes.spec import KernelCheckError

    params = {"k": 2, "stream_bytes": 2048, "threads": 8, "blocks": 2}
    for level in ("l1", "l2"):
        out = pollution.measure_pollution(ctx, {"hint": "cs", "level": level}, params)
        assert out["cycles_per_op"] == 4.0 and out["stream_bytes"] == 2048
        assert out["cycles_2n"] - out["cycles_n"] == out["steps"] * 4 and out["steps"] == 16
        assert out["band_l2_cycles_2n"] > out["band_l2_cycles_n"]
    bw = bandwidth.measure_bandwidth(ctx, {"hint": "nc"}, {"buffer_bytes": 1024, "blocks": 2, "threads": 8})
    assert bw["bytes"] == 1024 and bw["read_gbps"] > 0 and bw["copy_gbps"] > 0
    stored = store.measure_store(ctx, {"hint": "wt"}, {"k": 17})  # 17 steps asked: two trips of 16
    assert stored["cycles_per_op"] == 4.0 and stored["steps"] == 32 and stored["cycles_2n"] - stored["cycles_n"] == 128
    # A store that writes nothing leaves the chain unbuilt: the host check must catch it.
    broken = kernels.store_kernel.__wrapped__("cs", store=lambda memory, index, value: None)
    monkeypatch.setattr(store, "store_kernel", lambda hint: broken)
    with pytest.raises(KernelCheckError, match="stores"):
        store.measure_store(ctx, {"hint": "cs"}, {"k": 2})


def test_persisting_window_uses_the_driver_api_as_documented(monkeypatch):
    """No driver here: the driver calls are recorded instead, with the real cuda.bindings types and enums."""
    from types import SimpleNamespace

    from cuda.bindings import driver

    from probes.catalogue.cache_hints import persisting

    calls = []
    ok = (driver.CUresult.CUDA_SUCCESS,)
    monkeypatch.setattr(driver, "cuCtxSetLimit", lambda limit, n: calls.append(("limit", limit, n)) or ok)
    monkeypatch.setattr(
        driver,
        "cuStreamSetAttribute",
        lambda h, attr, v: (
            calls.append(("attr", h, attr, v.accessPolicyWindow.num_bytes, v.accessPolicyWindow.hitProp)) or ok
        ),
    )
    monkeypatch.setattr(driver, "cuCtxResetPersistingL2Cache", lambda: calls.append(("reset",)) or ok)
    monkeypatch.setattr(persisting.cuda, "stream", lambda: SimpleNamespace(handle=driver.CUstream(0x5000)))
    window = persisting.PersistingWindow()
    d_mem = SimpleNamespace(device_ctypes_pointer=SimpleNamespace(value=0x7F0000000000))
    assert int(window(d_mem, 4096).handle) == 0x5000
    window.reset()
    persisting = driver.CUaccessProperty.CU_ACCESS_PROPERTY_PERSISTING
    attr = driver.CUstreamAttrID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW
    limit = driver.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE
    assert calls[0] == ("limit", limit, 4096) and calls[1] == ("attr", 0x5000, attr, 4096, persisting)
    assert calls[2][3] == 0 and calls[3] == ("reset",) and calls[4] == ("limit", limit, 0)
    monkeypatch.setattr(driver, "cuCtxSetLimit", lambda limit, n: (driver.CUresult.CUDA_ERROR_INVALID_VALUE,))
    with pytest.raises(RuntimeError, match="cuCtxSetLimit failed"):
        window(d_mem, 4096)
