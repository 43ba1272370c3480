"""Issue 20 on the engine side, no GPU and no compiler: stable seeds, declared launch types, occupancy skips,
best-effort provenance, skipped points, the flagged-sample cap and the L1 carve-out request.

Each test fails on the code before issue 20: it either checks a behaviour that did not exist (a skipped point is
recorded, provenance survives a missing toolchain) or one that was wrong (seeds salted per process, int64 launches).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from probes.engine import clocks as clocklib
from probes.engine.measure import kernel_records, run_probe
from probes.kernel.context import Context, PointSkipped, stable_hash
from probes.spec import Probe
from probes.static import kernel_checks as K
from probes.stats import make_rule

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---- defect 8: seeds the same in every process --------------------------------------------------------------------


def _chain_in_a_fresh_process(hash_seed: str) -> str:
    code = (
        "from probes.kernel.context import Context; "
        "print(Context('simulator', {}).rng(1048576, 64).integers(0, 1 << 30, 4).tolist())"
    )
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout


def test_chain_seeds_do_not_depend_on_the_process_hash_salt():
    """`hash(str(k))` is salted per process: two workers built different chains for the same point."""
    assert _chain_in_a_fresh_process("1") == _chain_in_a_fresh_process("2")
    assert stable_hash("x") == stable_hash("x") and stable_hash((1, 2)) != stable_hash((2, 1))


# ---- defect 8: instruction kernels launch with their declared argument types --------------------------------------


class _RecordingKernel:
    def __init__(self, calls):
        self.calls = calls

    def __getitem__(self, grid):
        return lambda *args: self.calls.append(args)


class _FakeCtx:
    """Enough of Context for instructions._launch: records the launch arguments, reports given resources."""

    simulator = False
    env = {"compute_capability": [9, 0], "sm_count": 1}
    cc = (9, 0)

    def __init__(self, resources=None):
        self.calls, self._resources = [], resources

    def compiled(self, key, func, signature):
        self.signature = signature
        return _RecordingKernel(self.calls)

    def resources(self, key, signature):
        return self._resources

    def to_device(self, host):
        return _Host(host)

    def device_array(self, n, dtype):
        return _Host(np.zeros(n, dtype))

    def synchronize(self):
        pass


class _Host:
    def __init__(self, a):
        self.a = np.asarray(a)

    def copy_to_host(self):
        return self.a


def test_instruction_launch_passes_the_declared_types():
    from numba import types

    from probes.catalogue import instructions as I
    from probes.spec import KernelCheckError
    from probes.static import instruction_table as O

    op = O.BY_NAME["ffma"]
    ctx = _FakeCtx()
    with pytest.raises(KernelCheckError):  # the fake kernel computes nothing: the host check must refuse it
        I._launch(ctx, op, 1, 1, 32, 4)
    (args,) = ctx.calls
    sig = I.signature(op)
    assert sig[4] == types.uint32 and sig[5] == types.uint32  # n and the loop step: a 32-bit counter
    assert [type(a) for a in args[1:6]] == [np.float32, np.float32, np.float32, np.uint32, np.uint32]


# ---- defect 4: throughput points whose blocks cannot be co-resident are skipped -----------------------------------


def test_occupancy_rule_from_registers_threads_and_shared_memory():
    # mma_*_ilp4: 40 registers; 64 warps/SM = 2 blocks of 1024 threads need 81 920 registers of 65 536
    assert K.blocks_per_sm_limit({"registers": 40}, 1024, (9, 0)) == 1
    assert "do not fit" in K.occupancy_problem({"registers": 40}, 1024, 2, (9, 0))
    assert K.occupancy_problem({"registers": 32}, 1024, 2, (9, 0)) is None
    assert K.blocks_per_sm_limit({"registers": 16, "shared_bytes": 100 * 1024}, 32, (9, 0)) == 2
    text = " Function _Z3fooPi:\n  REG:40 STACK:0 SHARED:4096 LOCAL:8 CONSTANT[0]:560 TEXTURE:0\n"
    assert K.parse_resource_usage(text) == {
        "_Z3fooPi": {"registers": 40, "shared_bytes": 4096, "local_bytes": 8, "stack_bytes": 0}
    }


def test_a_throughput_point_that_cannot_be_resident_is_skipped_not_measured():
    from probes.catalogue import instructions as I

    ctx = _FakeCtx(resources={"registers": 40, "shared_bytes": 0})
    point = {"op": "mma_f16", "ilp": 4, "warps_per_sm": 64}
    with pytest.raises(PointSkipped, match="do not fit"):
        I.measure_throughput(ctx, point, {"iterations": 1})
    assert not ctx.calls  # nothing was launched


# ---- the engine records skipped points and keeps going --------------------------------------------------------------


def _probe(measure, kernels=None) -> Probe:
    return Probe(
        name="fake.points",
        summary="fake",
        measure=measure,
        axes=lambda env, p: {"x": (1, 2, 3)},
        unit="cycles",
        method="fake",
        kernels=kernels,
    )


def test_a_skipped_point_is_recorded_with_its_reason_and_the_others_run(tmp_path):
    def measure(ctx, point, params):
        if point["x"] == 2:
            raise PointSkipped("blocks cannot be co-resident")
        return {"cycles_per_op": 4.0 + point["x"]}

    doc = run_probe(
        _probe(measure),
        {},
        "simulator",
        {"gpu_slug": "sim"},
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 3},
        progress=False,
        warmup=0,
    )
    assert doc["outcome"] == "ok" and [p["axes"]["x"] for p in doc["points"]] == [1, 2, 3]
    skipped = doc["points"][1]
    assert (
        skipped["skipped"] == "blocks cannot be co-resident" and skipped["samples"] == [] and skipped["summary"] is None
    )
    assert doc["points"][2]["summary"]["median"] == 7.0


# ---- defect 7: provenance is best-effort, per launched kernel, never blocks a launch --------------------------------


class _Dispatcher:
    def __init__(self, ptx: str):
        self.overloads = {("uint64",): object()}
        self.ptx = ptx

    def inspect_asm(self, sig):
        return self.ptx


class _LaunchedCtx:
    def __init__(self, kernels):
        self._k = kernels

    def launched(self):
        return self._k


def test_provenance_without_a_toolchain_is_a_recorded_reason(monkeypatch):
    from probes.kernel import compile as C
    from probes.static import toolchain

    def missing(ptx, arch):
        raise toolchain.ToolchainError("ptxas not found (numba-cuda's cu13 extra ships none)")

    monkeypatch.setattr(C, "ptx_to_sass", missing)
    ctx = _LaunchedCtx({"chase": _Dispatcher(".version 9.0"), "other": _Dispatcher(".version 9.0")})
    done: set = set()
    records = kernel_records(ctx, (9, 0), done)
    assert [r["kernel"] for r in records] == ["chase", "other"]  # only what was launched
    assert all("ptxas not found" in r["provenance_error"] for r in records)
    assert kernel_records(ctx, (9, 0), done) == []  # each kernel once


def test_a_gpu_run_does_not_need_ptxas_before_its_first_launch(tmp_path, monkeypatch):
    """Before issue 20 the worker assembled every kernel for provenance before measuring: a missing ptxas made the
    whole probe an error."""
    from probes.kernel import compile as C

    def broken(*a, **k):
        raise RuntimeError("no toolchain here")

    monkeypatch.setattr(C, "ptx_to_sass", broken)
    monkeypatch.setattr(C, "cached_kernels", broken)
    probe = _probe(lambda ctx, point, params: {"cycles_per_op": 4.0}, kernels=lambda cc: [("k", "ptx")])
    env = {"gpu_slug": "fake", "compute_capability": [9, 0]}
    doc = run_probe(
        probe,
        {},
        "gpu",
        env,
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 2},
        progress=False,
        warmup=0,
        sampler=clocklib.ClockSampler(enabled=False),
    )
    assert doc["outcome"] == "ok" and len(doc["points"]) == 3 and doc["kernels"] == []


# ---- risk: a stuck throttle flag must not make every point run its whole budget -------------------------------------


def test_flagged_samples_end_a_point_early_and_say_why():
    rule = make_rule("median-ci", max_seconds=3600, max_flagged=20)
    for _ in range(19):
        rule.flagged(1)
        assert not rule.done()
    rule.flagged(1)
    assert rule.done() and rule.reason.startswith("flagged-cap: 20 flagged samples")
    assert rule.describe()["max_flagged"] == 20


# ---- risk: ladder kernels ask for the most L1, and say so ---------------------------------------------------------


def test_l1_carveout_is_requested_on_every_compiled_overload():
    calls = []

    class Func:
        def set_shared_memory_carveout(self, value):
            calls.append(value)

    class Lib:
        def get_cufunc(self):
            return Func()

    class Cres:
        library = Lib()

    class Kernel:
        overloads = {"a": Cres(), "b": Cres()}

    ctx = Context("gpu", {})
    ctx._kernels["chase"] = Kernel()
    assert ctx.prefer_l1("chase").startswith("preferred carve-out 0 %") and calls == [0, 0]
    assert ctx.prefer_l1("never-compiled").startswith("not set")
    assert Context("simulator", {}).prefer_l1("chase") == "not applicable (simulator)"
