"""Campaign dry run (issue 12): every catalogue kernel compiles and passes its SASS check for sm_80 and sm_90 with no
GPU, and the plan is printed on a nominal device; failures are one line each and make the exit status 1."""

import pytest

from probes import catalogue, dryrun
from probes.cli import main


def test_dry_run_passes_for_sm80_and_sm90_and_plans_every_probe():
    lines = []
    rc = dryrun.dry_run(["sm_80", "sm_90"], echo=lines.append)
    text = "\n".join(lines)
    failures = [ln for ln in lines if ln.startswith("FAIL")]
    assert rc == 0, "\n".join(failures)
    for arch, dev in (("sm_80", "A100-SXM4-40GB"), ("sm_90", "H100-SXM5-80GB")):
        assert f"plan for {arch} on a NOMINAL {dev}" in text
        assert f"dry run {arch}: {len(catalogue.all_probes())} probes" in text
    for name in catalogue.all_probes():
        assert f"  {name} " in text
    assert "total <=" in text
    for arch in ("sm_80", "sm_90"):  # issue 20: the five schedule checks, each with its failure count
        block = text[text.index(f"kernel checks {arch}") :]
        for check in ("clock discipline", "step overhead", "occupancy", "loop-resident loads", "coverage"):
            line = next(ln for ln in block.splitlines() if ln.strip().startswith(check))
            checked = int(line.split()[len(check.split())])
            assert checked > 0 and " 0 failures" in line, line


def test_dry_run_checks_the_chase_kernels_for_sm100_and_emits_their_sass(tmp_path):
    lines = []
    rc = dryrun.dry_run(["sm_100"], ["latency.shared", "latency.ladder.global"], echo=lines.append, emit_sass=tmp_path)
    assert rc == 0, "\n".join(ln for ln in lines if ln.startswith("FAIL"))
    files = sorted(p.name for p in tmp_path.glob("*.sass"))
    assert files == [
        "latency.ladder.global.ca__chase.ca.sass",
        "latency.ladder.global.cg__chase.cg.sass",
        "latency.ladder.global.nc__chase.nc.sass",
        "latency.ladder.global__chase.sass",
        "latency.shared__shared_chase.sass",
    ]  # the prefix selects the four ladder variants
    assert "LDS" in (tmp_path / "latency.shared__shared_chase.sass").read_text()
    assert any(ln.startswith("  step overhead") and " 0 failures" in ln for ln in lines)


def test_nominal_devices_carry_a_source_for_every_number():
    for arch, dev in dryrun.NOMINAL_DEVICES.items():
        env = dryrun.nominal_environment(arch)
        assert env["nominal"] and env["compute_capability"] == [int(arch[3:-1]), int(arch[-1])]
        for key in ("sm_count", "l2_cache_bytes", "memory_total_bytes", "shared_memory_per_sm_bytes"):
            assert env[key] > 0 and len(dev["sources"][key]) > 20  # a named source for every number


def test_architecture_specific_targets_use_their_base_architectures_nominal_device():
    assert dryrun.nominal_environment("sm_90a") == dryrun.nominal_environment("sm_90")
    assert dryrun.nominal_environment("sm_100a")["compute_capability"] == [10, 0]
    with pytest.raises(ValueError, match="no nominal device for sm_90x"):
        dryrun.nominal_environment("sm_90x")


def test_failures_are_one_line_each_and_fail_the_dry_run(fault_catalogue, cache_dir):
    lines = []
    rc = dryrun.dry_run(["sm_90"], ["faultsass"], echo=lines.append)
    failures = [ln for ln in lines if ln.startswith("FAIL")]
    assert rc == 1
    assert any("faultsass.bad sm_90 kernel tiny: SASS check: injected SASS problem" in ln for ln in failures)
    assert any("faultsass.nocompile sm_90: kernels do not compile: RuntimeError: NVVM said no" in ln for ln in failures)
    assert not any("faultsass.good" in ln for ln in failures) and len(failures) == 2
    assert "dry run sm_90: 3 probes, 2 kernels compiled and SASS-checked, 2 failures" in lines


def test_emit_sass_needs_dry_run(capsys):
    assert main(["campaign", "--emit-sass", "x"]) == 2
    assert "--emit-sass only applies to --dry-run" in capsys.readouterr().err


def test_compiled_kernels_are_cached_on_disk(fault_catalogue, cache_dir):
    probe = catalogue.get("faultsass.good")
    calls = []
    real = probe.kernels

    def counting(cc):
        calls.append(cc)
        return real(cc)

    object.__setattr__(probe, "kernels", counting)
    try:
        first = dryrun.cached_kernels(probe, (9, 0))
        assert dryrun.cached_kernels(probe, (9, 0)) == first and calls == [(9, 0)]  # second: from disk
        dryrun.cached_kernels(probe, (8, 0))
        assert calls == [(9, 0), (8, 0)]  # the architecture is part of the key
    finally:
        object.__setattr__(probe, "kernels", real)
    assert list(cache_dir.glob("dryrun-ptx/*.json"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["campaign", "--dry-run", "--arch", "sm_75"], "no nominal device for sm_75"),
        (["campaign", "--arch", "sm_90"], "--arch only applies to --dry-run"),
    ],
)
def test_dry_run_bad_input_is_one_error_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_dry_run_exit_status(fault_catalogue, cache_dir, capsys):
    assert main(["campaign", "--dry-run", "--arch", "sm_90", "--probes", "faultsass.good"]) == 0
    assert main(["campaign", "--dry-run", "--arch", "sm_90", "--probes", "faultsass.bad"]) == 1
    assert "FAIL faultsass.bad" in capsys.readouterr().out
