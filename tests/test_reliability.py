"""Issue 8 gaps: interrupted campaigns resume per point, the campaign lock, GPU choice by UUID, a driver older than the
toolkit, newer-schema files left alone, throttle/clock flags excluded from summaries, and fuzzed CLI parameters."""

import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes import catalogue
from probes.cli import main
from probes.engine import clocks, environment
from probes.engine.campaign import CampaignLocked, RunOptions, campaign_lock, result_path, run_campaign
from probes.engine.measure import run_probe, summarize
from probes.results import io
from probes.results.schema import SCHEMA_VERSION, NewerSchemaError
from probes.spec import Param, ProbeSpecError, multiple_of, positive

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------------------ interruption and resume
def _start_campaign(out, hold):
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
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_points(path, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len(io.load(path)["points"]) >= n:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {n} points")


def test_sigterm_records_incomplete_exits_nonzero_and_resume_keeps_finished_points(tmp_path, fault_catalogue):
    sig = signal.SIGTERM
    hold = tmp_path / "hold"
    hold.touch()
    out = tmp_path / "results"
    path = result_path(out, catalogue.get("fault.hold"), {})
    proc = _start_campaign(out, hold)
    _wait_for_points(path, 1)  # point 0 checkpointed, the worker now waits inside point 1
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + sig
    assert err.strip().splitlines()[-1].startswith(f"error: interrupted by {signal.Signals(sig).name}")
    doc = io.load(path)
    assert doc["outcome"] == "incomplete" and len(doc["points"]) == 1
    assert signal.Signals(sig).name in doc["error"]["reason"]
    first_pid = doc["points"][0]["samples"][0]["pid"]
    with pytest.raises(ProcessLookupError):  # the worker did not outlive the campaign
        os.kill(first_pid, 0)

    hold.unlink()
    again = _start_campaign(out, hold)
    assert again.wait(timeout=60) == 0
    doc = io.load(path)
    assert doc["outcome"] == "ok" and [p["axes"]["step"] for p in doc["points"]] == [0, 1, 2]
    assert doc["points"][0].get("resumed") and {s["pid"] for s in doc["points"][0]["samples"]} == {first_pid}
    assert all(s["pid"] != first_pid for p in doc["points"][1:] for s in p["samples"])  # only the rest re-ran


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_campaign_signals_become_interrupted(sig):
    """Ctrl-C (SIGINT), SIGTERM and SIGHUP all take the recorded-interruption path; the handlers are restored."""
    from probes.engine.campaign import Interrupted, _signals_interrupt

    saved = signal.getsignal(sig)
    with pytest.raises(Interrupted) as err:
        with _signals_interrupt():
            os.kill(os.getpid(), sig)
            time.sleep(5)
    assert err.value.signum == sig and signal.getsignal(sig) == saved


def test_second_campaign_on_the_same_folder_is_one_error_line_and_touches_nothing(tmp_path, fault_catalogue, capsys):
    hold = tmp_path / "hold"
    hold.touch()
    out = tmp_path / "results"
    path = result_path(out, catalogue.get("fault.hold"), {})
    first = _start_campaign(out, hold)
    try:
        _wait_for_points(path, 1)
        before = path.read_bytes()
        assert main(["campaign", "--probes", "fault.ok", "--backend", "simulator", "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: another campaign is running on results folder") and "\n" not in err
        assert path.read_bytes() == before and not result_path(out, catalogue.get("fault.ok"), {}).exists()
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)


def test_gpu_lock_is_per_visible_card(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with campaign_lock(tmp_path / "a", "gpu"):
        with pytest.raises(CampaignLocked, match="CUDA_VISIBLE_DEVICES=0"):
            with campaign_lock(tmp_path / "b", "gpu"):  # another folder, same card
                pass
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        with campaign_lock(tmp_path / "c", "gpu"):  # GPU=1: another card, no conflict
            pass


def test_results_file_from_a_newer_schema_is_an_error_and_is_left_alone(tmp_path, fault_catalogue, capsys):
    probe = catalogue.get("fault.ok")
    path = result_path(tmp_path, probe, {})
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "anything": "from the future"}))
    before = path.read_bytes()
    with pytest.raises(NewerSchemaError):
        run_campaign([probe], lambda p: {}, RunOptions(tmp_path, "simulator", 30, progress=False))
    assert main(["campaign", "--probes", "fault.ok", "--backend", "simulator", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "newer than this gpu-probes understands" in err
    assert path.read_bytes() == before and not list(tmp_path.glob("*.corrupt"))


# ------------------------------------------------------------------------------------------ device and driver
@pytest.mark.parametrize(
    "driver, toolkit, too_old",
    [
        ((12, 4), (13, 5), True),
        ((13, 0), (13, 5), True),
        ((13, 5), (13, 5), False),
        ((13, 6), (13, 5), False),
        ((14, 0), (13, 5), False),
        (None, (13, 5), False),
        ((12, 8), None, False),
    ],
)
def test_driver_older_than_the_toolkit(driver, toolkit, too_old):
    why = environment.driver_too_old(driver, toolkit)
    assert bool(why) == too_old
    if too_old:
        assert "older than the toolkit" in why and "update the NVIDIA driver" in why and "\n" not in why


def test_toolkit_version_is_read_from_the_installed_compiler():
    v = environment.toolkit_version()
    assert v is None or (len(v) == 2 and v[0] >= 11)


def _fake_pynvml(calls):
    def record(name, result):
        def f(*args):
            calls.append((name, *args))
            return result

        return f

    return types.SimpleNamespace(
        nvmlInit=record("init", None),
        nvmlDeviceGetHandleByUUID=record("uuid", "handle-by-uuid"),
        nvmlDeviceGetHandleByIndex=record("index", "handle-0"),
    )


def test_nvml_samples_the_card_cuda_runs_on(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml(calls))
    assert clocks.ClockSampler(True, uuid="GPU-1234").handle == "handle-by-uuid"
    assert ("uuid", "GPU-1234") in calls and not any(c[0] == "index" for c in calls)
    assert clocks.ClockSampler(True, uuid=None).handle == "handle-0"


# ------------------------------------------------------------------------------------- throttle and clock flags
NVML = {"sm_mhz": 1980, "throttle": ""}


def test_sample_flags_name_each_cause():
    assert clocks.sample_flags({}, NVML, NVML) == []
    assert clocks.sample_flags({}, {**NVML, "throttle": "hw_slowdown"}, NVML) == ["throttle:hw_slowdown"]
    assert clocks.sample_flags({}, NVML, {**NVML, "sm_mhz": 1500}) == ["clock_change"]
    long_off = {"ns": 1_000_000, "sm_clock_mhz_derived": 1700.0}
    assert clocks.sample_flags(long_off, NVML, NVML) == ["clock_ratio"]
    assert clocks.sample_flags({**long_off, "ns": 1000}, NVML, NVML) == []  # too short for %globaltimer
    assert clocks.sample_flags({"ns": 1_000_000, "sm_clock_mhz_derived": 1985.0}, NVML, NVML) == []


def test_point_clock_check_marks_a_disagreeing_clock():
    rows = [{"ns": 10**6, "sm_clock_mhz_derived": 1800.0, "sm_mhz_before": 1980, "sm_mhz_after": 1980}] * 5
    check = clocks.point_clock_check(rows)
    assert not check["ok"] and check["ratio"] == pytest.approx(1800 / 1980)
    assert clocks.point_clock_check([{"ns": 10**6, "sm_mhz_before": None, "sm_mhz_after": None}]) is None


def test_summary_excludes_flagged_samples_and_says_when_all_are_flagged():
    rows = [{"v": 10.0, "throttled": False}] * 5 + [{"v": 90.0, "throttled": True}] * 6
    s = summarize(rows, "v")
    assert s["median"] == 10.0 and s["n"] == 5 and s["n_throttled"] == 6 and not s["all_flagged"]
    s = summarize([{"v": 90.0, "throttled": True}] * 3, "v")
    assert s["all_flagged"] and s["median"] == 90.0


def test_run_probe_flags_throttled_samples_and_keeps_them_out_of_the_median(tmp_path):
    """A fake NVML reports hw_slowdown on every other repetition, when the fake kernel also reads slow."""
    from probes.spec import Probe

    state = {"calls": 0}

    class Sampler:
        def sample(self):
            state["calls"] += 1
            return {"sm_mhz": 1980, "throttle": "hw_slowdown" if ((state["calls"] - 1) // 2) % 2 else ""}

    def measure(ctx, point, params):
        return {"cycles_per_op": 50.0 if ((state["calls"] - 1) // 2) % 2 else 10.0}

    probe = Probe(
        name="t.throttle", summary="", measure=measure, axes=lambda e, p: {"n": (1,)}, unit="cycles", method="m"
    )
    doc = run_probe(
        probe,
        {},
        "simulator",
        {"compute_capability": [9, 0]},
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 10, "min_samples": 10},
        progress=False,
        warmup=0,
        sampler=Sampler(),
    )
    samples = doc["points"][0]["samples"]
    assert any(s["flags"] == "throttle:hw_slowdown" for s in samples)
    assert all(s["throttled"] == (s["cycles_per_op"] == 50.0) for s in samples)
    assert doc["points"][0]["summary"]["median"] == 10.0 and doc["points"][0]["summary"]["n_throttled"] > 0


# ---------------------------------------------------------------------------------- fuzzed parameter parsing
PARAMS = [
    Param("n", int, 1, check=positive),
    Param("stride_bytes", int, 64, check=multiple_of(8)),
    Param("x", float, 1.0),
    Param("flag", bool, False),
    Param("sizes", tuple, (1,), check=positive),
    Param("name", str, "a"),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PARAMS), st.text())
def test_param_parse_raises_only_probe_spec_error(param, text):
    try:
        param.parse(text)
    except ProbeSpecError as err:
        assert "\n" not in str(err)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(max_size=40)
        | st.builds(
            "{}={}".format,
            st.sampled_from(["stride_bytes", "max_steps", "min_footprint_bytes", "points_per_octave", "nope"]),
            st.text(max_size=20),
        ),
        max_size=4,
    )
)
def test_catalogue_parse_params_raises_only_probe_spec_error(pairs):
    for probe in catalogue.all_probes().values():
        try:
            probe.parse_params(pairs)
        except ProbeSpecError as err:
            assert str(err)
