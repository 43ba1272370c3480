"""Fleet campaigns without Slurm or a GPU: submitit's local executor runs real job processes with the simulator
backend and the tiny fault probes; the sbatch script is rendered by submitit itself and checked line by line."""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from probes.fleet import FleetError, cmd, config, slurm, state
from probes.fleet.job import STATUS_FILE

WAIT_S = 120


def cli(*argv) -> int:
    ap = argparse.ArgumentParser()
    cmd.add_parser(ap.add_subparsers(dest="command"))
    return cmd.run(ap.parse_args(["fleet", *map(str, argv)]))


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def sbatch_flags(text: str) -> dict:
    flags = {}
    for line in text.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --") :].partition("=")
            flags[key] = value.strip("'")
    return flags


def wait_for(out: Path, done, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        jobs = state.fleet_status(out)
        if done(jobs):
            return jobs
        time.sleep(0.5)
    pytest.fail(f"fleet did not reach '{what}' in {WAIT_S} s:\n{state.format_status(state.fleet_status(out))}")


def settled(jobs):
    return all(j.state not in ("pending", "running") for j in jobs)


@pytest.fixture
def fleet_out(tmp_path, fault_catalogue):
    """A fleet folder; any local job controller still alive at the end is stopped (they are our children)."""
    out = tmp_path / "fleet"
    yield out
    manifest = out / "fleet.json"
    if manifest.exists():
        for rec in json.loads(manifest.read_text())["jobs"]:
            pid = int(rec["job_id"])
            if state._local_alive(pid):
                os.kill(pid, signal.SIGTERM)


# ---------------------------------------------------------------- sbatch parameters (no Slurm needed)


def test_sbatch_script_carries_partition_gres_time_name_and_output_paths(tmp_path):
    targets = config.slurm_targets(partitions=["a100"], gres=["gpu:h100:1"], constraints=["h200&80gb"])
    cfg = config.FleetConfig(out=tmp_path, targets=targets, time_min=45, account="proj7")
    by_name = {t.name: sbatch_flags(slurm.sbatch_text(cfg, t)) for t in targets}
    assert set(by_name) == {"gpu-probes-a100", "gpu-probes-gpu-h100-1", "gpu-probes-h200-80gb"}

    a100 = by_name["gpu-probes-a100"]
    assert a100["partition"] == "a100" and a100["job-name"] == "gpu-probes-a100"
    assert a100["time"] == "45" and a100["gpus-per-node"] == "1" and a100["account"] == "proj7"
    assert a100["nodes"] == "1" and a100["ntasks-per-node"] == "1"
    assert a100["output"] == f"{tmp_path}/.submitit/%j/%j_0_log.out"
    assert a100["error"] == f"{tmp_path}/.submitit/%j/%j_0_log.err"
    assert a100["signal"].startswith("USR2@")  # the job's handler turns it into a clean, resumable stop

    h100 = by_name["gpu-probes-gpu-h100-1"]
    assert h100["gres"] == "gpu:h100:1" and "gpus-per-node" not in h100 and "partition" not in h100
    assert by_name["gpu-probes-h200-80gb"]["constraint"] == "h200&80gb"
    text = slurm.sbatch_text(cfg, targets[0])
    assert f"-m submitit.core._submit {tmp_path}/.submitit/%j" in text


def test_dry_run_prints_the_scripts_on_a_shared_filesystem(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "filesystem_type", lambda path: "lustre")
    assert cli("submit", "--partitions", "a100", "h100", "--out", tmp_path / "f", "--time", "20", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.count("#!/bin/bash") == 2 and "--partition=h100" in out and "--time=20" in out
    assert not (tmp_path / "f" / "fleet.json").exists()  # nothing submitted


# ---------------------------------------------------------------- bad configuration: one line, exit 2


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--partitions", "gpu:a100", "--assume-shared"], "not a Slurm partition name"),
        (["--partitions", "a100,h100", "--assume-shared"], "separate words"),
        (["--gres", "gpu:a100:2", "--assume-shared"], "measures one GPU"),
        (["--partitions", "a100"], "node-local filesystem"),
        (["--local", "--gpus", "zero"], "--gpus"),
        (["--local", "--gpus", "0", "--partitions", "a100"], "drop --local"),
        (["--local", "--gpus", "0", "--probes", "fault.no-such-probe"], "unknown probe"),
        (["--assume-shared"], "nothing to submit"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(argv, expected, tmp_path, capsys, fault_catalogue):
    assert cli("submit", "--out", tmp_path / "f", *argv) == 2
    assert expected in one_error_line(capsys)
    assert not (tmp_path / "f" / "fleet.json").exists()


def test_missing_output_folder_is_refused(capsys):
    assert cli("submit", "--partitions", "a100", "--assume-shared") == 2
    assert "no output folder" in one_error_line(capsys)


def test_missing_submitit_is_one_line(tmp_path, capsys, monkeypatch, fault_catalogue):
    monkeypatch.setitem(sys.modules, "submitit", None)  # `import submitit` now raises ImportError
    assert cli("submit", "--partitions", "a100", "--out", tmp_path, "--assume-shared", "--dry-run") == 2
    assert "submitit is not installed" in one_error_line(capsys)
    assert (
        cli(
            "submit",
            "--local",
            "--gpus",
            "0",
            "--probes",
            "fault.ok",
            "--out",
            tmp_path / "l",
            "--backend",
            "simulator",
        )
        == 2
    )
    assert "submitit is not installed" in one_error_line(capsys)


def test_status_without_a_fleet_is_one_line(tmp_path, capsys):
    assert cli("status", "--out", tmp_path) == 2
    assert "no fleet was submitted" in one_error_line(capsys)


@pytest.mark.parametrize(
    "scheduler, status, result, expected",
    [
        (None, None, None, "pending"),
        ("running", {"state": "running"}, None, "running"),
        ("gone", {"state": "done"}, ("success", {}), "done"),
        ("gone", {"state": "running"}, None, "lost"),  # SIGKILL: no result, no final status
        ("gone", {"state": "interrupted"}, ("error", "tb"), "interrupted"),
        ("timeout", {"state": "interrupted"}, ("error", "tb"), "timeout"),  # Slurm's word beats our generic one
        ("preempted", {"state": "running"}, None, "preempted"),
        ("done", {"state": "running"}, None, "failed"),  # COMPLETED but the job never finished
        (None, {"state": "failed"}, ("error", "tb"), "failed"),
    ],
)
def test_job_state_from_scheduler_status_file_and_result(scheduler, status, result, expected):
    assert state.derive_state(scheduler, status, result) == expected


# ---------------------------------------------------------------- end to end with submitit's LocalExecutor


def test_two_gpu_local_fleet_submit_status_collect_and_compare(fleet_out, tmp_path, capsys):
    assert (
        cli(
            "submit",
            "--local",
            "--gpus",
            "0,1",
            "--probes",
            "fault.ok",
            "--backend",
            "simulator",
            "--out",
            fleet_out,
            "--timeout",
            "60",
        )
        == 0
    )
    assert "2 job(s)" in capsys.readouterr().out
    jobs = wait_for(fleet_out, settled, "both jobs finished")
    assert sorted(j.state for j in jobs) == ["done", "done"]
    assert sorted(j.gpu for j in jobs) == ["gpu0", "gpu1"]  # each job saw only its CUDA_VISIBLE_DEVICES
    for j in jobs:
        assert j.node and j.elapsed_s is not None and [(p.probe, p.outcome) for p in j.probes] == [("fault.ok", "ok")]
        folder = Path(j.folders[0])
        assert (folder / "environment.json").exists() and (folder / STATUS_FILE).exists()

    assert cli("status", "--out", fleet_out, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert {j["name"] for j in listed} == {"gpu-probes-local-gpu0", "gpu-probes-local-gpu1"}
    assert cli("submit", "--resume", "--out", fleet_out) == 0  # every probe complete: nothing is resubmitted
    assert "nothing to resubmit" in capsys.readouterr().out

    reports = tmp_path / "reports"
    assert cli("collect", "--out", fleet_out, "--reports", reports) == 2  # simulated numbers are never published
    assert "cannot be published" in one_error_line(capsys)

    assert cli("collect", "--out", fleet_out, "--reports", reports, "--allow-simulated") == 0
    data = sorted(p.name for p in (reports / "simulator" / "data").glob("*.json"))
    node = jobs[0].node
    assert data == [f"fault.ok@{node}-gpu0.json", f"fault.ok@{node}-gpu1.json"]  # kept apart, not averaged
    merged = json.loads((reports / "simulator" / "data" / data[0]).read_text())
    assert merged["fleet"]["node"] == node and merged["fleet"]["gpu_id"] == "gpu0"
    assert "gpu0" in (reports / "simulator" / "fleet-nodes.md").read_text()
    gpu_readme = (reports / "simulator" / "README.md").read_text()
    assert "Measured on 2 card(s)" in gpu_readme and "(fleet-nodes.md)" in gpu_readme
    assert (reports / "README.md").exists() and "simulator" in (reports / "README.md").read_text()


def test_killed_job_is_reported_and_resumed_without_remeasuring(fleet_out, capsys):
    assert (
        cli(
            "submit",
            "--local",
            "--gpus",
            "0",
            "--probes",
            "fault.ok",
            "fault.hang",
            "--backend",
            "simulator",
            "--out",
            fleet_out,
            "--timeout",
            "60",
        )
        == 0
    )
    hang = None

    def hanging(jobs):  # fault.ok finished and fault.hang checkpointed its first point: kill it midway
        nonlocal hang
        hang = next(Path(jobs[0].folders[0]).glob("fault.hang*.json"), None) if jobs[0].folders else None
        return hang is not None and any(p.probe == "fault.ok" and p.outcome == "ok" for p in jobs[0].probes)

    (job,) = wait_for(fleet_out, hanging, "fault.hang running")
    folder = Path(job.folders[0])
    ok_file = folder / "fault.ok.json"
    ok_before = (ok_file.read_bytes(), ok_file.stat().st_mtime_ns)
    os.kill(json.loads((folder / STATUS_FILE).read_text())["pid"], signal.SIGTERM)  # scancel / preemption

    (job,) = wait_for(fleet_out, settled, "job stopped")
    assert job.state == "interrupted"
    assert "SIGTERM" in job.log_tail and "SIGTERM" in job.reason  # reported with its log tail
    assert {p.probe: p.outcome for p in job.probes} == {"fault.ok": "ok", "fault.hang": "incomplete"}
    capsys.readouterr()
    assert cli("status", "--out", fleet_out) == 1
    assert "log tail" in capsys.readouterr().out

    # Resubmit with a short probe watchdog: fault.ok is cached, fault.hang is the only probe run again.
    assert cli("submit", "--resume", "--out", fleet_out, "--timeout", "4") == 0
    first_id = job.job_id
    (job,) = wait_for(fleet_out, lambda js: js[0].job_id != first_id and settled(js), "resumed job finished")
    assert job.state == "done"
    assert {p.probe: p.outcome for p in job.probes} == {"fault.ok": "ok", "fault.hang": "timeout"}
    assert (ok_file.read_bytes(), ok_file.stat().st_mtime_ns) == ok_before  # not measured again
    assert "cached  fault.ok" in state.log_tail(fleet_out, {"job_id": job.job_id, "executor": "local"}, lines=50)
    assert len(json.loads((fleet_out / "fleet.json").read_text())["jobs"]) == 2  # both attempts kept


def test_resubmitting_an_existing_fleet_needs_resume(fleet_out, capsys, monkeypatch):
    fleet_out.mkdir()
    (fleet_out / "fleet.json").write_text(
        json.dumps(
            {
                "config": config.FleetConfig(out=fleet_out, targets=config.local_targets("0"), local=True).to_json(),
                "jobs": [],
            }
        )
    )
    assert (
        cli("submit", "--local", "--gpus", "0", "--probes", "fault.ok", "--out", fleet_out, "--backend", "simulator")
        == 2
    )
    assert "--resume" in one_error_line(capsys)
    with pytest.raises(FleetError, match="nothing to submit"):
        config.slurm_targets()


def test_throttled_and_busy_gpu_is_flagged_in_status_and_collection(tmp_path, fault_catalogue):
    from probes import catalogue
    from probes.engine.measure import new_document
    from probes.fleet import collect
    from probes.results import io

    out, reports = tmp_path / "fleet", tmp_path / "reports"
    cfg = config.FleetConfig(out=out, targets=config.slurm_targets(["a100"]))
    out.mkdir()
    (out / "fleet.json").write_text(
        json.dumps(
            {
                "config": cfg.to_json(),
                "jobs": [
                    {
                        "name": "gpu-probes-a100",
                        "job_id": "77",
                        "executor": "slurm",
                        "submitted_at": "",
                        "log_folder": "",
                    }
                ],
            }
        )
    )
    folder = out / "gpu-probes-a100" / "n1-GPU-abc"
    folder.mkdir(parents=True)
    (folder / STATUS_FILE).write_text(
        json.dumps(
            {
                "job_id": "77",
                "node": "n1",
                "state": "done",
                "started_at": "2026-11-25T01:00:00+00:00",
                "finished_at": "2026-11-25T01:02:03+00:00",
                "gpu": {"id": "GPU-abc", "uuid": "GPU-abc", "busy_processes": 2},
            }
        )
    )
    doc = new_document(catalogue.get("fault.ok"), {}, "gpu", {"gpu_slug": "a100-sxm4-80gb"})
    doc["points"] = [
        {
            "axes": {"step": 0},
            "summary": None,
            "samples": [{"cycles_per_op": 10.0, "throttled": True}, {"cycles_per_op": 10.0, "throttled": False}],
        }
    ]
    doc["outcome"] = "ok"
    io.save(doc, folder / "fault.ok.json")

    (job,) = state.fleet_status(out, scheduler=lambda out, rec: "done")
    assert job.state == "done" and job.elapsed_s == 123 and job.gpu == "GPU-abc"
    assert any(f.startswith("throttled: 1 sample") for f in job.flags)
    assert any(f.startswith("busy: 2") for f in job.flags)
    rows, written = collect.collect(out, reports, rebuild=False)
    assert [r.dest.name for r in rows] == ["fault.ok@n1-GPU-abc.json"] and written == []
    merged = io.load(rows[0].dest)
    assert merged["fleet"]["throttled_samples"] == 1 and merged["fleet"]["gpu_uuid"] == "GPU-abc"
    assert "throttled (1 sample(s))" in (reports / "a100-sxm4-80gb" / "fleet-nodes.md").read_text()

    # A second job that landed on the same node/GPU folder name: both results kept, never one over the other.
    manifest = json.loads((out / "fleet.json").read_text())
    manifest["jobs"].append({**manifest["jobs"][0], "name": "gpu-probes-b", "job_id": "78"})
    (out / "fleet.json").write_text(json.dumps(manifest))
    import shutil

    shutil.copytree(folder, out / "gpu-probes-b" / folder.name)
    rows, _ = collect.collect(out, reports, rebuild=False)
    assert sorted(r.dest.name for r in rows) == ["fault.ok@n1-GPU-abc-gpu-probes-b.json", "fault.ok@n1-GPU-abc.json"]


def test_partition_unknown_to_sinfo_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(config, "known_partitions", lambda: ["a100", "h100"])
    assert cli("submit", "--partitions", "a100", "h200", "--out", tmp_path, "--assume-shared", "--dry-run") == 2
    assert "'h200' does not exist on this cluster; sinfo lists: a100, h100" in one_error_line(capsys)


@pytest.mark.gpu
def test_local_fleet_on_a_real_gpu_names_its_folder_by_the_uuid_cuda_reports(fleet_out, capsys):
    """On a GPU box: NVML's UUID (folder name, read before any CUDA context) is the device CUDA then measures."""
    assert cli("submit", "--local", "--gpus", "0", "--probes", "fault.ok", "--out", fleet_out, "--timeout", "120") == 0
    (job,) = wait_for(fleet_out, settled, "gpu job finished")
    assert job.state == "done", state.format_status([job])
    folder = Path(job.folders[0])
    env = json.loads((folder / "environment.json").read_text())
    assert env["backend"] == "gpu" and job.gpu.startswith("GPU-")
    assert env["uuid"] == job.gpu and folder.name.endswith(job.gpu)
