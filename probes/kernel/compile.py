"""Compile a Numba kernel for a given compute capability without a driver, then to SASS through the toolchain.

compile_ptx needs no driver for straight-line kernels; kernels calling device functions ask the driver for the
current device's cc (../shared/notes/cpu-toolchain.md gotcha 2), so without a driver we install a stub that answers
with the requested cc. numba-cuda's libNVVM may write a newer `.version` than the assembler accepts: we assemble
with the pip ptxas of the same release, and as a fallback lower the header to what the assembler supports.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from pathlib import Path

from probes.static import sass, toolchain


@contextlib.contextmanager
def _stub_device(cc: tuple[int, int]):
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    if cuda.is_available():
        yield
        return

    class _NoDriverDevice:
        compute_capability = cc

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _NoDriverDevice()
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


def kernel_ptx(func, signature, cc: tuple[int, int]) -> str:
    """PTX of a Python kernel function for cc, with no driver needed."""
    from numba import cuda

    with _stub_device(cc):
        ptx, _ = cuda.compile_ptx(func, signature, cc=cc, lineinfo=False)
    return ptx


@functools.cache
def _ptx_producer_key() -> tuple[str, str, str]:
    """What a kernel's PTX depends on beyond the probe's own code (its version): how this module drives Numba,
    the numba-cuda release and the toolchain."""
    from importlib import metadata

    try:
        numba_cuda = metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        numba_cuda = "unknown"
    return (hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16], numba_cuda, toolchain.tool_version("ptxas"))


def cached_kernels(probe, cc: tuple[int, int]) -> list[tuple[str, str]]:
    """probe.kernels(cc), cached on disk (shared by the dry run, the compile tests and the worker's kernel
    records): NVVM takes 0.1-0.8 s per kernel, a cache hit a millisecond. probe.version() covers the probe's
    module, its private helpers and the intrinsics."""
    key = ("dryrun-ptx", probe.name, probe.version(), *_ptx_producer_key(), f"{cc[0]}.{cc[1]}")

    def produce() -> bytes:
        return json.dumps([[name, ptx] for name, ptx in probe.kernels(cc)]).encode()

    return [(name, ptx) for name, ptx in json.loads(toolchain.cached("dryrun-ptx", key, produce, ".json"))]


def ptx_to_sass(ptx: str, arch: str) -> dict[str, list[sass.Instruction]]:
    """Assemble PTX for arch and return the parsed SASS of every function in it."""
    return sass.parse_cuobjdump(ptx_to_cubin_sass(ptx, arch)[1])


def ptx_to_cubin_sass(ptx: str, arch: str) -> tuple[bytes, str]:
    """(cubin, `cuobjdump -sass` text) of PTX assembled for arch."""
    if re.search(rf"^\.target {arch}a\s*$", ptx, flags=re.M):
        arch += "a"  # a hand-written PTX probe for the architecture-specific target (wgmma: sm_90a)
    try:
        cubin = toolchain.assemble(ptx, arch)
    except toolchain.AssemblyError as err:
        if "Unsupported .version" not in err.log:
            raise
        cubin = toolchain.assemble(
            re.sub(r"^\.version \S+", f".version {toolchain.ptx_isa_version()}", ptx, flags=re.M), arch
        )
    return cubin, toolchain.cuobjdump_sass(cubin)


def arch_of(cc: tuple[int, int]) -> str:
    return f"sm_{cc[0]}{cc[1]}"
