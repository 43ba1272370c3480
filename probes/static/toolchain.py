"""The NVIDIA toolchain without a driver: find ptxas/cuobjdump/nvdisasm, assemble PTX, disassemble cubins.

Tools come from the pip wheels (`nvidia-cuda-nvcc`, `nvidia-cuda-cuobjdump`, `nvidia-cuda-nvdisasm`) first, so a
machine without a CUDA toolkit works and the version recorded in every atlas is the one we installed; the system
toolkit on PATH is the fallback. `GPU_PROBES_<TOOL>` (e.g. GPU_PROBES_PTXAS) overrides both.

Disassembly costs ~0.6 s per call, assembly ~0.02 s: callers batch many kernels into one module per architecture
(`assemble_many`), and results are cached on disk keyed by a hash of tool version, arch and source.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import filelock

# Every architecture name CUDA 13 knows of; `supported_archs()` keeps those the installed ptxas accepts.
CANDIDATE_ARCHS = (
    "sm_70",
    "sm_72",
    "sm_75",
    "sm_80",
    "sm_86",
    "sm_87",
    "sm_88",
    "sm_89",
    "sm_90",
    "sm_90a",
    "sm_100",
    "sm_100a",
    "sm_100f",
    "sm_101",
    "sm_101a",
    "sm_103",
    "sm_103a",
    "sm_103f",
    "sm_110",
    "sm_110a",
    "sm_110f",
    "sm_120",
    "sm_120a",
    "sm_120f",
    "sm_121",
    "sm_121a",
    "sm_121f",
)
_ARCH_RE = re.compile(r"^sm_(\d+)([af]?)$")


class ToolchainError(RuntimeError):
    """A tool is missing or failed in a way that is not the input's fault."""


class AssemblyError(ValueError):
    """ptxas rejected the PTX; `log` holds ptxas's own words."""

    def __init__(self, arch: str, log: str):
        self.arch, self.log = arch, log.strip()
        first = self.log.splitlines()[0] if self.log else "no message"
        super().__init__(f"ptxas rejected the PTX for {arch}: {first}")


def arch_key(arch: str) -> tuple[int, str]:
    """Sort key and validator: 'sm_90a' -> (90, 'a'). Raises ValueError on a malformed name."""
    m = _ARCH_RE.match(arch)
    if not m:
        raise ValueError(f"unknown architecture {arch!r}: expected a name like sm_90 or sm_90a")
    return int(m.group(1)), m.group(2)


def _wheel_bin_dirs() -> list[Path]:
    dirs = []
    try:
        import nvidia  # namespace package of the pip wheels

        for root in getattr(nvidia, "__path__", []):
            for sub in ("cu13/bin", "cuda_nvcc/bin", "cuda_cuobjdump/bin", "cuda_nvdisasm/bin"):
                p = Path(root) / sub
                if p.is_dir():
                    dirs.append(p)
    except ImportError:
        pass
    return dirs


@functools.cache
def find_tool(name: str) -> Path:
    override = os.environ.get(f"GPU_PROBES_{name.upper()}")
    if override:
        if not Path(override).is_file():
            raise ToolchainError(f"GPU_PROBES_{name.upper()}={override} does not exist")
        return Path(override)
    for d in _wheel_bin_dirs():
        if (d / name).is_file():
            return d / name
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ToolchainError(
        f"{name} not found: install the pip wheel (pip install gpu-probes) or a CUDA toolkit, "
        f"or set GPU_PROBES_{name.upper()}"
    )


@functools.cache
def tool_version(name: str) -> str:
    """'13.5.37' style version of a tool, from its --version banner."""
    out = subprocess.run([str(find_tool(name)), "--version"], capture_output=True, text=True, check=False).stdout
    m = re.search(r"V(\d+\.\d+\.\d+)", out) or re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else "unknown"


_ISA_OF_RELEASE = {  # CUDA release -> PTX ISA it introduced (PTX ISA release notes)
    (12, 0): "8.0",
    (12, 1): "8.1",
    (12, 2): "8.2",
    (12, 3): "8.3",
    (12, 4): "8.4",
    (12, 5): "8.5",
    (12, 6): "8.5",
    (12, 7): "8.6",
    (12, 8): "8.7",
    (12, 9): "8.8",
}


