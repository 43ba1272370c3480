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

    def __init__(self, enabled: bool = True):
        self.handle, self.why_not = None, None
        if not enabled:
            self.why_not = "clock sampling disabled (simulator)"
            return
        try:
            import pynvml
            pynvml.nvmlInit()
            self.handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self._nvml = pynvml
        except Exception as err:
            self.why_not = f"NVML unavailable: {err}"

    def sample(self) -> dict:
        s = {"t": time.time(), "sm_mhz": None, "mem_mhz": None, "temp_c": None, "power_w": None,
             "throttle": None}
        if self.handle is None:
            return s
        n = self._nvml
        try:
            s["sm_mhz"] = n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_SM)
            s["mem_mhz"] = n.nvmlDeviceGetClockInfo(self.handle, n.NVML_CLOCK_MEM)
            s["temp_c"] = n.nvmlDeviceGetTemperature(self.handle, n.NVML_TEMPERATURE_GPU)
            s["power_w"] = n.nvmlDeviceGetPowerUsage(self.handle) / 1000
            mask = n.nvmlDeviceGetCurrentClocksEventReasons(self.handle)
            s["throttle"] = ",".join(v for k, v in _BAD_REASONS.items() if mask & k) or ""
        except Exception as err:
            s["error"] = str(err)
        return s


def throttled(before: dict, after: dict, tolerance_mhz: float = 15.0) -> bool:
    """A sample is suspect if a throttle reason was active or the SM clock moved during it."""
    if before.get("throttle") or after.get("throttle"):
        return True
    a, b = before.get("sm_mhz"), after.get("sm_mhz")
    return a is not None and b is not None and abs(a - b) > tolerance_mhz
