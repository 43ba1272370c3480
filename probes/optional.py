"""Optional dependencies: what a bare GPU image may lack, and the one line that says which extra to install.

Importing `probes` and running a campaign needs only numpy, scipy, numba, numba-cuda, cuda-bindings/cuda-core,
nvidia-ml-py, filelock, tqdm and pandas. Analysis, reports and fleets need more; those modules are imported where
they are used (`lazy()` defers a module-level import to its first use), and a missing one surfaces as
`MissingExtra`, an ImportError whose message is one line naming the extra (`pip install 'gpu-probes[report]'`).
"""

from __future__ import annotations

import importlib
import types

# top-level module -> (extra of pyproject.toml that installs it, what needs it)
EXTRAS = {
    "ruptures": ("report", "ladder analysis (change points)"),
    "diptest": ("report", "near/far L2 analysis (dip test)"),
    "matplotlib": ("report", "figures"),
    "seaborn": ("report", "figures"),
    "jinja2": ("report", "the HTML report"),
    "submitit": ("fleet", "fleet jobs on Slurm"),
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message is one line naming the extra to install."""


def message(name: str) -> str:
    root = name.split(".")[0]
    extra, what = EXTRAS.get(root, ("report", "this step"))
    return f"{root} is not installed; {what} needs it: pip install 'gpu-probes[{extra}]'"


def explain(err: BaseException) -> str | None:
    """The one-line advice for an ImportError of an optional dependency, else None (a real bug: let it raise)."""
    if isinstance(err, MissingExtra):
        return str(err)
    name = getattr(err, "name", None) or ""
    return message(name) if isinstance(err, ImportError) and name.split(".")[0] in EXTRAS else None


def require(name: str) -> types.ModuleType:
    """Import `name` now, or raise MissingExtra with the one-line advice."""
    try:
        return importlib.import_module(name)
    except ImportError as err:
        if (getattr(err, "name", None) or name).split(".")[0] != name.split(".")[0]:
            raise  # the module is there but one of *its* imports failed: not ours to explain
        raise MissingExtra(message(name), name=name) from None


class _Lazy(types.ModuleType):
    def __init__(self, name: str):
        super().__init__(name)
        self.__dict__["_target"] = None

    def __getattr__(self, attr):
        target = self.__dict__["_target"]
        if target is None:
            target = self.__dict__["_target"] = require(self.__name__)
        return getattr(target, attr)


def lazy(name: str) -> types.ModuleType:
    """A stand-in for `import name` that imports on first attribute access (MissingExtra if it is absent)."""
    return _Lazy(name)


def available(name: str) -> bool:
    try:
        require(name)
    except MissingExtra:
        return False
    return True
