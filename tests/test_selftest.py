"""GPU self-test (issue 12): the PASS/FAIL decision on recorded synthetic observations (a good card, a throttled card,
a card whose clock disagrees), its storage, the clock probe it launches, and the one-line refusal without a GPU."""

import copy

import pytest

from probes import selftest as S
from probes.results import io

GOOD = {
    "arch": "sm_90",
    "nvml": {"sm_mhz": 1980, "mem_mhz": 2619, "temp_c": 41, "power_w": 95.0, "throttle": "", "why_not": None},
    "clock": {"derived_sm_mhz": 1975.0, "nvml_sm_mhz": 1980.0, "ratio": 1975 / 1980, "ok": True},
    "atlas": {"ffma": 4, "imad": 4, "dfma": 8},
    "chains": {
        "status": "ok",
        "detail": "",
        "ops": {
            "ffma": {"op": "ffma", "median": 4.02, "ci_low": 4.0, "ci_high": 4.05},
            "imad": {"op": "imad", "median": 4.0, "ci_low": 4.0, "ci_high": 4.0},
            "dfma": {"op": "dfma", "median": 8.1, "ci_low": 8.0, "ci_high": 8.2},
        },
    },
    "chase": {
        "outcome": "ok",
        "detail": "",
        "points": [
            {"footprint_bytes": 1024, "median": 33.0, "ci_low": 33.0, "ci_high": 33.0},
            {"footprint_bytes": 2048, "median": 33.0, "ci_low": 33.0, "ci_high": 33.1},
            {"footprint_bytes": 4096, "median": 33.2, "ci_low": 33.0, "ci_high": 33.4},
        ],
    },
    "smoke": {
        "latency.ladder.global": {"outcome": "ok", "detail": ""},
        "latency.tlb": {"outcome": "skipped", "detail": "needs compute capability >= 10.0"},
    },
}


def _with(**changes):
    obs = copy.deepcopy(GOOD)
    for path, value in changes.items():
        node = obs
        *keys, last = path.split("__")
        for k in keys:
            node = node[k]
        node[last] = value
    return obs


def _status(checks):
    return {c.name: c.status for c in checks}


def test_good_card_passes_every_check():
    checks = S.decide(GOOD)
    assert S.passed(checks), S.format_table(checks)
    st = _status(checks)
    assert st["SM clock: %clock64/%globaltimer vs NVML"] == "PASS"
    assert all(st[f"dependent {op} chain vs static atlas"] == "PASS" for op in ("FFMA", "IMAD", "DFMA"))
    assert st["latency.tlb launches with its smoke params"] == "SKIP"


def test_throttled_card_fails_the_throttle_check_only():
    checks = S.decide(_with(nvml__throttle="sw_thermal,hw_slowdown"))
    failed = [c for c in checks if c.status == "FAIL"]
    assert [c.name for c in failed] == ["no throttle reason active"] and "sw_thermal" in failed[0].detail


def test_card_whose_clock_disagrees_fails_the_clock_check():
    checks = S.decide(_with(clock__derived_sm_mhz=1410.0))
    failed = {c.name: c.detail for c in checks if c.status == "FAIL"}
    assert (
        list(failed) == ["SM clock: %clock64/%globaltimer vs NVML"]
        and "-28.8%" in failed["SM clock: %clock64/%globaltimer vs NVML"]
    )
    assert S.decide(_with(clock__derived_sm_mhz=1980 * 1.019))[0].status == "PASS"  # inside 2 %


def test_missing_clock_source_is_unavailable_and_named():
    check = S.decide(_with(clock={"detail": "NVML Shared Library Not Found"}))[0]
    assert check.status == "UNAVAILABLE" and "NVML SM clock" in check.detail and "%clock64" in check.detail


def test_chain_outside_its_ci_fails_and_missing_probe_or_atlas_is_unavailable():
    st = _status(S.decide(_with(chains__ops__dfma={"op": "dfma", "median": 12.0, "ci_low": 11.5, "ci_high": 12.5})))
    assert st["dependent DFMA chain vs static atlas"] == "FAIL" and st["dependent FFMA chain vs static atlas"] == "PASS"
    checks = S.decide(_with(chains={"status": "unavailable", "detail": "unknown probe 'instructions.latency'"}))
    assert all(c.status == "UNAVAILABLE" for c in checks if "chain" in c.name) and S.passed(checks)
    st = _status(S.decide(_with(atlas__dfma="variable latency")))
    assert st["dependent DFMA chain vs static atlas"] == "UNAVAILABLE"


def test_wrong_chase_result_or_latency_fails():
    assert not S.passed(
        S.decide(
            _with(chase={"outcome": "error", "error_type": "KernelCheckError", "detail": "pointer chase ended at 0x10"})
        )
    )
    bad = copy.deepcopy(GOOD["chase"]["points"])
    bad[-1]["median"] = 300.0  # 4 KiB ten times slower than 1 KiB: not one cache level
    assert not S.passed(S.decide(_with(chase__points=bad)))


