import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER_DATA = ROOT.parent / "shared" / "peer-data"
sys.path.insert(0, str(ROOT / "tests"))


def _driver_reason():
    from probes.engine.environment import driver_status

    return driver_status()


def pytest_collection_modifyitems(config, items):
    gpu_items = [i for i in items if "gpu" in i.keywords]
    if gpu_items:
        reason = _driver_reason()
        if reason:
            for item in gpu_items:
                item.add_marker(pytest.mark.skip(reason=f"needs a GPU: {reason}"))


@pytest.fixture(autouse=True)
def one_gpu_test_at_a_time(request, tmp_path_factory):
    """`make test` runs pytest-xdist workers (--dist loadfile: a file's tests share one worker, so module-scoped
    fixtures are built once). Tests on the GPU take turns across workers: a card measures one test at a time, and
    two campaigns on one card would lock each other out."""
    if not (request.node.get_closest_marker("gpu") and os.environ.get("PYTEST_XDIST_WORKER")):
        yield
        return
    import filelock

    with filelock.FileLock(str(tmp_path_factory.getbasetemp().parent / "gpu-tests.lock")):
        yield


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty toolchain cache, so a test sees the tools really run."""
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fault_catalogue(monkeypatch):
    monkeypatch.setenv("GPU_PROBES_EXTRA_CATALOGUE", "fault_probes")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "tests"), os.environ.get("PYTHONPATH", "")]))
    from probes import catalogue

    catalogue.all_probes.cache_clear()
    yield
    catalogue.all_probes.cache_clear()
