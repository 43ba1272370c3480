"""cache-hints.persisting: the L2-victim experiment of cache-hints.pollution against a plain streaming neighbour,
without and with a persisting access-policy window (CUDA driver API) over the victim."""

from __future__ import annotations

from numba import cuda

from probes.catalogue.cache_hints.host import BLOCKS, THREADS, K, l2_victim, method_text
from probes.catalogue.cache_hints.kernels import check_sass, kernels_for
from probes.kernel.context import stream_handle
from probes.spec import Param, Probe, min_cc


def _driver_ok(result, what: str) -> None:
    err = result[0] if isinstance(result, tuple) else result
    if int(err) != 0:
        raise RuntimeError(f"{what} failed: CUresult {int(err)}")


class PersistingWindow:
    """A stream whose kernels see an access-policy window marking [base, base+bytes) persisting in L2 (CUDA
    driver API: persisting-L2 limit + stream attribute). `reset()` removes it and demotes persisting lines, so
    the next point or probe starts from a normal L2."""

    def __init__(self):
        self.stream = None

    def __call__(self, d_mem, nbytes: int):
        from cuda.bindings import driver

        _driver_ok(driver.cuCtxSetLimit(driver.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE, nbytes), "cuCtxSetLimit")
        self.stream = cuda.stream()
        value = driver.CUstreamAttrValue()
        w = value.accessPolicyWindow
        w.base_ptr = int(d_mem.device_ctypes_pointer.value)
        w.num_bytes = nbytes
        w.hitRatio = 1.0
        w.hitProp = driver.CUaccessProperty.CU_ACCESS_PROPERTY_PERSISTING
        w.missProp = driver.CUaccessProperty.CU_ACCESS_PROPERTY_STREAMING
        _driver_ok(
            driver.cuStreamSetAttribute(
                stream_handle(self.stream), driver.CUstreamAttrID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW, value
            ),
            "cuStreamSetAttribute(access policy window)",
        )
        return self.stream

    def reset(self) -> None:
        from cuda.bindings import driver

        if self.stream is not None:
            value = driver.CUstreamAttrValue()
            value.accessPolicyWindow.num_bytes = 0
            driver.cuStreamSetAttribute(
                stream_handle(self.stream), driver.CUstreamAttrID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW, value
            )
        _driver_ok(driver.cuCtxResetPersistingL2Cache(), "cuCtxResetPersistingL2Cache")
        _driver_ok(driver.cuCtxSetLimit(driver.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE, 0), "cuCtxSetLimit")


def measure_persisting(ctx, point: dict, params: dict) -> dict:
    """The L2-victim experiment of cache-hints.pollution with a plain streaming neighbour, without and with an
    access-policy window marking the victim persisting. The simulator has no such window: there the `persisting`
    point runs without one and says so (policy_applied = False)."""
    if point["window"] == "off" or ctx.simulator:
        return {**l2_victim(ctx, "none", params), "policy_applied": False}
    window = PersistingWindow()
    try:
        return {**l2_victim(ctx, "none", params, window), "policy_applied": True}
    finally:
        window.reset()


PROBE = Probe(
    name="cache-hints.persisting",
    summary="L2 victim vs a plain streaming neighbour, without / with a persisting access-policy window",
    measure=measure_persisting,
    axes=lambda env, params: {"window": ("off", "persisting")},
    unit="cycles/load",
    method=method_text("""The level-l2 experiment of cache-hints.pollution (victim L2/4, .cg re-time, same-run L2
        and HBM bands) with a plain streaming neighbour of `stream_bytes` (default the L2 size), run on a stream
        whose access-policy window (CUDA driver: CU_LIMIT_PERSISTING_L2_CACHE_SIZE = victim size, hitRatio 1,
        hitProp persisting, missProp streaming) covers the victim, and without it. The window is removed and
        persisting lines reset after each measurement."""),
    params=(K, THREADS, BLOCKS, Param("stream_bytes", int, 0, "streamed neighbour buffer (0: the L2 size)")),
    requires=(min_cc(8, 0),),
    kernels=kernels_for("pollution-l2"),
    check_sass=check_sass,
    smoke=("k=2", "stream_bytes=2048", "threads=8", "blocks=2"),
)
