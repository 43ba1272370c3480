"""README "Adding a probe": a new probe family is three new files and no edit anywhere else (issue 21 §6).

A temporary copy of the package gains a toy family as exactly three files (a catalogue module with a small Numba
kernel built on the engine's timed-pass primitive, an analysis module, a report section), and fresh processes show
that it is listed, dry-run checked (its kernel compiled for sm_90 and held to its declared `expect`), measured end
to end under the simulator through the campaign's workers, and reported. Nothing else in the copy differs from
the real tree, so nothing else had to be edited: no hand-kept list, dispatch table, schema enum or dry-run entry.

The toy kernel's one import line of the kernel toolkit (TOOLKIT below) is the only coupling to where that toolkit
lives: moving it (probes/engine -> probes/kernel) is a one-line change here.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLKIT = "from probes.kernel import compile as C, intrinsics as X, timed_pass as T"

CATALOGUE = f'''"""Toy family: one thread runs a dependent chain of 32-bit integer adds; cycles per add.

Method: `x = x + b` repeated, `T.UNROLL` adds per trip of the engine's timed-pass loop, passes of n and 2n trips;
cycles per add = (t(2n) - t(n)) / (n x unroll). The final x is checked against the host's sum.
"""
from __future__ import annotations

import numpy as np

{TOOLKIT}
from probes.spec import Axis, KernelCheckError, Probe, min_cc
from probes.static.kernel_checks import Expect

B = 3
# under the simulator each add also reads the test clock (+4), so the n/2n arithmetic is checkable there
_BODY = ["x = x + b"] + (["clock64()"] if X.SIMULATOR else [])
_LINES = ["def toy_add(xs, b, trips, out):", "    x = xs[0]",
          *T.section(_BODY * T.UNROLL, "x == 0", "out[3] = 7", clocks=(("t", "clock64()"),)),
          "    out[0] = t1 - t0", "    out[1] = t2 - t1", "    out[2] = x"]
_SCOPE = {{"uint32": np.uint32, "clock64": X.clock64}}
exec(compile("\\n".join(_LINES), "<toy_add>", "exec"), _SCOPE)
toy_add = _SCOPE["toy_add"]


def measure(ctx, point, params):
    trips = point["trips"]
    out = ctx.device_array(4, np.uint64)
    ctx.kernel("toy.add", toy_add)[1, 1](ctx.to_device(np.ones(1, np.uint32)), np.uint32(B), np.uint32(trips), out)
    ctx.synchronize()
    c1, c2, x, _ = (int(v) for v in out.copy_to_host())
    want = (1 + B * 3 * trips * T.UNROLL) % 2**32
    if x != want:
        raise KernelCheckError(f"toy add chain ended at {{x}}, expected {{want}}")
    steps = trips * T.UNROLL
    return {{"cycles_per_op": (c2 - c1) / steps, "cycles_n": c1, "cycles_2n": c2, "steps": steps}}


def kernels(cc):
    from numba import types
    sig = (types.uint32[::1], types.uint32, types.uint32, types.uint64[::1])
    return [("toy_add", C.kernel_ptx(toy_add, sig, cc))]


PROBES = (Probe(
    name="toy.add", summary="dependent 32-bit add chain, one thread", measure=measure,
    axes=(Axis("trips", (1, 2), unit="loop trips"),), unit="cycles/add", method=__doc__.split("\\n\\n")[1],
    requires=(min_cc(7, 0),), kernels=kernels, expect=Expect(), budget_seconds=5,
),)
'''

ANALYSIS = '''"""Toy family analysis: cycles per add from stored results. No CUDA."""
from __future__ import annotations

import numpy as np


def per_point(doc: dict) -> list[dict]:
    return [{"loop trips": p["axes"]["trips"], "cycles per add": p["summary"]["median"],
             "samples": p["summary"]["n"]} for p in doc["points"] if p.get("summary")]


def headline(doc: dict) -> float:
    return float(np.median([row["cycles per add"] for row in per_point(doc)]))
'''

SECTION = '''"""Report section of the toy family."""
from __future__ import annotations

from probes.analysis import toy_add as A
from probes.report.sections import Finding, Paragraph, Section, Table, latest_run
from probes.verdicts import UNDOCUMENTED

FAMILY = "toy"
TITLE = "Toy add chain"
PREFIXES = ("toy.",)
ORDER = 99


def section(docs: list[dict]) -> Section:
    import pandas as pd
    doc = latest_run(docs, "toy.add")
    if doc is None:
        return Section(FAMILY, TITLE, [Paragraph("No toy run with data.")], [])
    value = A.headline(doc)
    blocks = [Paragraph(f"Toy chain: {value:.2f} cycles per add over {len(doc['points'])} points."),
              Table(pd.DataFrame(A.per_point(doc)), caption="cycles per add by loop trips")]
    return Section(FAMILY, TITLE, blocks, [Finding(FAMILY, "toy add latency", value, "cycles", UNDOCUMENTED,
                                                   "median over the points", data=(doc["_file"],))])
'''

NEW_FILES = {
    "probes/catalogue/toy_add.py": CATALOGUE,
    "probes/analysis/toy_add.py": ANALYSIS,
    "probes/report/sections/toy_add.py": SECTION,
}
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _differences(a: Path, b: Path, rel: str = "") -> list[str]:
    """Paths (relative) that exist in only one tree or differ in content."""
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    out = [f"{rel}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files]
    for sub in cmp.common_dirs:
        out += _differences(a / sub, b / sub, f"{rel}{sub}/")
    return out


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_ENABLE_CUDASIM", "GPU_PROBES_EXTRA_CATALOGUE")}
    env["PYTHONPATH"] = str(cwd)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


@pytest.fixture(scope="module")
def toy_tree(tmp_path_factory):
    """A copy of the package and its PTX templates, plus the three files of the toy family."""
    tree = tmp_path_factory.mktemp("tree")
    for part in ("probes", "ptx"):
        shutil.copytree(ROOT / part, tree / part, ignore=IGNORE)
    for rel, text in NEW_FILES.items():
        assert not (ROOT / rel).exists(), rel
        (tree / rel).write_text(text)
    return tree


def test_the_copy_differs_from_the_tree_by_the_three_new_files_only(toy_tree):
    assert sorted(_differences(ROOT / "probes", toy_tree / "probes")) == sorted(
        rel.removeprefix("probes/") for rel in NEW_FILES
    )
    assert _differences(ROOT / "ptx", toy_tree / "ptx") == []


def test_a_new_family_of_three_files_is_listed_dry_run_checked_measured_and_reported(toy_tree):
    listed = _run(["-m", "probes", "list"], toy_tree)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert any(line.startswith("toy.add ") and "[cycles/add]" in line for line in listed.stdout.splitlines())
    listed = _run(["-m", "probes", "list", "--json"], toy_tree)
    toy = next(p for p in json.loads(listed.stdout) if p["name"] == "toy.add")
    assert toy["axes"] == {"trips": "loop trips"} and toy["unit"] == "cycles/add"  # declared axes and units

    dry = _run(["-m", "probes", "campaign", "--dry-run", "--probes", "toy", "--arch", "sm_90"], toy_tree)
    assert dry.returncode == 0, (dry.stdout + dry.stderr)[-3000:]
    assert "dry run sm_90: 1 probes, 1 kernels compiled and SASS-checked, 0 failures" in dry.stdout
    clock = next(ln for ln in dry.stdout.splitlines() if ln.strip().startswith("clock discipline"))
    assert int(clock.split()[2]) >= 1 and " 0 failures" in clock  # its declared Expect() was checked
    planned = next(ln for ln in dry.stdout.splitlines() if ln.split()[:1] == ["toy.add"])
    assert planned.split()[1] == "2" and planned.endswith("trips [loop trips]")  # 2 points, the declared axis

    plan = _run(
        [
            "-c",
            "from probes.engine import campaign as C; "
            "print(*[s.probe.name for s in C.resolve_plan(C.load_plan('quick'))])",
        ],
        toy_tree,
    )
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "toy.add" in plan.stdout.split()  # the quick campaign touches every family, a new one too

    reports = toy_tree / "out"
    run = _run(
        [
            "-m",
            "probes",
            "campaign",
            "--backend",
            "simulator",
            "--probes",
            "toy",
            "--out",
            str(reports / "sim" / "data"),
            "--quiet",
            "--no-resume",
        ],
        toy_tree,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "1/1 probes complete" in run.stdout
    assert (reports / "sim" / "data" / "toy.add.json").is_file()

    build = _run(
        [
            "-c",
            "import sys; from pathlib import Path; from probes.report.build import build_reports; "
            "print(*build_reports(Path(sys.argv[1]), allow_simulated=True))",
            str(reports),
        ],
        toy_tree,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    readme = (reports / "sim" / "README.md").read_text()
    body = readme.split("## Toy add chain", 1)[1].split("\n## ", 1)[0]
    # the simulator's test clock charges 4 per add: the two-pass arithmetic must give exactly 4.00
    assert "Toy chain: 4.00 cycles per add over 2 points." in body and "Not measured" not in body
    assert "toy add latency" in readme


def test_a_new_probe_is_one_file_and_reported_as_measured_without_a_section(tmp_path):
    """One catalogue module alone: listed, measured, and in the report under "Other measurements" (its stored
    points as measured) until a section reads it."""
    for part in ("probes", "ptx"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=IGNORE)
    (tmp_path / "probes/catalogue/solo_add.py").write_text(CATALOGUE.replace('name="toy.add"', 'name="solo.add"'))
    assert _differences(ROOT / "probes", tmp_path / "probes") == ["catalogue/solo_add.py"]
    assert "solo.add" in _run(["-m", "probes", "list"], tmp_path).stdout
    reports = tmp_path / "out"
    run = _run(
        [
            "-m",
            "probes",
            "campaign",
            "--backend",
            "simulator",
            "--probes",
            "solo",
            "--out",
            str(reports / "sim" / "data"),
            "--quiet",
            "--no-resume",
        ],
        tmp_path,
    )
    assert run.returncode == 0 and "1/1 probes complete" in run.stdout, (run.stdout + run.stderr)[-3000:]
    build = _run(
        [
            "-c",
            "import sys; from pathlib import Path; from probes.report.build import build_reports; "
            "build_reports(Path(sys.argv[1]), allow_simulated=True)",
            str(reports),
        ],
        tmp_path,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    other = (reports / "sim" / "README.md").read_text().split("## Other measurements", 1)[1]
    assert "### solo.add (ok)" in other and "trips=1" in other and "trips=2" in other
