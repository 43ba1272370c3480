"""A worker imports only the module of the probe it runs (the campaign passes it as --module), and no scipy.stats:
interpreter start is most of a smoke run's cost, and the catalogue stays automatic (any module defining PROBES)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from probes import catalogue
from probes.engine import campaign as C

ROOT = Path(__file__).resolve().parents[1]


def test_load_finds_every_probe_in_its_own_module():
    for name, probe in catalogue.all_probes().items():
        assert probe.module and catalogue.load(name, probe.module) is probe


def test_load_without_or_with_a_wrong_module_falls_back_to_the_whole_catalogue():
    probe = catalogue.get("latency.shared")
    assert catalogue.load("latency.shared") is probe
    assert catalogue.load("latency.shared", "probes.catalogue.latency_tlb") is probe  # declared elsewhere now
    with pytest.raises(catalogue.UnknownProbe, match="did you mean"):
        catalogue.load("latency.sharde", "probes.catalogue.latency_paths")
    with pytest.raises(catalogue.ProbeSpecError, match="cannot import probe module"):
        catalogue.load("latency.shared", "probes.catalogue.no_such_module")


def test_a_worker_start_imports_one_probe_module_and_no_scipy_stats():
    probe = catalogue.get("latency.shared")
    code = (
        "import json, sys; from probes import catalogue; "
        f"p = catalogue.load({probe.name!r}, {probe.module!r}); "
        "from probes.engine import environment, measure; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('probes.catalogue.', 'scipy.stats')))))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = set(json.loads(r.stdout))
    probe_modules = {p.module for p in catalogue.all_probes().values()}
    assert loaded & probe_modules == {probe.module}, "another probe module was imported"
    assert not {m for m in loaded if m.startswith("scipy.stats")}, loaded


def test_campaign_and_batch_pass_the_probe_module_to_the_worker(tmp_path, monkeypatch):
    seen = []

    def spawn(args, timeout, log, registries=(), module="probes.engine.worker", label=None):
        seen.append(json.loads(Path(args[0]).read_text())["items"] if module == "probes.engine.batch" else [args])
        return 5, "error: stopped here by the test"

    monkeypatch.setattr(C, "_spawn", spawn)
    probe = catalogue.get("latency.shared")
    defaults = {p.name: p.default for p in probe.params}
    C.run_one(probe, defaults, C.RunOptions(tmp_path / "one", "simulator", 5, progress=False))
    C.run_batch([(probe, defaults)], C.RunOptions(tmp_path / "batch", "simulator", 5))
    seen_items = [item for batch in seen for item in batch]
    assert len(seen_items) >= 3  # run_one, the batch's item, and the batch's re-run of what it did not finish
    for args in seen_items:
        assert args[args.index("--module") + 1] == probe.module == "probes.catalogue.latency_paths"
