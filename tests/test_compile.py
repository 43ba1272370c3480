"""Probe kernels compile for sm_80 and sm_90 with no driver, and their SASS is what the method needs."""

import pytest

from probes import catalogue
from probes.dryrun import cached_kernels
from probes.kernel.compile import arch_of, ptx_to_sass


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)])
@pytest.mark.parametrize("name", [n for n, p in catalogue.all_probes().items() if p.kernels])
def test_probe_kernels_compile_and_pass_their_sass_check(name, cc):
    probe = catalogue.get(name)
    unmet = probe.ptx and probe.unmet({"compute_capability": list(cc)}, {p.name: p.default for p in probe.params})
    if unmet:
        pytest.skip(f"{name} is not for cc {cc}: {'; '.join(unmet)}")
    kernels = cached_kernels(probe, cc)  # the dry run's cache: a clean clone compiles each kernel once
    assert kernels
    for kname, ptx in kernels:
        funcs = ptx_to_sass(ptx, arch_of(cc))
        assert funcs, f"{kname}: no function in the cubin"
        for insts in funcs.values():
            assert probe.check_sass(kname, insts) == []


def test_ladder_chain_is_pure_loads_and_stop_clock_waits_for_the_last_one():
    probe = catalogue.get("latency.ladder.global")
    ((_, ptx),) = probe.kernels((9, 0))
    insts = next(iter(ptx_to_sass(ptx, "sm_90").values()))
    loads = [i for i in insts if i.base == "LDG"]
    assert loads and all(".64" in i.opcode for i in loads)
    # Each %clock64 stop read is preceded by an instruction that waits on the last load's scoreboard.
    clocks = [n for n, i in enumerate(insts) if "SR_CLOCKLO" in i.text]
    for n in clocks[1:]:
        last_load = max(k for k, i in enumerate(insts[:n]) if i.base == "LDG")
        sb = insts[last_load].control.write_barrier
        assert any(i.control.waits_on(sb) for i in insts[last_load + 1 : n + 1]), "stop clock races the last load"


def test_sass_check_catches_a_broken_chain():
    probe = catalogue.get("latency.ladder.global")
    assert probe.check_sass("chase", []) != []
