"""Importers: fixtures in each peer tool's format (made-up values) and malformed input."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.analysis import importers
from probes.analysis.importers import LadderInputError

DATA = Path(__file__).parent / "data" / "peer_formats"


def test_tidy_csv_two_gpus():
    df = importers.load(DATA / "tidy_two_gpus.csv")
    assert df.attrs["kind"] == "ladder" and df.attrs["provenance"]["format"] == "tidy"
    assert set(df["gpu"]) == {"Fake A", "Fake B"}
    assert df["footprint_bytes"].min() == 1024 and df["clock_mhz"].iloc[0] == 1500
    assert df["source_line"].iloc[0] == 2


def test_gpu_benches_text():
    df = importers.load(DATA / "gpu_latency_fake.txt")
    assert importers.detect_format(DATA / "gpu_latency_fake.txt") == "gpu-benches"
    assert df["footprint_bytes"].iloc[0] == 1024 and df["latency_cycles"].iloc[0] == 30.0
    assert df["latency_ns"].iloc[0] == pytest.approx(20.0)  # time_ms * 1e6 / iters
    assert df["clock_mhz"].iloc[0] == 1500 and df["source_line"].iloc[0] == 2
    assert importers.load(DATA / "gpu_latency_fake.txt", gpu="X")["gpu"].iloc[0] == "X"


def test_mt4g_files():
    window = importers.load(DATA / "FakeGPU X1 - L1 Size.txt")
    assert window.attrs["kind"] == "ladder" and window["gpu"].iloc[0] == "FakeGPU X1"
    assert window["footprint_bytes"].nunique() == 20 and len(window) == 240
    samples = importers.load(DATA / "FakeGPU X1 - L2 Latency.txt")
    assert samples.attrs["kind"] == "samples" and samples["footprint_bytes"].isna().all() and len(samples) == 40
    summary = importers.load(DATA / "fake_mt4g.json")
    assert summary.attrs["kind"] == "reported-levels"
    assert list(summary["level"]) == ["L1", "L2", "DRAM"]
    assert summary["latency_cycles"].tolist() == [40.0, 200.0, 505.0]
    assert summary["capacity_bytes"].iloc[0] == 65536 and summary["clock_mhz"].iloc[0] == 1500


def test_results_json_dict_and_file():
    doc = {
        "samples": [
            {"footprint_bytes": 1024, "cycles_per_load": 30.0},
            {"footprint_bytes": 2048, "latency_cycles": 31.0, "gpu": "G"},
        ]
    }
    df = importers.from_results_json(doc)
    assert df["latency_cycles"].tolist() == [30.0, 31.0] and df["gpu"].tolist() == ["unknown", "G"]
    df = importers.load(DATA / "results_fake.json")
    assert df["gpu"].iloc[0] == "Fake GPU" and len(df) == 24


@pytest.mark.parametrize(
    "content, fmt, expect",
    [
        ("footprint_bytes,latency_cycles\n1024,30\nabc,31\n", "tidy", ":3: expected footprint_bytes as a number"),
        ("size,lat\n1,2\n", "tidy", ":1: expected CSV header with footprint_bytes"),
        ("footprint_bytes,latency_cycles\n", "tidy", ":2: expected at least one data row"),
        ("clock: 1500\n 1000000 1500 1 20.0\n", "gpu-benches", ":2: expected 5 columns"),
        ("clock: 1500\n 1000000 1500 x 20.0 30.0\n", "gpu-benches", ":2: expected footprint_KiB as a number"),
        ("hello\n", "gpu-benches", ":1: expected gpu-benches gpu-latency output"),
        ("1024,30,x\n", "mt4g", ":1: expected latency as a number"),
        ('{"general": {}}', "mt4g", "expected an mt4g summary"),
        ('{"samples": [{"footprint_bytes": "big", "cycles_per_load": 1}]}', "results", "samples[0].footprint_bytes"),
        ("{not json", "results", ":1: expected JSON"),
        ("just words\n", "auto", ":1: unrecognised format"),
    ],
)
def test_malformed_input_is_one_line(tmp_path, content, fmt, expect):
    f = tmp_path / "bad.txt"
    f.write_text(content)
    with pytest.raises(LadderInputError) as exc:
        importers.load(f, fmt)
    msg = str(exc.value)
    assert str(f) in msg and expect in msg and "\n" not in msg


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(LadderInputError, match="cannot read file"):
        importers.load(tmp_path / "absent.csv")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(LadderInputError, match="binary"):
        importers.load(tmp_path / "bin.csv")
    with pytest.raises(LadderInputError, match="unknown format"):
        importers.load(DATA / "tidy_two_gpus.csv", "xml")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(alphabet='0123456789,.-e \nabc:{}[]"clockfootprint_byteslatency_cycles', max_size=300).map(str.encode),
    ),
    st.sampled_from(["auto", "tidy", "gpu-benches", "mt4g", "results"]),
)
def test_random_input_raises_only_the_dedicated_error(tmp_path, data, fmt):
    f = tmp_path / "random.txt"
    f.write_bytes(data)
    try:
        df = importers.load(f, fmt)
    except LadderInputError as exc:
        assert "\n" not in str(exc)
    else:
        assert {"footprint_bytes", "latency_cycles"} <= set(df.columns)
        assert df.attrs["kind"] in ("ladder", "samples", "reported-levels")


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats(allow_nan=True) | st.text(max_size=5) | st.integers(),
        lambda c: (
            st.lists(c, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "samples",
                        "footprint_bytes",
                        "cycles_per_load",
                        "gpu",
                        "memory",
                        "general",
                        "run",
                        "l1",
                        "latency",
                        "p50",
                        "name",
                    ]
                ),
                c,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_random_json_documents(tmp_path_factory, doc):
    f = tmp_path_factory.mktemp("j") / "doc.json"
    f.write_text(json.dumps(doc))
    for fmt in ("auto", "results", "mt4g"):
        try:
            importers.load(f, fmt)
        except LadderInputError:
            pass
    try:
        importers.from_results_json(doc if isinstance(doc, dict) else {"samples": doc})
    except LadderInputError:
        pass
