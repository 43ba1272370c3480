"""The probe catalogue: every module here that defines `PROBES` is discovered; nothing else needs editing.

`GPU_PROBES_EXTRA_CATALOGUE=pkg.mod[,pkg.mod2]` adds probe modules from outside the package (a user's own
probes, or the fault-injection probes of the test suite).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import pkgutil

from probes.spec import Probe, ProbeSpecError


class UnknownProbe(ProbeSpecError):
    pass


@functools.cache
def all_probes() -> dict[str, Probe]:
    found: dict[str, Probe] = {}
    names = [
        f"{__name__}.{i.name}"
        for i in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not i.name.startswith("_")
    ]
    names += [m.strip() for m in os.environ.get("GPU_PROBES_EXTRA_CATALOGUE", "").split(",") if m.strip()]
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as err:
            raise ProbeSpecError(f"cannot import probe module {name}: {err}") from None
        for probe in getattr(module, "PROBES", ()):
            if probe.name in found:
                raise ProbeSpecError(
                    f"probe {probe.name} declared twice ({found[probe.name].module}, {module.__name__})"
                )
            object.__setattr__(probe, "module", module.__name__)
            found[probe.name] = probe
    return found


def load(name: str, module: str = "") -> Probe:
    """The probe `name`, importing only `module` (its Probe.module, which the campaign passes to each worker) and
    what that module imports: a worker starts without importing the whole catalogue. Without `module`, or when the
    probe is not (or no longer) declared there, this is get(name)."""
    if module:
        try:
            found = importlib.import_module(module)
        except ImportError as err:
            raise ProbeSpecError(f"cannot import probe module {module}: {err}") from None
        for probe in getattr(found, "PROBES", ()):
            if probe.name == name:
                object.__setattr__(probe, "module", found.__name__)
                return probe
    return get(name)


def get(name: str) -> Probe:
    probes = all_probes()
    if name in probes:
        return probes[name]
    close = difflib.get_close_matches(name, probes, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m probes list` shows them"
    raise UnknownProbe(f"unknown probe {name!r}{hint}")


def select(patterns: list[str] | None) -> list[Probe]:
    """Probes whose name equals or starts with one of the patterns (a family prefix such as `latency.`)."""
    probes = all_probes()
    if not patterns:
        return list(probes.values())
    chosen = []
    for pat in patterns:
        hits = [p for n, p in probes.items() if n == pat or n.startswith(pat.rstrip(".") + ".")]
        if not hits:
            get(pat)  # raises with suggestions
        chosen += [p for p in hits if p not in chosen]
    return chosen
