"""How a probe is declared: what to measure, over which axes, under which requirements. No CUDA here.

A probe module in `probes/catalogue/` defines `PROBES = (Probe(...), ...)`. The engine owns repetition, warm-up,
timing and stopping; a probe's `measure(ctx, point)` launches its kernel once and returns one batch of samples.
Adding a probe means adding one module (plus, optionally, a PTX template in ptx/): discovery is automatic.

What a probe is, is declared as data where it can be: its sweep as `Axis`es whose names carry their units, its
parameters, requirements and smoke size, and what its compiled kernels must look like (`expect`, a
`probes.static.kernel_checks.Expect`: clock discipline, the chained load and its exact SASS opcode, the unrolled
steps per loop trip, the issue-cycle budget between steps), which the dry run and the compile tests check. Code is
left for what is not data: the kernel, `measure`, and axes derived from the device.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


class ProbeSpecError(ValueError):
    """A probe name, parameter or axis value is not acceptable."""


class KernelCheckError(RuntimeError):
    """A kernel returned a wrong result (final chase index, chain value, checksum): its timing means nothing.

    Every `measure()` verifies what its kernel computed against a host-side expectation and raises this on a
    mismatch; that check is what the simulator suite and the GPU self-test rely on.
    """


def geometric(lo: int, hi: int, per_octave: int = 4, multiple_of: int = 1) -> tuple[int, ...]:
    """Log-spaced integer sizes from lo to hi inclusive, rounded to `multiple_of`, without duplicates."""
    if lo <= 0 or hi < lo:
        raise ProbeSpecError(f"geometric({lo}, {hi}): need 0 < lo <= hi")
    n = int(round(math.log2(hi / lo) * per_octave))
    top = hi - hi % multiple_of or multiple_of
    vals = sorted(
        {
            v
            for i in range(n + 1)
            if (v := max(multiple_of, int(round(lo * 2 ** (i / per_octave) / multiple_of)) * multiple_of)) <= top
        }
        | {top}
    )
    return tuple(vals)


@dataclass(frozen=True)
class Param:
    """A user-settable parameter (`--param name=value`): typed, with a default and a validity check."""

    name: str
    type: type
    default: Any
    help: str = ""
    check: Callable[[Any], str | None] | None = None  # returns why a value is invalid, or None

    def parse(self, text: str) -> Any:
        try:
            if self.type is bool:
                if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError
                value = text.lower() in ("1", "true", "yes")
            elif self.type is int:
                value = int(text, 0)
            elif self.type is tuple:
                value = tuple(int(v, 0) for v in text.split(",") if v)
            else:
                value = self.type(text)
        except ValueError:
            raise ProbeSpecError(f"parameter {self.name}={text!r}: expected {self.type.__name__}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        if self.check:
            why = self.check(value)
            if why:
                raise ProbeSpecError(f"parameter {self.name}={value!r}: {why}")
        return value


def positive(value) -> str | None:
    vals = value if isinstance(value, tuple) else (value,)
    return None if vals and all(v > 0 for v in vals) else "must be > 0"


def multiple_of(n: int) -> Callable[[Any], str | None]:
    def check(value) -> str | None:
        vals = value if isinstance(value, tuple) else (value,)
        if not vals or any(v <= 0 for v in vals):
            return "must be > 0"
        bad = [v for v in vals if v % n]
        return f"must be a multiple of {n} bytes (got {bad[0]})" if bad else None

    return check


@dataclass(frozen=True)
class Requirement:
    """A condition on the device; unmet -> the probe is skipped and the reason stored."""

    description: str
    unmet: Callable[[dict, dict], str | None]  # (environment, params) -> reason or None


def min_cc(major: int, minor: int = 0) -> Requirement:
    def unmet(env: dict, params: dict) -> str | None:
        cc = tuple(env.get("compute_capability") or (0, 0))
        return (
            None if cc >= (major, minor) else f"needs compute capability >= {major}.{minor}, device has {cc[0]}.{cc[1]}"
        )

    return Requirement(f"cc >= {major}.{minor}", unmet)


def fits_in_free_memory(fraction: float, bytes_of: Callable[[dict], int]) -> Requirement:
    def unmet(env: dict, params: dict) -> str | None:
        free = env.get("memory_free_bytes")
        need = bytes_of(params)
        if free is None:
            return None
        return (
            None
            if need <= fraction * free
            else (f"working set {need} B exceeds {fraction:.0%} of free device memory ({free} B)")
        )

    return Requirement(f"working set <= {fraction:.0%} of free memory", unmet)


# Axis-name suffix -> unit (STYLE.md §1: axis names carry units). An axis without one declares `unit=` or is a
# category (an op name, a qualifier), `unit=""` by declaration.
UNIT_SUFFIXES = {"_bytes": "bytes", "_cycles": "cycles", "_ns": "ns", "_per_sm": "per SM", "_warps": "warps"}


@dataclass(frozen=True)
class Axis:
    """One axis of a probe's sweep: its name, its values and their unit.

    `values` is data (a tuple), or a function `(env, params) -> values` where the sweep depends on the device (sizes
    around its L2) or on several parameters; `param` takes the values of the parameter of that name (a `tuple`
    parameter: `--param stride_bytes=4,64`). `unit` defaults to the unit the name's suffix carries (`_bytes`...);
    `category=True` marks an axis of names (ops, qualifiers) that has no unit."""

    name: str
    values: tuple | Callable[[dict, dict], Iterable] | None = None
    param: str = ""
    unit: str = ""
    category: bool = False

    def __post_init__(self):
        if (self.values is None) == (not self.param):
            raise ProbeSpecError(f"axis {self.name!r}: give exactly one of values= or param=")
        if not self.unit and not self.category:
            suffix = next((u for s, u in UNIT_SUFFIXES.items() if self.name.endswith(s)), None)
            if suffix is None:
                raise ProbeSpecError(
                    f"axis {self.name!r}: its name carries no unit ({', '.join(UNIT_SUFFIXES)}); "
                    "declare unit= or category=True"
                )
            object.__setattr__(self, "unit", suffix)

    def resolve(self, env: dict, params: dict) -> tuple:
        if self.param:
            value = params[self.param]
            return tuple(value) if isinstance(value, (list, tuple)) else (value,)
        return tuple(self.values(env, params) if callable(self.values) else self.values)


@dataclass(frozen=True)
class Sweep:
    """Declared axes as the `(env, params) -> {axis name: values}` callable the engine calls (`Probe.axes`)."""

    axes: tuple[Axis, ...]

    def __call__(self, env: dict, params: dict) -> dict[str, tuple]:
        return {a.name: a.resolve(env, params) for a in self.axes}


@dataclass(frozen=True)
class Point:
    """One point of a probe's sweep: its axis values."""

    values: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict:
        return dict(self.values)


