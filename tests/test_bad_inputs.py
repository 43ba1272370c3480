"""Every bad input and fault in tests/data/bad_inputs.toml: its exit code, one `error:` line per problem naming it,
no traceback, no temporary file left, nothing it must not touch touched. The next bad input is one row there."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from probes.cli import main
from probes.results import io

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "data" / "bad_inputs.toml"
PEER = ROOT / "tests" / "data" / "peer_formats"
CASES = tomllib.loads(TABLE.read_text())["case"]

SIM_ENV = {
    "backend": "simulator",
    "gpu_name": "Numba CUDA simulator",
    "gpu_slug": "simulator",
    "compute_capability": [9, 0],
    "cuda_driver_version": None,
    "driver_version": None,
    "versions": {"numba": "0.0", "gpu-probes": "0.1.0"},
}


def gpu_env(name: str, slug: str) -> dict:
    return {
        "backend": "gpu",
        "gpu_name": name,
        "gpu_slug": slug,
        "compute_capability": [9, 0],
        "sm_count": 132,
        "uuid": f"GPU-{slug}",
        "clock_rate_khz": 1755000,
        "cuda_driver_version": "13.0",
        "versions": {"numba": "0.0", "gpu-probes": "0.1.0"},
    }


def doc(env: dict, backend: str = "gpu", name: str = "other.thing") -> dict:
    return {
        "schema_version": 1,
        "probe": {
            "name": name,
            "version": "x",
            "params": {},
            "unit": "cycles",
            "method": "m",
            "value_key": "cycles_per_op",
        },
        "backend": backend,
        "outcome": "ok",
        "environment": env,
        "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:01:00+00:00",
        "points": [
            {
                "axes": {"x": 1},
                "samples": [{"cycles_per_op": 4.0, "throttled": False}],
                "summary": {"median": 4.0, "ci_low": 4.0, "ci_high": 4.0, "n": 1},
            }
        ],
    }


# ---- set-ups named by the table ------------------------------------------------------------------------------------


def _fault(tmp, request, monkeypatch, arg):
    request.getfixturevalue("fault_catalogue")


def _no_gpu(tmp, request, monkeypatch, arg):
    from probes.engine.environment import driver_status

    if driver_status() is None:
        pytest.skip("a GPU is present")


def _fail_writes_under(tmp, monkeypatch, arg, code):
    """Writes of write_atomic under {tmp}/<arg> fail like a read-only filesystem (EROFS) or a full disk (ENOSPC);
    the tests run as root, where chmod does not stop a write."""
    import tempfile

    root = (tmp / arg).resolve()
    real_mkstemp, real_fsync = tempfile.mkstemp, os.fsync
    doomed = set()

    def mkstemp(*a, dir=None, **k):
        inside = dir is not None and (Path(dir).resolve() == root or root in Path(dir).resolve().parents)
        if inside and code == errno.EROFS:
            raise OSError(code, os.strerror(code), str(dir))
        fd, name = real_mkstemp(*a, dir=dir, **k)
        if inside:
            doomed.add(fd)
        return fd, name

    def fsync(fd):
        if fd in doomed:
            raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp)
    monkeypatch.setattr(io.os, "fsync", fsync)


def _readonly(tmp, request, monkeypatch, arg):
    _fail_writes_under(tmp, monkeypatch, arg, errno.EROFS)


def _diskfull(tmp, request, monkeypatch, arg):
    _fail_writes_under(tmp, monkeypatch, arg, errno.ENOSPC)


def _binary(tmp, request, monkeypatch, arg):
    (tmp / arg).write_bytes(b"\xff\xfe\x00\x01binary")


def _simulator_results(tmp, request, monkeypatch, arg):
    io.save(doc(SIM_ENV, "simulator", "fault.ok"), tmp / "results" / "simulator" / "fault.ok.json")


def _simulated_in_gpu_folder(tmp, request, monkeypatch, arg):
    io.save(doc(SIM_ENV, "simulator"), tmp / "results" / "h100" / "other.thing.json")


def _edited_backend_results(tmp, request, monkeypatch, arg):
    io.save(doc(SIM_ENV, "gpu"), tmp / "results" / "h100" / "other.thing.json")  # only `backend` says gpu


def _edited_backend_reports(tmp, request, monkeypatch, arg):
    io.save(doc(SIM_ENV, "gpu"), tmp / "reports" / "sim" / "data" / "other.thing.json")


def _gpu_results(tmp, request, monkeypatch, arg):
    io.save(doc(gpu_env("NVIDIA H100", "h100")), tmp / "results" / "h100" / "other.thing.json")


def _two_gpus(tmp, request, monkeypatch, arg):
    for slug in ("gpu-a", "gpu-b", "gpu-c"):
        io.save(doc(gpu_env(f"GPU {slug}", slug)), tmp / "reports" / slug / "data" / "other.thing.json")
        (tmp / "reports" / slug / "README.md").write_text("the report as it was\n")


def _two_gpus_one_bad_file(tmp, request, monkeypatch, arg):
    _two_gpus(tmp, request, monkeypatch, arg)
    (tmp / "reports" / "gpu-b" / "data" / "broken.json").write_text('{"schema_version": 1, "probe"')
    (tmp / "reports" / "gpu-b" / "data" / "future.json").write_text('{"schema_version": 999}')
    (tmp / "reports" / "gpu-a" / "README.md").unlink()
    (tmp / "reports" / "gpu-c" / "README.md").unlink()


def _falling_ladder(tmp, request, monkeypatch, arg):
    rows = ["footprint_bytes,latency_cycles"]
    for k in range(40):  # 600 cycles at 1 KiB falling to 30 at 1 GiB: a swapped or bandwidth file
        rows.append(f"{1024 << (k // 2)},{600 if k < 12 else 250 if k < 26 else 30}")
    (tmp / "falling.csv").write_text("\n".join(rows) + "\n")


def _ctrl_c_in_analysis(tmp, request, monkeypatch, arg):
    from probes.analysis import ladder_cmd

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ladder_cmd, "build_document", interrupted)


SETUPS = {
    name[1:]: f
    for name, f in globals().items()
    if name.startswith("_") and callable(f) and name not in ("_fail_writes_under",)
}


# ---- the walk ------------------------------------------------------------------------------------------------------


def _fill(value: str, tmp: Path) -> str:
    return value.replace("{tmp}", str(tmp)).replace("{peer}", str(PEER))


OUTER_MAKE = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")


def _run(case, tmp, capsys, monkeypatch):
    argv = [_fill(a, tmp) for a in case["argv"]]
    if case.get("via") == "make":
        env = {
            **{k: v for k, v in os.environ.items() if k not in OUTER_MAKE},  # as typed, not a sub-make of `make test`
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
        }
        r = subprocess.run(
            ["make", "-s", *argv, f"PYTHON={sys.executable}"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        return r.returncode, r.stdout, r.stderr
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_table_is_well_formed():
    ids = [c["id"] for c in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for c in CASES:
        assert {"id", "argv", "exit", "message", "issue"} <= set(c), c["id"]
        for s in c.get("setup", []):
            assert s.split(":")[0] in SETUPS, f"{c['id']}: unknown set-up {s!r}"
    assert sum(c["issue"] == 26 for c in CASES) >= 25 and sum(c["issue"] != 26 for c in CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input(case, tmp_path, request, monkeypatch, capsys):
    tmp = tmp_path
    for rel, text in case.get("files", {}).items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    for spec in case.get("setup", []):
        name, _, arg = spec.partition(":")
        SETUPS[name](tmp, request, monkeypatch, arg)
    before = {p: Path(p).read_bytes() for p in (_fill(x, tmp) for x in case.get("unchanged", []))}

    code, out, err = _run(case, tmp, capsys, monkeypatch)

    shown = err if case["exit"] else out + err
    assert code == case["exit"], f"exit {code}, expected {case['exit']}:\n{out}\n{err}"
    assert _fill(case["message"], tmp) in shown, f"expected {case['message']!r} in:\n{shown}"
    assert "Traceback" not in err and "Traceback" not in out
    if "not_message" in case:
        assert case["not_message"] not in out + err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert len(errors) == case.get("error_lines", 1 if case["exit"] else 0), err
    assert all(ln.startswith(("error: ", "note: ", "warning: ", "make: ***")) for ln in err.splitlines() if ln), err
    for p in case.get("absent", []):
        assert not Path(_fill(p, tmp)).exists(), f"{p} was written"
    for p in case.get("present", []):
        assert Path(_fill(p, tmp)).is_file(), f"{p} was not written"
    for p, data in before.items():
        assert Path(p).read_bytes() == data, f"{p} was changed"
    assert not [p for p in tmp.rglob("*.tmp")], "a temporary file was left behind"
