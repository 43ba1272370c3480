"""Hand-written PTX probes: render a template of ptx/, assemble it with cuda.core (nvJitLink), launch it with a
LaunchConfig (grid, block, cluster, dynamic shared memory) and check every launch against a host reference model.

A probe declares `ptx="ptx/<name>.ptx"` and its `measure` calls `launch(ctx, kernel, config, args, check)`; the
worker, timing conventions, stopping rule, schema and provenance are the same as for Numba probes (the worker only
ever sees `measure` and `kernels`). At run time nothing needs ptxas or cuobjdump: cuda.core's Program compiles PTX to
a cubin through nvJitLink, in process. Under Numba's simulator (which cannot run PTX) the launch goes to the
kernel's *emulator*, a Python model of what the kernel writes, so the simulator suite still exercises the whole
pipeline; like every simulated result it is never published.

Templates use `${NAME}` placeholders (string.Template). Lines starting with `//` (each template's header: what it
measures, which SASS it must produce) are dropped before substitution; an unknown or missing placeholder is an
error naming it.
"""

from __future__ import annotations

import contextlib
import functools
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from probes.spec import KernelCheckError, ProbeSpecError

ROOT = Path(__file__).resolve().parents[2]
PTX_DIR = ROOT / "ptx"
PTX_VERSION = "8.7"  # PTX ISA 8.7 (CUDA 12.8): cluster, bulk copy, wgmma (sm_90a) and tcgen05 (sm_100a)
MAX_THREADS_PER_BLOCK = 1024
PORTABLE_CLUSTER = 8  # CUDA Programming Guide, "Thread Block Clusters": 8 portable, 16 with opt-in on sm_90
MAX_CLUSTER = 16
STATIC_SHARED_LIMIT = 48 * 1024  # dynamic shared memory beyond this needs the max-dynamic-shared attribute


class PtxTemplateError(ProbeSpecError):
    """A template is missing, or a placeholder is unknown or left unfilled."""


class LaunchConfigError(ProbeSpecError):
    """A launch configuration the hardware cannot run (block too large, cluster not dividing the grid, ...)."""


def target_for(cc: tuple[int, int]) -> str:
    """PTX target for a device: the architecture-specific `a` target on 9.0 and 10.x (wgmma and tcgen05 need it;
    a cubin for sm_90a runs only on cc 9.0, which is what we compile for)."""
    major, minor = cc
    return f"sm_{major}{minor}a" if major in (9, 10) else f"sm_{major}{minor}"


def cc_of(arch: str) -> tuple[int, int]:
    m = re.match(r"^sm_(\d+)(\d)[af]?$", arch)
    if not m:
        raise ValueError(f"unknown architecture {arch!r}: expected a name like sm_90a")
    return int(m.group(1)), int(m.group(2))


def template_path(rel: str) -> Path:
    path = (ROOT / rel).resolve()
    if path.parent != PTX_DIR or path.suffix != ".ptx":
        raise PtxTemplateError(f"PTX template {rel!r}: expected ptx/<name>.ptx")
    if not path.is_file():
        raise PtxTemplateError(f"PTX template {rel} does not exist")
    return path


@functools.cache
def _template_text(rel: str) -> str:
    return (
        "\n".join(line for line in template_path(rel).read_text().splitlines() if not line.lstrip().startswith("//"))
        + "\n"
    )


def placeholders(rel: str) -> set[str]:
    """Named placeholders of a template's code (the header comment does not count)."""
    return {
        m.group("named") or m.group("braced")
        for m in string.Template.pattern.finditer(_template_text(rel))
        if m.group("named") or m.group("braced")
    }


def header(rel: str) -> str:
    """The template's leading `//` comment: what it measures and which SASS it must produce."""
    lines = []
    for line in template_path(rel).read_text().splitlines():
        if not line.startswith("//"):
            break
        lines.append(line[2:].strip())
    return "\n".join(lines)