PACKAGE = Path(__file__).resolve().parent
INTRINSICS = PACKAGE / "kernel" / "intrinsics.py"
KERNEL_PACKAGE = "kernel"  # probes/kernel/: the kernel toolkit the probes call (chase, timed pass, PTX launcher, ...)
# `probes.kernel.NAME` or `from probes.kernel import NAME[ as X], ...` (parenthesised lists included)
_KERNEL_IMPORT = re.compile(r"\bprobes\.kernel(?:\.(\w+)|\s+import\s+(?:\(([^)]*)\)|([^\n#]*)))")


def kernel_modules_named(text: str) -> set[str]:
    """The kernel-toolkit modules (probes/kernel/NAME.py) that source text imports or names as probes.kernel.NAME."""
    names = set()
    for m in _KERNEL_IMPORT.finditer(text):
        if m.group(1):
            names.add(m.group(1))
        else:
            names.update(part.split()[0] for part in (m.group(2) or m.group(3)).split(",") if part.split())
    return names


def with_kernel_toolkit(module, files: list[Path]) -> list[Path]:
    """`files` plus the kernel-toolkit modules the probe module or any of those files imports, followed
    transitively (lazy imports inside functions included): the chase, fine-grained and bandwidth kernels, the timed
    pass and the rest of probes/kernel/ are the probe's kernel code too, so editing them changes its version."""
    toolkit = PACKAGE / KERNEL_PACKAGE
    try:
        pending = [inspect.getsource(module)] if module else []
    except (OSError, TypeError):
        pending = []
    pending += [p.read_text() for p in files]
    found: dict[str, Path] = {}
    while pending:
        for stem in kernel_modules_named(pending.pop()):
            path = toolkit / f"{stem}.py"
            if stem not in found and path.is_file():
                found[stem] = path
                pending.append(path.read_text())
    return files + [found[s] for s in sorted(found) if found[s] not in files and found[s] != INTRINSICS]


def helper_files(module) -> list[Path]:
    """Files whose code is part of a probe's kernels: the catalogue's private `_*.py` helpers named in the probe
    module's source (followed transitively, lazy imports inside functions included) and the intrinsics. Editing
    them changes what is measured, so they enter the probe's version (and the dry run's kernel cache key)."""
    helpers = {p.stem: p for p in (PACKAGE / "catalogue").glob("_*.py") if p.stem != "__init__"}
    try:
        pending = [inspect.getsource(module)] if module else []
    except (OSError, TypeError):
        pending = []
    family = _family_files(module)  # a probe in a family package: the package's shared modules are helpers too
    pending += [p.read_text() for p in family]
    used: set[str] = set()
    while pending:
        text = pending.pop()
        for stem, path in helpers.items():
            if stem not in used and re.search(rf"\b{stem}\b", text):
                used.add(stem)
                pending.append(path.read_text())
    return with_kernel_toolkit(module, family + [helpers[s] for s in sorted(used)]) + [INTRINSICS]


