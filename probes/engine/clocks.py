"""NVML clock, temperature, power and throttle sampling around measurements. Never locks or changes clocks."""

from __future__ import annotations

import time

# Throttle reasons that mean the SM clock was held below what was asked (idle and app-clock settings are not).
_BAD_REASONS = {
    0x0000000000000004: "sw_power_cap",
    0x0000000000000008: "hw_slowdown",
    0x0000000000000020: "sw_thermal",
    0x0000000000000040: "hw_thermal",
    0x0000000000000080: "hw_power_brake",
}


class ClockSampler:
    """Samples NVML if present; otherwise every sample is None-valued and says why (the data stays honest)."""

    def __init__(self, enabled: bool = True, uuid: str | None = None):
        self.handle, self.why_not = None, None
        if not enabled:
            self.why_not = "clock sampling disabled (simulator)"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.handle = nvml_handle(pynvml, uuid)
            self._nvml = pynvml
        except Exception as err:
            self.why_not = f"NVML unavailable: {err}"

    def sample(self) -> dict:
        s = {"t": time.time(), "sm_mhz": None, "mem_mhz": None, "temp_c": None, "power_w": None, "throttle": None}
        if self.handle is None:
            return s
        n = self._nvml
        try:
            s["sm_mhz"] = n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_SM)
            s["mem_mhz"] = n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_MEM)
            s["temp_c"] = n.nvmlDeviceGetTemperature(self.handle, n.NVML_TEMPERATURE_GPU)
            s["power_w"] = n.nvmlDeviceGetPowerUsage(self.handle) / 1000
            mask = (
                getattr(n, "nvmlDeviceGetCurrentClocksEventReasons", None)
                or n.nvmlDeviceGetCurrentClocksThrottleReasons
            )  # the name before nvidia-ml-py 12.535
            mask = mask(self.handle)
            s["throttle"] = ",".join(v for k, v in _BAD_REASONS.items() if mask & k) or ""
        except Exception as err:
            s["error"] = str(err)
        return s


def nvml_handle(pynvml, uuid: str | None):
    """The NVML handle of the card CUDA runs on. NVML ignores CUDA_VISIBLE_DEVICES, so index 0 is only right
    when no UUID is known (GPU=1 would otherwise sample the clocks of card 0)."""
    if uuid:
        return pynvml.nvmlDeviceGetHandleByUUID(uuid)
    return pynvml.nvmlDeviceGetHandleByIndex(0)


# %clock64 / %globaltimer is only compared with NVML over a long enough sample: %globaltimer ticks every 32 ns to
# 1 us depending on the GPU, so a 50 us sample bounds its quantisation error at 2 %.
MIN_RATIO_NS = 50_000
SAMPLE_RATIO_TOLERANCE = 0.05  # one sample whose derived clock is this far off NVML's is flagged
POINT_RATIO_TOLERANCE = 0.02  # a point's median derived clock this far off is marked in its summary


def sample_flags(row: dict, before: dict, after: dict, tolerance_mhz: float = 15.0) -> list[str]:
    """Why a sample is suspect: throttle reasons, an SM clock change during it, or %clock64/%globaltimer
    disagreeing with NVML's SM clock (a clock change NVML's coarse sampling missed). Empty list = clean."""
    flags = []
    reasons = sorted({r for s in (before, after) for r in (s.get("throttle") or "").split(",") if r})
    if reasons:
        flags.append("throttle:" + "+".join(reasons))
    a, b = before.get("sm_mhz"), after.get("sm_mhz")
    if a is not None and b is not None and abs(a - b) > tolerance_mhz:
        flags.append("clock_change")
    derived = row.get("sm_clock_mhz_derived")
    if derived and a and b and (row.get("ns") or 0) >= MIN_RATIO_NS:
        if abs(derived / ((a + b) / 2) - 1) > SAMPLE_RATIO_TOLERANCE:
            flags.append("clock_ratio")
    return flags


def point_clock_check(samples: list[dict]) -> dict | None:
    """Median %clock64/%globaltimer clock of a point's long samples vs NVML's median SM clock; None if either
    is missing (simulator, no NVML, samples too short for %globaltimer)."""
    import statistics

    derived = [
        r["sm_clock_mhz_derived"]
        for r in samples
        if r.get("sm_clock_mhz_derived") and (r.get("ns") or 0) >= MIN_RATIO_NS
    ]
    nvml = [v for r in samples for v in (r.get("sm_mhz_before"), r.get("sm_mhz_after")) if v]
    if not derived or not nvml:
        return None
    d, n = statistics.median(derived), statistics.median(nvml)
    ratio = d / n
    return {"derived_sm_mhz": d, "nvml_sm_mhz": n, "ratio": ratio, "ok": abs(ratio - 1) <= POINT_RATIO_TOLERANCE}