def render(rel: str, target: str, **subs: Any) -> str:
    """PTX text of a template for `target`, every placeholder filled (PTX_VERSION and TARGET are ours)."""
    values = {"PTX_VERSION": PTX_VERSION, "TARGET": target, **{k: str(v) for k, v in subs.items()}}
    need = placeholders(rel)
    missing, unknown = sorted(need - set(values)), sorted(set(subs) - need)
    if missing or unknown:
        raise PtxTemplateError(
            f"{rel}: "
            + "; ".join(
                ([f"placeholders not filled: {', '.join(missing)}"] if missing else [])
                + ([f"not placeholders of this template: {', '.join(unknown)}"] if unknown else [])
            )
        )
    return string.Template(_template_text(rel)).substitute(values)


_ENTRY_RE = re.compile(r"^\.visible \.entry (\w+)\(.*?^\}\n", re.S | re.M)


def only_entry(ptx: str, entry: str) -> str:
    """Drop every `.visible .entry` block but `entry` (blocks run from the directive to a `}` in column 0)."""
    names = [m.group(1) for m in _ENTRY_RE.finditer(ptx)]
    if entry not in names:
        raise PtxTemplateError(f"no entry {entry!r} in the rendered template (entries: {', '.join(names) or 'none'})")
    return _ENTRY_RE.sub(lambda m: m.group(0) if m.group(1) == entry else "", ptx)


