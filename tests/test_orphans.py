"""Issue 26, item 1: a worker dies with its campaign (even a SIGKILLed one), and the campaign lock covers live
workers, so one results file never has two writers."""

import os
import signal
import subprocess
import sys
import time

import pytest

from probes import catalogue
from probes.cli import main
from probes.engine import worker as W
from probes.engine.campaign import register_worker, result_path, worker_registries
from probes.results import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _alive(pid) -> bool:
    from probes.engine.campaign import worker_alive

    return worker_alive(pid)


def _wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(what)


def _points(path):
    try:
        return io.load(path)["points"]
    except Exception:
        return []


def _campaign(out, hold):
    env = {**os.environ, "FAULT_HOLD_FILE": str(hold)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "probes",
            "campaign",
            "--probes",
            "fault.hold",
            "--backend",
            "simulator",
            "--out",
            str(out),
            "--quiet",
            "--rule",
            "fixed-count",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )


def test_sigkilled_campaign_takes_its_worker_with_it_and_the_resume_finishes(tmp_path, fault_catalogue):
    hold = tmp_path / "hold"
    hold.touch()
    out = tmp_path / "results"
    path = result_path(out, catalogue.get("fault.hold"), {})
    proc = _campaign(out, hold)
    pid = None
    try:
        _wait(lambda: len(_points(path)) >= 1, 60, "the worker never checkpointed its first point")
        pid = _points(path)[0]["samples"][0]["pid"]
        assert _alive(pid)
        assert (out / ".campaign.lock.workers" / f"{pid}.pid").is_file()  # the lock folder names the live worker
        proc.send_signal(signal.SIGKILL)  # no handler runs: only the kernel (or the worker itself) can stop it
        proc.wait(timeout=10)
        _wait(lambda: not _alive(pid), 5, f"worker {pid} outlived its SIGKILLed campaign")
        hold.unlink()
        again = _campaign(out, hold)
        assert again.wait(timeout=60) == 0
        doc = io.load(path)
        assert doc["outcome"] == "ok" and [p["axes"]["step"] for p in doc["points"]] == [0, 1, 2]
        assert not list((out / ".campaign.lock.workers").glob("*.pid"))  # the stale record was cleared
    finally:
        hold.unlink(missing_ok=True)
        if proc.poll() is None:
            proc.kill()
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_resumed_campaign_refuses_while_an_old_worker_still_writes_its_file(tmp_path, fault_catalogue, capsys):
    """An old worker that is still alive (its campaign gone) keeps the folder: the new campaign names its PID and
    starts no second writer; once the old worker is gone the campaign runs."""
    hold = tmp_path / "hold"
    hold.touch()
    out = tmp_path / "results"
    path = result_path(out, catalogue.get("fault.hold"), {})
    args = [
        "--probe",
        "fault.hold",
        "--backend",
        "simulator",
        "--out",
        str(path),
        "--rule",
        "fixed-count",
        "--no-progress",
    ]
    env = {**os.environ, "FAULT_HOLD_FILE": str(hold)}
    env.pop(W.PARENT_ENV, None)
    old = subprocess.Popen(
        [sys.executable, "-m", "probes.engine.worker", *args],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        register_worker(worker_registries(out, "simulator"), old.pid, args)  # as the dead campaign had done
        _wait(lambda: len(_points(path)) >= 1, 60, "the old worker never checkpointed")
        started = io.load(path)["started_at"]
        assert (
            main(
                [
                    "campaign",
                    "--probes",
                    "fault.hold",
                    "--backend",
                    "simulator",
                    "--out",
                    str(out),
                    "--quiet",
                    "--rule",
                    "fixed-count",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: a worker of an earlier campaign is still running") and "\n" not in err
        assert f"PID {old.pid}" in err and "fault.hold" in err
        assert io.load(path)["started_at"] == started and old.poll() is None  # no second writer was started
    finally:
        old.kill()
        old.wait()
    hold.unlink()
    assert (
        main(
            [
                "campaign",
                "--probes",
                "fault.hold",
                "--backend",
                "simulator",
                "--out",
                str(out),
                "--quiet",
                "--rule",
                "fixed-count",
            ]
        )
        == 0
    )


def test_worker_exits_when_its_recorded_parent_is_not_its_parent(tmp_path):
    """The fallback for systems without PR_SET_PDEATHSIG: a worker whose parent is gone (re-parented) exits."""
    env = {**os.environ, W.PARENT_ENV: "1"}  # claims PID 1 started it: its real parent differs
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "probes.engine.worker",
            "--env-only",
            "--backend",
            "simulator",
            "--out",
            str(tmp_path / "env.json"),
        ],
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == W.EXIT_ORPHANED and not (tmp_path / "env.json").exists()


def test_parent_watch_thread_exits_the_worker_once_re_parented(tmp_path):
    # The child arms the watcher while its parent is alive (the pipe orders it), then the parent dies and the
    # child is re-parented: only the watcher thread can notice. The child's stdout is closed so a child that
    # keeps running fails the assertion below instead of holding the pipe until subprocess.run times out.
    code = (
        "import os, sys, time\n"
        "r, w = os.pipe()\n"
        "pid = os.fork()\n"
        "if pid:\n"
        "    os.close(w); os.read(r, 1)\n"  # wait until the child's watcher is running
        "    print(pid, flush=True); os._exit(0)\n"  # the parent dies; the child is re-parented
        "os.close(r)\n"
        "fd = os.open(os.devnull, os.O_WRONLY); os.dup2(fd, 1); os.dup2(fd, 2)\n"
        f"os.environ['{W.PARENT_ENV}'] = str(os.getppid())\n"
        "from probes.engine import worker\n"
        "worker.set_parent_death_signal = lambda *a: False\n"  # only the watcher thread is left
        "worker.die_with_parent(poll_s=0.05)\n"
        "os.write(w, b'x')\n"
        "time.sleep(30)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    child = int(r.stdout.split()[0])
    _wait(lambda: not _alive_any(child), 10, f"re-parented child {child} kept running")


def _alive_any(pid) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_pdeathsig_is_armed_on_linux():
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux only; the watcher thread covers other systems")
    code = (
        "import ctypes, signal\nfrom probes.engine import worker\nassert worker.set_parent_death_signal()\n"
        "libc = ctypes.CDLL(None); v = ctypes.c_int()\nlibc.prctl(2, ctypes.byref(v))\nprint(v.value)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.stdout.strip() == str(int(signal.SIGKILL))


def test_a_recycled_pid_is_not_taken_for_a_worker(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reg = tmp_path / "reg"
        register_worker([reg], sleeper.pid, ["--probe", "x"])
        from probes.engine.campaign import live_workers

        assert live_workers([reg]) == [] and not list(reg.glob("*.pid"))
    finally:
        sleeper.kill()
        sleeper.wait()