def test_kernel_check_error_in_any_probe_fails_with_its_message():
    obs = _with(smoke__latency_x={"outcome": "error", "error_type": "KernelCheckError", "detail": "checksum 3 != 4"})
    failed = [c for c in S.decide(obs) if c.status == "FAIL"]
    assert len(failed) == 1 and "wrong result: checksum 3 != 4" in failed[0].detail


def test_unreadable_nvml_fails():
    checks = S.decide(_with(nvml={"sm_mhz": None, "throttle": None, "why_not": "NVML unavailable: no library"}))
    assert _status(checks)["clocks and throttle reasons readable (NVML)"] == "FAIL"


def test_atlas_latencies_join_each_chain_op_by_its_variant_key(tmp_path):
    """Rows are found by the op's variant (instruction table), not by a focus opcode: rows with the same opcode and
    other latencies come first and are never picked; imad's variant (mad.lo.u32) has no instruction-atlas entry
    and is read from the variant atlas."""
    import gzip

    csv = tmp_path / "atlas.csv"
    csv.write_text(
        "instruction,arch,focus_opcodes,latency_class,fixed_latency_cycles\n"
        "mul.rn.f32,sm_90,FFMA,fixed,9\nmul.lo.s32,sm_90,IMAD,fixed,6\nmad.lo.s32,sm_90,IMAD,fixed,7\n"
        "fma.rn.f32,sm_90,FFMA,fixed,4\nfma.rn.f64,sm_90,DFMA,variable,\nfma.rn.f32,sm_80,FFMA,fixed,5\n"
    )
    variants = tmp_path / "variants.csv.gz"
    with gzip.open(variants, "wt") as f:
        f.write(
            "variant,arch,status,latency_class,fixed_latency_cycles\n"
            "mad.lo.s32,sm_90,ok,fixed,7\nmad.lo.u32,sm_90,ok,fixed,4\n"
        )
    assert S.atlas_latencies("sm_90", csv, variants) == {"ffma": 4, "imad": 4, "dfma": "variable latency"}
    assert S.atlas_latencies("sm_80", csv, variants)["imad"] == "no row for mad.lo.u32 on sm_80"
    assert "missing" in S.atlas_latencies("sm_90", tmp_path / "none.csv")["ffma"]


def test_table_is_stored_as_a_valid_results_document(tmp_path):
    checks = S.decide(_with(nvml__throttle="hw_slowdown"))
    S.store(checks, GOOD, {"gpu_name": "G", "uuid": "GPU-1"}, tmp_path / "selftest.json")
    doc = io.load(tmp_path / "selftest.json")
    assert doc["outcome"] == "error" and doc["environment"]["uuid"] == "GPU-1"
    assert {"name": "no throttle reason active", "status": "FAIL"}.items() <= doc["analysis"]["selftest"][2].items()


def test_without_a_gpu_one_line_and_exit_status_2(capsys):
    from probes.cli import main
    from probes.engine.environment import driver_status

    if driver_status() is None:
        pytest.skip("a GPU is present")
    assert main(["selftest"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: selftest needs a GPU: ") and "\n" not in err


def test_clock_probe_chain_closed_form_and_sass():
    from probes.engine import selftest_clock as C

    x = 12345
    for _ in range(1000):
        x = (x * 3 + 1) % (1 << 64)
    assert C.expected_chain(12345, 1000) == x
    from probes.kernel.compile import ptx_to_sass

    (probe,) = C.PROBES
    for cc in ((8, 0), (9, 0)):
        for name, ptx in probe.kernels(cc):
            for insts in ptx_to_sass(ptx, f"sm_{cc[0]}{cc[1]}").values():
                assert probe.check_sass(name, insts) == []


def test_clock_probe_runs_in_the_simulator_and_checks_its_chain(tmp_path, monkeypatch):
    from probes import catalogue
    from probes.engine.campaign import RunOptions, run_one

    monkeypatch.setenv("GPU_PROBES_EXTRA_CATALOGUE", S.CLOCK_PROBE_MODULE)
    catalogue.all_probes.cache_clear()
    try:
        probe = catalogue.get("selftest.clock")
        opts = RunOptions(tmp_path, "simulator", 120, progress=False, rule="fixed-count")
        o = run_one(probe, probe.parse_params(probe.smoke), opts.but(rule_params={"count": 2, "min_samples": 2}))
    finally:
        catalogue.all_probes.cache_clear()
    assert o.outcome == "ok", o.detail
    assert io.load(o.path)["points"][0]["samples"][0]["cycles_per_op"] > 0
    summary = S._outcome_summary(o)  # what gather() hands to decide()
    assert summary["outcome"] == "ok" and summary["points"][0]["run"] == 0 and summary["points"][0]["median"] > 0
