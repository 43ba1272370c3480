"""Results schema: round trip, rejection of malformed files, refusal of newer schemas, atomic writes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probes.results import io
from probes.results.schema import SCHEMA_VERSION, ResultsError


def doc():
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {"name": "x.y", "version": "abc", "params": {"a": 1}, "unit": "cycles", "method": "m"},
        "backend": "gpu",
        "outcome": "ok",
        "environment": {"gpu_name": "G"},
        "started_at": "t",
        "finished_at": "t",
        "points": [{"axes": {"n": 1}, "samples": [{"cycles_per_op": 3.5, "rep": 0}], "summary": {"median": 3.5}}],
        "clocks": [],
        "kernels": [],
    }


def test_round_trip(tmp_path):
    io.save(doc(), tmp_path / "r.json")
    assert io.load(tmp_path / "r.json") == doc()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("points"), "missing field 'points'"),
        (lambda d: d.update(backend="fpga"), "backend"),
        (lambda d: d.update(outcome="great"), "outcome"),
        (lambda d: d["probe"].pop("name"), "probe.name"),
        (lambda d: d["points"][0].update(samples=[[1, 2]]), "samples[0]"),
        (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "newer"),
        (lambda d: d.update(schema_version="1"), "schema_version"),
    ],
)
def test_malformed_documents_are_rejected_with_one_line(tmp_path, mutate, message):
    d = doc()
    mutate(d)
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(ResultsError) as err:
        io.load(tmp_path / "bad.json")
    assert message in str(err.value) and "\n" not in str(err.value) and "bad.json" in str(err.value)


def test_truncated_file_is_rejected(tmp_path):
    (tmp_path / "t.json").write_text(io.dumps(doc())[:50])
    with pytest.raises(ResultsError, match="truncated"):
        io.load(tmp_path / "t.json")


def test_failed_save_leaves_the_old_file(tmp_path):
    path = tmp_path / "r.json"
    io.save(doc(), path)
    before = path.read_bytes()
    bad = doc()
    bad["points"][0]["samples"] = [{"x": float("nan")}]  # not representable in strict JSON
    with pytest.raises(ValueError):
        io.save(bad, path)
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=20,
    )
)
def test_random_json_never_crashes_the_loader(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("f") / "x.json"
    path.write_text(json.dumps(value))
    with pytest.raises(ResultsError):
        io.load(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=2000))
def test_corrupted_bytes_never_crash_the_loader(tmp_path_factory, noise, cut):
    text = io.dumps(doc()).encode()
    path = tmp_path_factory.mktemp("f") / "x.json"
    path.write_bytes(text[:cut] + noise)
    try:
        io.load(path)
    except ResultsError as err:
        assert "\n" not in str(err)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=6,
)


def _paths(value, prefix=()):
    """Every key path inside a document, so a mutation can hit any depth."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_valid_document_with_one_field_replaced_never_crashes_the_loader(tmp_path_factory, data):
    """Corruption that stays valid JSON (a field of the wrong type, anywhere): a document or one ResultsError line."""
    d = doc()
    path = data.draw(st.sampled_from([p for p in _paths(d) if p]))
    node = d
    for k in path[:-1]:
        node = node[k]
    if data.draw(st.booleans()):
        node[path[-1]] = data.draw(_JSON)
    else:
        del node[path[-1]]
    f = tmp_path_factory.mktemp("f") / "x.json"
    f.write_text(json.dumps(d))
    try:
        assert isinstance(io.load(f), dict)
    except ResultsError as err:
        assert "\n" not in str(err)


def test_newer_schema_is_its_own_error_class(tmp_path):
    from probes.results.schema import NewerSchemaError

    d = doc()
    d["schema_version"] = SCHEMA_VERSION + 1
    (tmp_path / "n.json").write_text(json.dumps(d))
    with pytest.raises(NewerSchemaError, match="upgrade gpu-probes"):
        io.load(tmp_path / "n.json")
