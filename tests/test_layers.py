"""The floors of the house hold (pyproject.toml `[tool.importlinter]`, also run by `make lint`): no import runs back
up a floor, modules on one floor do not import each other, no circle at any depth, no private module (`_name.py`)
imported from outside its package, and analysis and reports import no engine, catalogue, kernel or CUDA code. A
failure prints import-linter's report, which names each broken contract and the import chain that breaks it
(`probes.kernel.chase -> probes.engine.campaign (l.3)`).

The same contracts are then run on a package of the same shape with one deliberate bad import each, to show that
they catch it: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import probes

ROOT = Path(__file__).resolve().parent.parent
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"


def lint(where: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    r = subprocess.run([sys.executable, "-c", LINT], cwd=where, env=env, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def test_the_house_keeps_its_floors():
    rc, out = lint(ROOT)
    assert rc == 0, out
    assert "0 broken" in out


def same_shape(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `probes` with the real one's top-level modules and packages (empty), plus `files`, beside a copy of
    the real pyproject.toml: the real contracts, checked on a tree small enough to break on purpose."""
    fake = tmp_path / "probes"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    for info in pkgutil.iter_modules(probes.__path__):
        if info.ispkg:
            (fake / info.name).mkdir()
            (fake / info.name / "__init__.py").write_text("")
        else:
            (fake / f"{info.name}.py").write_text("")
    for rel, text in files.items():
        (fake / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake / rel).write_text(text)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_a_tree_of_the_same_shape_without_bad_imports_passes(tmp_path):
    rc, out = lint(
        same_shape(
            tmp_path,
            {
                "kernel/chase.py": "from probes import spec\n",
                "engine/campaign.py": "from probes.kernel import chase\n",
                "analysis/levels.py": "from probes import stats\n",
            },
        )
    )
    assert rc == 0, out


@pytest.mark.parametrize(
    "files, named",
    [
        # the kernel toolkit importing the runner: an arrow back up
        (
            {"kernel/chase.py": "\n\nfrom probes.engine import campaign\n", "engine/campaign.py": ""},
            "probes.kernel.chase -> probes.engine.campaign",
        ),
        # the statistics on the ground floor importing the engine, lazily inside a function
        (
            {"stats.py": "def f():\n    from probes.engine import measure\n", "engine/measure.py": ""},
            "probes.stats -> probes.engine.measure",
        ),
        # two modules of one floor importing each other's floor (analysis and the dry run are independent)
        ({"analysis/levels.py": "import probes.dryrun\n"}, "probes.analysis.levels -> probes.dryrun"),
        # analysis reaching into a probe's kernels, and into CUDA
        (
            {"analysis/hints.py": "from probes.kernel import intrinsics\n", "kernel/intrinsics.py": ""},
            "probes.analysis.hints -> probes.kernel.intrinsics",
        ),
        ({"report/build.py": "import numba.cuda\n"}, "probes.report.build -> numba"),
        # a new top-level module that nobody gave a floor
        ({"newfloor.py": ""}, "probes.newfloor"),
        # a circle inside one floor
        (
            {
                "static/sass.py": "from probes.static import schedule\n",
                "static/schedule.py": "from probes.static import sass\n",
            },
            "No cycles are allowed in probes.static",
        ),
        # a private module imported from outside its package
        (
            {"catalogue/_helpers.py": "", "engine/measure.py": "from probes.catalogue import _helpers\n"},
            "probes.engine.measure -> probes.catalogue._helpers",
        ),
    ],
)
def test_a_deliberate_bad_import_is_caught_and_named(tmp_path, files, named):
    rc, out = lint(same_shape(tmp_path, files))
    assert rc != 0, out
    assert named in out, out