@functools.cache
def ptx_isa_version() -> str:
    """The PTX ISA version to write in generated modules: the newest the installed ptxas accepts.

    From the release (12.8 -> 8.7, 12.9 -> 8.8, 13.x -> 9.x), then confirmed by assembling an empty kernel; if
    ptxas refuses it, lower versions are tried (a release this table does not know yet)."""
    try:
        major, minor = (int(x) for x in tool_version("ptxas").split(".")[:2])
    except ValueError:
        major, minor = 13, 0
    guess = f"{major - 4}.{minor}" if major >= 13 else _ISA_OF_RELEASE.get((major, minor), "8.0")
    gmaj, gmin = (int(x) for x in guess.split("."))
    candidates = [f"{gmaj}.{m}" for m in range(gmin, -1, -1)] + (
        ["8.8", "8.7", "8.5", "8.4", "8.0"] if gmaj > 8 else []
    )
    for cand in candidates:
        if _accepts_version(cand):
            return cand
    return guess


def _accepts_version(version: str) -> bool:
    text = f".version {version}\n.target sm_75\n.address_size 64\n.visible .entry probe()\n{{\n  ret;\n}}\n"
    try:
        assemble(text, "sm_75")
        return True
    except (AssemblyError, ToolchainError):
        return False


def cache_dir() -> Path:
    base = os.environ.get("GPU_PROBES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "gpu-probes"
    )
    return Path(base)


def cached(kind: str, key_parts: tuple[str, ...], produce, suffix: str) -> bytes:
    key = hashlib.sha256("\0".join(key_parts).encode()).hexdigest()[:32]
    path = cache_dir() / kind / f"{key}{suffix}"
    if path.is_file():
        return path.read_bytes()
    with _one_producer(path):  # processes wanting the same entry (pytest-xdist workers) compile it once
        if path.is_file():
            return path.read_bytes()
        data = produce()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old or the whole new file
        except OSError:
            pass  # a read-only cache only costs speed
    return data


