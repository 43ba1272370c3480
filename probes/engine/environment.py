"""What the run happened on: GPU, driver, CUDA, clocks, toolchain and library versions.

Run-constant metadata, stored once per results document (per-sample clocks live with the samples).
Without a driver this says so plainly instead of failing: `no_driver_reason` holds the one-line cause.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata

from probes.static import toolchain


class NoGpuError(RuntimeError):
    """No usable GPU or driver; the message is one line."""


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def library_versions() -> dict:
    out = {
        name: _version(name)
        for name in ("numba", "numba-cuda", "cuda-bindings", "cuda-core", "nvidia-ml-py", "numpy", "scipy")
    }
    out["python"] = platform.python_version()
    out["gpu-probes"] = _version("gpu-probes") or __import__("probes").__version__
    out.update({k: v for k, v in toolchain.toolchain_versions().items()})
    return out


def gpu_slug(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3': the folder name of a GPU's report."""
    s = re.sub(r"^nvidia\s+", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "unknown-gpu"


def toolkit_version() -> tuple[int, int] | None:
    """CUDA release of the compiler that writes our PTX (libNVVM from the nvidia-cuda-nvcc wheel; else ptxas)."""
    text = _version("nvidia-cuda-nvcc")
    if not text:
        try:
            text = toolchain.tool_version("ptxas")
        except toolchain.ToolchainError:
            return None
    m = re.match(r"(\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def nvjitlink_version() -> tuple[int, int] | None:
    """CUDA release of the nvJitLink library that links our kernels into cubins (numba-cuda/cuda.core use it
    when it is there, >= 12.3), or None: then the driver JIT-compiles the PTX itself."""
    try:
        from cuda.bindings import nvjitlink

        v = tuple(nvjitlink.version())[:2]
    except Exception:  # no cuda-bindings, no libnvJitLink, or a release without version(): the driver links
        return None
    return (int(v[0]), int(v[1])) if len(v) == 2 and v >= (12, 3) else None


def driver_too_old(
    driver: tuple[int, int] | None, toolkit: tuple[int, int] | None, linker: tuple[int, int] | None = None
) -> str | None:
    """One-line reason when the driver cannot run what the toolkit emits, else None. Unknown versions are not an
    error. Without `linker` the driver JIT-compiles our PTX, so it must support the toolkit's release. With
    nvJitLink (`linker`: its release) the driver loads cubins, which CUDA's minor-version compatibility lets any
    driver of the same major release run (a 13.0 driver runs what a 13.5 nvJitLink links): only an older major
    release is refused."""
    if linker and driver and toolkit:
        if driver[0] >= linker[0]:
            return None
        d, j = ".".join(map(str, driver)), ".".join(map(str, linker))
        return (
            f"CUDA driver supports CUDA {d}, older than the major release of nvJitLink {j} that links the probes; "
            f"update the NVIDIA driver to a CUDA {linker[0]} one, or install wheels matching it (pip install "
            f"'nvidia-nvjitlink=={driver[0]}.*' 'nvidia-cuda-nvcc=={driver[0]}.*' 'numba-cuda[cu{driver[0]}]')"
        )
    if not driver or not toolkit or tuple(driver) >= tuple(toolkit):
        return None
    d, t = ".".join(map(str, driver)), ".".join(map(str, toolkit))
    return (
        f"CUDA driver supports CUDA {d}, older than the toolkit {t} that compiles the probes; update the NVIDIA "
        f"driver, or install toolkit wheels matching it (pip install 'nvidia-cuda-nvcc=={d}.*' "
        f"'numba-cuda[cu{driver[0]}]')"
    )


def driver_status() -> str | None:
    """None when a CUDA driver and device are usable, else a one-line reason."""
    try:
        from numba import config

        if config.ENABLE_CUDASIM:
            return "NUMBA_ENABLE_CUDASIM=1: the simulator replaces the driver"
        from numba import cuda

        if not cuda.is_available():
            return "no CUDA driver or GPU found (numba.cuda.is_available() is False)"
        if len(cuda.gpus) == 0:
            return "the CUDA driver reports no GPU"
        too_old = driver_too_old(cuda.cudadrv.driver.driver.get_version(), toolkit_version(), nvjitlink_version())
        if too_old:
            return too_old
    except Exception as err:  # driver init errors come in many classes; the reason is what matters
        return f"CUDA driver unusable: {str(err).splitlines()[0] if str(err) else type(err).__name__}"
    return None


def capture(backend: str = "gpu") -> dict:
    env = {"backend": backend, "host": platform.node(), "versions": library_versions()}
    if backend == "simulator":
        # A fixed pretend device so probe sizes derive from "properties" exactly as on a GPU, but tiny.
        env.update(
            gpu_name="Numba CUDA simulator",
            gpu_slug="simulator",
            compute_capability=[9, 0],
            sm_count=2,
            l2_cache_bytes=16 * 1024,
            memory_total_bytes=64 << 20,
            memory_free_bytes=64 << 20,
            driver_version=None,
            cuda_driver_version=None,
        )
        return env
    reason = driver_status()
    if reason:
        raise NoGpuError(reason)
    from numba import cuda

    dev = cuda.get_current_device()
    name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
    free, total = cuda.current_context().get_memory_info()
    env.update(
        gpu_name=name,
        gpu_slug=gpu_slug(name),
        compute_capability=list(dev.compute_capability),
        sm_count=dev.MULTIPROCESSOR_COUNT,
        l2_cache_bytes=dev.L2_CACHE_SIZE,
        shared_memory_per_sm_bytes=getattr(dev, "MAX_SHARED_MEMORY_PER_MULTIPROCESSOR", None),
        clock_rate_khz=getattr(dev, "CLOCK_RATE", None),
        memory_clock_rate_khz=getattr(dev, "MEMORY_CLOCK_RATE", None),
        memory_total_bytes=int(total),
        memory_free_bytes=int(free),
        cuda_driver_version=".".join(map(str, cuda.cudadrv.driver.driver.get_version())),
        uuid=str(getattr(dev, "uuid", "")),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    env.update(_nvml_static(env["uuid"] or None))
    return env


def _nvml_static(uuid: str | None) -> dict:
    from probes.engine.clocks import nvml_handle

    try:
        import pynvml

        pynvml.nvmlInit()
        h = nvml_handle(pynvml, uuid)
        out = {
            "driver_version": pynvml.nvmlSystemGetDriverVersion(),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "max_mem_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000,
        }
        return out
    except Exception as err:  # NVML is optional: record why it is missing
        return {"nvml": f"unavailable: {err}"}


def describe(env: dict) -> list[str]:
    """Human-readable lines for `python -m probes env`."""
    keys = (
        "gpu_name",
        "uuid",
        "cuda_visible_devices",
        "compute_capability",
        "sm_count",
        "l2_cache_bytes",
        "memory_total_bytes",
        "clock_rate_khz",
        "max_sm_clock_mhz",
        "driver_version",
        "cuda_driver_version",
    )
    lines = [f"{k:>22}: {env[k]}" for k in keys if k in env]
    lines += [f"{k:>22}: {v}" for k, v in sorted(env["versions"].items())]
    return lines