def _family_files(module) -> list[Path]:
    """The shared modules of the catalogue family package (probes/catalogue/<family>/) a probe module lives in:
    every module there but the package's list and the other probes' own modules (those declaring `PROBE =`)."""
    source = getattr(module, "__file__", None)
    if not source:
        return []
    path = Path(source).resolve()
    if path.parent.parent.name != "catalogue" or path.parent.name == "catalogue":
        return []
    return [
        p
        for p in sorted(path.parent.glob("*.py"))
        if p != path and p.name != "__init__.py" and not re.search(r"^PROBE\s*=", p.read_text(), re.MULTILINE)
    ]


@dataclass(frozen=True)
class Probe:
    name: str  # family.probe[.variant]: stable, dotted, lower-case
    summary: str
    measure: Callable[..., dict]  # (ctx, point: dict, params: dict) -> {"cycles": [...], "ns": [...], ...}
    axes: Callable[[dict, dict], dict[str, tuple]]  # (Axis, ...), or (environment, params) -> {axis name: values}
    unit: str  # unit of the headline value, e.g. "cycles/load"
    method: str  # one paragraph: how the number is obtained
    params: tuple[Param, ...] = ()
    requires: tuple[Requirement, ...] = ()
    kernels: Callable[[tuple[int, int]], list] | None = None  # cc -> [(kernel name, PTX text)] for SASS checks
    check_sass: Callable[[str, list], list[str]] | None = None  # (kernel name, instructions) -> problems found
    budget_seconds: float = 20.0  # per point; the stopping rule's backstop
    value_key: str = "cycles_per_op"  # sample field the stopping rule watches
    smoke: tuple[str, ...] = ()  # "name=value" params for the smallest run that still launches
    # every kernel: simulator suite, GPU self-test, dry-run plan
    ptx: str | None = None  # "ptx/<name>.ptx": a hand-written PTX probe (probes/kernel/ptx.py)
    expect: Any = None  # probes.static.kernel_checks.Expect: what the compiled kernels must
    # show (dry-run schedule checks; with `opcode`, also the SASS check)
    plan: Callable[..., dict] | None = None  # (env, point, params, launches) -> what a chase visits (coverage)
    occupancy: Callable[[dict, dict], list] | None = None  # (env, params) -> [(function, threads, blocks per SM)]
    module: str = ""  # filled by the catalogue loader

    def __post_init__(self):
        if not self.name or set(self.name) - NAME_CHARS or "." not in self.name:
            raise ProbeSpecError(f"probe name {self.name!r}: use family.probe, lower-case letters, digits, . _ -")
        if isinstance(self.axes, (tuple, list)):
            if not all(isinstance(a, Axis) for a in self.axes):
                raise ProbeSpecError(f"probe {self.name}: axes must be Axis declarations or one function")
            object.__setattr__(self, "axes", Sweep(tuple(self.axes)))
        if self.check_sass is None and getattr(self.expect, "opcode", ""):
            object.__setattr__(self, "check_sass", self.expect.check_sass)  # the declared SASS is the check

    def parse_params(self, pairs: Iterable[str]) -> dict:
        known = {p.name: p for p in self.params}
        values = {p.name: p.default for p in self.params}
        for pair in pairs:
            if "=" not in pair:
                raise ProbeSpecError(f"--param {pair!r}: expected name=value")
            key, text = pair.split("=", 1)
            if key not in known:
                choices = ", ".join(sorted(known)) or "none"
                raise ProbeSpecError(f"probe {self.name} has no parameter {key!r} (parameters: {choices})")
            values[key] = known[key].parse(text)
        return values

    def points(self, env: dict, params: dict) -> list[Point]:
        axes = self.axes(env, params)
        names = list(axes)
        return [Point(tuple(zip(names, combo))) for combo in itertools.product(*(axes[n] for n in names))]

    def axis_units(self) -> dict[str, str]:
        """{axis name: unit} of declared axes ('' for a category); {} for axes computed by a function."""
        return {a.name: a.unit for a in self.axes.axes} if isinstance(self.axes, Sweep) else {}

    def unmet(self, env: dict, params: dict) -> list[str]:
        return [why for r in self.requires if (why := r.unmet(env, params))]

    def version(self) -> str:
        """Hash of the probe's module source and its PTX templates: results of edited code are marked stale."""
        h = hashlib.sha256()
        module = inspect.getmodule(self.measure)
        try:
            h.update(inspect.getsource(module).encode())
        except (OSError, TypeError):
            h.update(self.name.encode())
        for path in helper_files(module):
            h.update(path.name.encode() + path.read_bytes())
        for tpl in self.templates():
            h.update(tpl.read_bytes())
        return h.hexdigest()[:16]

    def templates(self) -> list[Path]:
        root = Path(__file__).resolve().parent.parent / "ptx"
        if self.ptx:
            return [root.parent / self.ptx]
        stem = self.name.split(".")[0]
        return sorted(root.glob(f"{stem}*.ptx")) if root.is_dir() else []
