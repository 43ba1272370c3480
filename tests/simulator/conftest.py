"""What the simulator tests share: ONE run of the whole catalogue (the self-test's gather), for the whole session.

Each probe's smoke run costs a simulated kernel and, in its own worker, an interpreter start; the self-test test and
the every-probe tests used to run the catalogue once each. Under pytest-xdist every worker process has its own
session, so the first worker to need the run does it under a file lock in the folder all workers share, and the
others read what it left there (the pattern of pytest-xdist's documentation).
"""

import json
import os
from pathlib import Path

import filelock
import pytest

ROOT = Path(__file__).resolve().parents[2]
ATLAS = ROOT / "reports" / "static" / "instructions-sass.csv"


def _gather(root: Path) -> dict:
    from probes import catalogue, selftest
    from probes.engine.environment import capture

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPU_PROBES_EXTRA_CATALOGUE", selftest.CLOCK_PROBE_MODULE)
        catalogue.all_probes.cache_clear()
        try:
            return selftest.gather(
                capture("simulator"), timeout=120, atlas_csv=ATLAS, backend="simulator", smoke_out=root / "sim" / "data"
            )
        finally:
            catalogue.all_probes.cache_clear()


@pytest.fixture(scope="session")
def catalogue_run(tmp_path_factory) -> tuple[Path, dict]:
    """(root, observations): selftest.gather() under the simulator (clock, chase and chain workers, then every
    probe at its smoke size in one batch worker) with the smoke runs' results documents kept in <root>/sim/data,
    the layout the report builder reads. Treat both as read-only: copy before writing."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        root = tmp_path_factory.mktemp("catalogue-run")
        return root, json.loads(json.dumps(_gather(root)))  # as the xdist workers see it
    shared = tmp_path_factory.getbasetemp().parent  # this session's folder, above every worker's own
    root, done = shared / "catalogue-run", shared / "catalogue-run.json"
    with filelock.FileLock(str(done) + ".lock"):
        if not done.is_file():
            obs = _gather(root)
            tmp = done.with_suffix(".tmp")
            tmp.write_text(json.dumps(obs))
            os.replace(tmp, done)
        return root, json.loads(done.read_text())