@contextlib.contextmanager
def _one_producer(path: Path):
    """Hold a lock beside a cache entry while it is produced: a second process asking for it waits, then reads it.
    The lock file is removed afterwards (a process that finds the entry never takes the lock). A cache that cannot
    hold the lock (read-only) produces without one: only speed is at stake."""
    lock = filelock.FileLock(f"{path}.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
        held = True
    except OSError:
        held = False
    try:
        yield
    finally:
        if held:
            lock.release()
            with contextlib.suppress(OSError):
                os.unlink(f"{path}.lock")


def assemble(ptx: str, arch: str, extra_flags: tuple[str, ...] = (), cache: bool = True) -> bytes:
    """PTX text -> cubin bytes with ptxas. Raises AssemblyError carrying ptxas's log. cache=False: callers that
    cache per kernel themselves (the variant atlas) skip the per-module disk cache."""
    arch_key(arch)
    ptxas = find_tool("ptxas")

    def produce() -> bytes:
        with tempfile.TemporaryDirectory(prefix="gpu-probes-") as d:
            src, out = Path(d) / "in.ptx", Path(d) / "out.cubin"
            src.write_text(ptx)
            r = subprocess.run(
                [str(ptxas), f"-arch={arch}", *extra_flags, str(src), "-o", str(out)],
                capture_output=True,
                text=True,
                check=False,
            )
            if r.returncode != 0:
                raise AssemblyError(arch, (r.stderr or r.stdout).replace(str(src), "input.ptx"))
            return out.read_bytes()

    if not cache:
        return produce()
    return cached("cubin", ("ptxas", tool_version("ptxas"), arch, *extra_flags, ptx), produce, ".cubin")


@dataclass(frozen=True)
class PtxKernel:
    """One `.entry` of a batched module: its name and its full text (from `.visible .entry` to the closing brace)."""

    name: str
    text: str


def module_text(kernels: list[PtxKernel], arch: str, version: str | None = None, prelude: str = "") -> str:
    header = f".version {version or ptx_isa_version()}\n.target {arch}\n.address_size 64\n{prelude}\n"
    return header + "\n".join(k.text for k in kernels)


_LINE_RE = re.compile(r"line (\d+);")


def assemble_many(
    kernels: list[PtxKernel], arch: str, prelude: str = "", cache: bool = True
) -> tuple[bytes | None, dict[str, str]]:
    """Assemble many kernels in one module. A kernel ptxas rejects is dropped with its error text and the rest retried.

    Returns (cubin of the accepted kernels or None if none, {rejected kernel name: ptxas message}).
    ptxas stops a whole module on any error, so errors are mapped back to kernels by line number.
    """
    pending = list(kernels)
    rejected: dict[str, str] = {}
    while pending:
        text = module_text(pending, arch, prelude=prelude)
        try:
            return assemble(text, arch, cache=cache), rejected
        except AssemblyError as err:
            # Map each error line to the kernel whose text spans it.
            starts, line = [], text.count("\n", 0, text.index(pending[0].text)) + 1
            for k in pending:
                starts.append((line, line + k.text.count("\n"), k))
                line += k.text.count("\n") + 1
            hit = {}
            for msg in err.log.splitlines():
                m = _LINE_RE.search(msg)
                if not m:
                    continue
                n = int(m.group(1))
                for lo, hi, k in starts:
                    if lo <= n <= hi:
                        hit.setdefault(k.name, _clean_message(msg))
            if not hit:  # not attributable to one kernel (unknown arch, fatal option error): all fail alike
                for k in pending:
                    rejected[k.name] = _clean_message(err.log.splitlines()[0] if err.log else "ptxas failed")
                return None, rejected
            rejected.update(hit)
            pending = [k for k in pending if k.name not in hit]
    return None, rejected


def _clean_message(msg: str) -> str:
    """ptxas's message without the file/line prefix, so identical errors compare equal across modules."""
    msg = re.sub(r"^ptxas\s+\S+,\s*line \d+;\s*", "", msg.strip())
    return re.sub(r"\s+", " ", msg.replace("ptxas fatal   :", "fatal:")).strip()


@functools.cache
def supported_archs(candidates: tuple[str, ...] = CANDIDATE_ARCHS) -> tuple[str, ...]:
    """The candidate architectures the installed ptxas accepts (tested with a trivial kernel)."""
    ok = []
    for arch in candidates:
        probe = module_text([PtxKernel("probe", ".visible .entry probe()\n{\n  ret;\n}\n")], arch)
        try:
            assemble(probe, arch)
            ok.append(arch)
        except AssemblyError:
            pass
    if not ok:
        raise ToolchainError(
            f"ptxas {tool_version('ptxas')} ({find_tool('ptxas')}) accepts none of "
            f"{candidates[0]}..{candidates[-1]} with PTX ISA {ptx_isa_version()}"
        )
    return tuple(ok)


@functools.cache
def unreadable_archs(archs: tuple[str, ...] | None = None) -> dict[str, str]:
    """{arch: cuobjdump's complaint} for targets ptxas assembles but the installed cuobjdump cannot read
    (cuobjdump 13.x no longer reads sm_70/sm_72 cubins that ptxas 12.x still writes)."""
    out = {}
    for arch in archs or supported_archs():
        probe = module_text([PtxKernel("probe", ".visible .entry probe()\n{\n  ret;\n}\n")], arch)
        try:
            cuobjdump_sass(assemble(probe, arch))
        except ToolchainError as err:
            out[arch] = str(err)
    return out


def cuobjdump_sass(cubin: bytes, cache: bool = True) -> str:
    """`cuobjdump -sass` text of a cubin (cached unless cache=False)."""
    tool = find_tool("cuobjdump")

    def produce() -> bytes:
        with tempfile.TemporaryDirectory(prefix="gpu-probes-") as d:
            p = Path(d) / "in.cubin"
            p.write_bytes(cubin)
            r = subprocess.run([str(tool), "-sass", str(p)], capture_output=True, text=True, check=False)
            if r.returncode != 0:
                raise ToolchainError(f"cuobjdump failed: {(r.stderr or r.stdout).strip().splitlines()[:1]}")
            return r.stdout.encode()

    if not cache:
        return produce().decode()
    key = ("cuobjdump", tool_version("cuobjdump"), hashlib.sha256(cubin).hexdigest())
    return cached("sass", key, produce, ".sass").decode()


def toolchain_versions() -> dict[str, str]:
    """Versions of every tool the static part used, for provenance blocks."""
    out = {}
    for name in ("ptxas", "cuobjdump", "nvdisasm"):
        try:
            out[name] = f"{tool_version(name)} ({_origin(find_tool(name))})"
        except ToolchainError:
            out[name] = "not found"
    return out


def _origin(path: Path) -> str:
    return "pip wheel" if "site-packages" in str(path) else str(path)


def arch_ranges(archs, universe=None) -> str:
    """'sm_75–sm_89, sm_100a' : runs of consecutive targets (in `universe`, default CANDIDATE_ARCHS) as ranges."""
    if universe is None:
        try:
            installed = supported_archs()
        except ToolchainError:
            installed = ()
        universe = installed if set(archs) <= set(installed) else CANDIDATE_ARCHS
    universe = sorted(set(universe) | set(archs), key=arch_key)
    chosen = set(archs)
    runs: list[list[str]] = []
    prev_in = False
    for a in universe:
        if a in chosen:
            if prev_in:
                runs[-1].append(a)
            else:
                runs.append([a])
        prev_in = a in chosen
    return ", ".join(r[0] if len(r) == 1 else f"{r[0]}–{r[-1]}" for r in runs)