@dataclass(frozen=True)
class LaunchConfig:
    """grid and cluster in *blocks* (CUDA's convention; cuda.core counts the grid in clusters when a cluster is
    given, `core_kwargs` converts), block in threads, dynamic shared memory in bytes."""

    grid: tuple[int, int, int] = (1, 1, 1)
    block: tuple[int, int, int] = (1, 1, 1)
    cluster: tuple[int, int, int] | None = None
    shared_bytes: int = 0

    def __post_init__(self):
        for name in ("grid", "block") + (("cluster",) if self.cluster else ()):
            dims = getattr(self, name)
            if len(dims) != 3 or any(int(d) < 1 for d in dims):
                raise LaunchConfigError(f"{name} {dims}: need three dimensions >= 1")
        if self.threads_per_block > MAX_THREADS_PER_BLOCK:
            raise LaunchConfigError(f"block {self.block}: {self.threads_per_block} threads > {MAX_THREADS_PER_BLOCK}")
        if self.cluster:
            if any(g % c for g, c in zip(self.grid, self.cluster)):
                raise LaunchConfigError(f"cluster {self.cluster} does not divide grid {self.grid}")
            if self.cluster_size > MAX_CLUSTER:
                raise LaunchConfigError(f"cluster of {self.cluster_size} blocks > {MAX_CLUSTER}")
        if self.shared_bytes < 0:
            raise LaunchConfigError(f"dynamic shared memory {self.shared_bytes} B < 0")

    @property
    def threads_per_block(self) -> int:
        return int(np.prod(self.block))

    @property
    def blocks(self) -> int:
        return int(np.prod(self.grid))

    @property
    def cluster_size(self) -> int:
        return int(np.prod(self.cluster)) if self.cluster else 1

    @property
    def non_portable_cluster(self) -> bool:
        """A cluster above 8 blocks runs only with the kernel's non-portable-cluster attribute set (sm_90+)."""
        return self.cluster_size > PORTABLE_CLUSTER

    @property
    def needs_shared_opt_in(self) -> bool:
        return self.shared_bytes > STATIC_SHARED_LIMIT

    def core_kwargs(self) -> dict:
        """Keyword arguments of cuda.core.LaunchConfig."""
        kw: dict = {"block": tuple(self.block), "shmem_size": int(self.shared_bytes)}
        if self.cluster:
            kw["grid"] = tuple(g // c for g, c in zip(self.grid, self.cluster))
            kw["cluster"] = tuple(self.cluster)
        else:
            kw["grid"] = tuple(self.grid)
        return kw


def config(grid=1, block=1, cluster=None, shared_bytes: int = 0) -> LaunchConfig:
    """LaunchConfig from ints or tuples (missing dimensions are 1)."""

    def dims(v):
        v = (v,) if isinstance(v, int) else tuple(v)
        return tuple(int(x) for x in v) + (1,) * (3 - len(v))

    return LaunchConfig(dims(grid), dims(block), dims(cluster) if cluster else None, int(shared_bytes))


# A kernel's emulator: (kernel, config, host arrays and scalars) -> None, writing the outputs in place. It is the
# simulator's stand-in for the GPU (plain Python, indices instead of addresses), never a second opinion.
Emulator = Callable[["PtxKernel", LaunchConfig, list], None]


@dataclass(frozen=True)
class PtxKernel:
    """One entry of a rendered template: what the dry run compiles and what `launch` runs."""

    template: str  # "ptx/<name>.ptx"
    entry: str  # function name inside it (the template's ${NAME}, plus a suffix)
    subs: tuple[tuple[str, Any], ...]  # placeholder values besides PTX_VERSION/TARGET
    emulate: Emulator | None = field(default=None, compare=False, hash=False)

    def ptx(self, target: str) -> str:
        """The rendered module holding only this entry (a template may define several)."""
        return only_entry(render(self.template, target, **dict(self.subs)), self.entry)

    @property
    def params(self) -> dict:
        return dict(self.subs)


def kernel(template: str, name: str, entry: str | None = None, emulate: Emulator | None = None, **subs) -> PtxKernel:
    """PtxKernel for template with ${NAME} = name; entry defaults to name (templates with several entries name
    them ${NAME}_<suffix>)."""
    return PtxKernel(template, entry or name, tuple(sorted({"NAME": name, **subs}.items())), emulate)


@functools.lru_cache(maxsize=64)
def compile_cubin(ptx: str, arch: str) -> bytes:
    """PTX -> cubin in process with cuda.core (nvJitLink); no driver, ptxas or cuobjdump needed."""
    from cuda.core import Program, ProgramOptions

    obj = Program(ptx, "ptx", ProgramOptions(arch=arch)).compile("cubin")
    return bytes(obj.code)  # never repr() an ObjectCode without a driver (cpu-toolchain.md gotcha 3)


class CoreLauncher:
    """Launches on the GPU through cuda.core, in the primary context Numba uses; device arrays go in as pointers."""

    def __init__(self):
        from cuda.core import Device

        self.device = Device()
        self.device.set_current()
        self.stream = self.device.create_stream()
        self._kernels: dict = {}

    def _kernel(self, k: PtxKernel, cfg: LaunchConfig, arch: str):
        key = (k, arch, cfg.non_portable_cluster, cfg.shared_bytes)
        if key not in self._kernels:
            from cuda.core import ObjectCode

            fn = ObjectCode.from_cubin(compile_cubin(k.ptx(arch), arch)).get_kernel(k.entry)
            set_attributes(fn, cfg, self.device.device_id)
            self._kernels[key] = fn
        return self._kernels[key]

    def __call__(self, ctx, k: PtxKernel, cfg: LaunchConfig, args: list) -> None:
        from cuda.core import LaunchConfig as CoreConfig
        from cuda.core import launch

        fn = self._kernel(k, cfg, target_for(ctx.cc))
        ctx.synchronize()  # Numba's writes (chains, buffers) land before the PTX kernel reads them
        launch(self.stream, CoreConfig(**cfg.core_kwargs()), fn, *[kernel_argument(ctx, a) for a in args])
        self.stream.sync()

    def cluster_capacity(self, ctx, k: PtxKernel, cfg: LaunchConfig) -> tuple[int | None, str | None]:
        """(clusters of this shape the device runs at once, why none can run): cuOccupancyMaxActiveClusters through
        cuda.core after the kernel's attributes are set; a refused non-portable-size attribute is the reason."""
        try:
            fn = self._kernel(k, cfg, target_for(ctx.cc))
        except RuntimeError as err:  # cuKernelSetAttribute refused the non-portable cluster size
            return 0, f"cluster of {cfg.cluster_size} blocks refused by the driver: {err}"
        occupancy = getattr(fn, "occupancy", None)
        if occupancy is None:  # an older cuda.core: unknown, the launch itself will tell
            return None, None
        n = int(occupancy.max_active_clusters(self.core_config(cfg), stream=self.stream))
        return n, None if n > 0 else cluster_refused(cfg)

    def core_config(self, cfg: LaunchConfig):
        from cuda.core import LaunchConfig as CoreConfig

        return CoreConfig(**cfg.core_kwargs())


def cluster_refused(cfg: LaunchConfig) -> str:
    return (
        f"no cluster of {cfg.cluster_size} blocks x {cfg.threads_per_block} threads with {cfg.shared_bytes} B "
        "of dynamic shared memory each fits this device (max active clusters 0"
        + (", with the non-portable cluster size allowed)" if cfg.non_portable_cluster else ")")
    )


def cluster_capacity(ctx, k: PtxKernel, cfg: LaunchConfig) -> tuple[int | None, str | None]:
    """How many clusters of `cfg`'s shape run at once on this device (None: unknown), and why none can (None when
    some can): asks the launcher; the emulators run any cluster."""
    launcher = _OVERRIDE[-1] if _OVERRIDE else launcher_for(ctx)
    ask = getattr(launcher, "cluster_capacity", None)
    if not cfg.cluster or ask is None:
        return None, None
    return ask(ctx, k, cfg)


def set_attributes(fn, cfg: LaunchConfig, device_ordinal: int = 0) -> None:
    """Kernel attributes a configuration needs: large dynamic shared memory, non-portable cluster sizes. cuda.core
    loads modules as libraries, so `fn.handle` is a CUkernel (cuKernelSetAttribute, per device)."""
    from cuda.bindings import driver

    attrs = []
    if cfg.needs_shared_opt_in:
        attrs.append((driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, cfg.shared_bytes))
    if cfg.non_portable_cluster:
        attrs.append((driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1))
    for attr, value in attrs:
        (err,) = driver.cuKernelSetAttribute(attr, value, fn.handle, driver.CUdevice(device_ordinal))
        if err != driver.CUresult.CUDA_SUCCESS:
            raise RuntimeError(f"cuKernelSetAttribute({attr.name}, {value}) failed: {err.name}")


def kernel_argument(ctx, a):
    """A device array -> its address (u64); numpy scalars pass as they are (their dtype is the .param type)."""
    if isinstance(a, np.generic):
        return a
    if hasattr(a, "device_ctypes_pointer"):
        return np.uint64(ctx.address_of(a))
    raise TypeError(f"PTX kernel argument {a!r}: pass a device array or a numpy scalar (np.uint64, np.uint32)")


class EmulatedLauncher:
    """The simulator's launcher: the kernel's emulator writes the outputs into the (simulated) device arrays."""

    def __call__(self, ctx, k: PtxKernel, cfg: LaunchConfig, args: list) -> None:
        if k.emulate is None:
            raise RuntimeError(f"PTX kernel {k.entry} has no emulator: it cannot run under the simulator")
        k.emulate(k, cfg, args)


_LAUNCHERS: dict = {}
_OVERRIDE: list = []


@contextlib.contextmanager
def using_launcher(launcher):
    """Route every `launch` to `launcher` (tests: a fake launcher that corrupts an output word)."""
    _OVERRIDE.append(launcher)
    try:
        yield launcher
    finally:
        _OVERRIDE.pop()


def launcher_for(ctx):
    """One launcher per backend and process: cuda.core on a GPU, the emulators under the simulator."""
    if ctx.backend not in _LAUNCHERS:
        _LAUNCHERS[ctx.backend] = EmulatedLauncher() if ctx.simulator else CoreLauncher()
    return _LAUNCHERS[ctx.backend]


def launch(
    ctx, k: PtxKernel, cfg: LaunchConfig, args: list, check: Callable[[], None] | None = None, launcher=None
) -> None:
    """Run one PTX kernel and then its host reference check (which raises KernelCheckError on a wrong output)."""
    (launcher or (_OVERRIDE[-1] if _OVERRIDE else launcher_for(ctx)))(ctx, k, cfg, args)
    if check is not None:
        check()


def expect_equal(what: str, got, want) -> None:
    """Reference-model comparison: raise KernelCheckError naming the first differing word."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        raise KernelCheckError(f"{what}: {got.shape} words, expected {want.shape}")
    bad = np.flatnonzero(got.ravel() != want.ravel())
    if bad.size:
        i = int(bad[0])
        raise KernelCheckError(
            f"{what}: word {i} is {got.ravel()[i]!r}, expected {want.ravel()[i]!r} "
            f"({bad.size} of {got.size} words differ)"
        )


# --- SASS checks (dry run and the worker's kernel records) -------------------------------------------------------

CLOCK = "SR_CLOCKLO"
UNTIMED = {"S2R", "S2UR", "CS2R"}  # special-register reads (%smid, ...): nothing timed depends on them


def clock_reads(insts) -> list[int]:
    return [k for k, i in enumerate(insts) if i.base == "CS2R" and CLOCK in i.text]


def clock_discipline(insts, min_clocks: int = 3) -> list[str]:
    """Every %clock64 read must come after a wait on the scoreboard of every earlier variable-latency result
    (loads, SYNCS, GMMA, ...; special-register reads excepted), in program order: then the start clock waits on the warm pass and each stop clock
    on the last result of its pass. Uses the decoded control bits of probes.static.sass (write barrier, wait mask).
    """
    problems, pending = [], {}
    reads = clock_reads(insts)
    if len(reads) < min_clocks:
        problems.append(f"expected {min_clocks} %clock64 reads, found {len(reads)}")
    for k, ins in enumerate(insts):
        ctrl = ins.control
        drained = {int(b) for b in re.findall(r"SB(\d), 0x0\b", ins.text)} if ins.base == "DEPBAR" else set()
        for b in [b for b in pending if ctrl.waits_on(b) or b in drained]:  # DEPBAR.LE SBk, 0x0 drains SBk
            del pending[b]
        if k in reads and pending:
            producers = ", ".join(
                f"{insts[p].opcode}@{insts[p].address:#x} (SB{b})" for b, p in sorted(pending.items())
            )
            problems.append(f"clock read at {ins.address:#x} does not wait on {producers}")
        if ctrl.write_barrier is not None and not ins.text.startswith("@!PT") and ins.base not in UNTIMED:
            pending[ctrl.write_barrier] = k
    return problems


def opcode_problems(insts, required: dict[str, int], forbidden: tuple[str, ...] = ()) -> list[str]:
    """`required`: regex on the full opcode -> minimum count; `forbidden`: regexes that must not match."""
    problems = []
    for pattern, at_least in required.items():
        n = sum(bool(re.match(pattern, i.opcode)) for i in insts)
        if n < at_least:
            problems.append(f"expected >= {at_least} instructions matching {pattern}, found {n}")
    for pattern in forbidden:
        hits = sorted({i.opcode for i in insts if re.match(pattern, i.opcode)})
        if hits:
            problems.append(f"unexpected {', '.join(hits)}")
    return problems


def _address_registers(operand: str) -> set[str]:
    inner = operand[operand.index("[") + 1 : operand.rindex("]")] if "[" in operand else ""
    return set(re.findall(r"\bR\d+\b", inner))


def fed_by(insts, consumer: str, producer: str) -> int:
    """How many instructions matching `consumer` (regex on the opcode) take an address register that an instruction
    matching `producer` writes: the links of a pointer chase that runs through two instructions (LDS -> LDGSTS)."""
    dests = {d for i in insts if re.match(producer, i.opcode) for d in i.dest_registers[:1]}
    return sum(
        1 for i in insts if re.match(consumer, i.opcode) and any(_address_registers(op) & dests for op in i.operands)
    )


def probe_kernels(build: Callable[[tuple[int, int]], list[PtxKernel]]):
    """A Probe's `kernels(cc)` from a function cc -> [PtxKernel]: [(entry, PTX text)] for the dry run/worker."""

    def kernels(cc) -> list[tuple[str, str]]:
        return [(k.entry, k.ptx(target_for(tuple(cc)))) for k in build(tuple(cc))]

    return kernels


def sass_check(required: Callable[[str], dict[str, int]], clocks: int = 3):
    """A Probe's `check_sass(name, insts)`: the opcodes each kernel must contain plus the clock discipline."""

    def check_sass(name: str, insts) -> list[str]:
        return opcode_problems(insts, required(name)) + clock_discipline(insts, clocks)

    return check_sass
