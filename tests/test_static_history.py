"""Static history across CUDA releases: snapshot comparison, known events, the ISA-version fix (no downloads)."""

from __future__ import annotations

import pandas as pd

from probes.static import history, toolchain


def _snap(cells):
    rows = [
        dict(
            atlas=a,
            row=r,
            arch=arch,
            status=st,
            sass=s,
            detail="",
            latency_class=lc,
            fixed_latency_cycles=fl,
            issue_interval_cycles=ii,
        )
        for a, r, arch, st, s, lc, fl, ii in cells
    ]
    return pd.DataFrame(rows, columns=history.SNAPSHOT_COLUMNS).astype(str)


def test_compare_reports_changed_fields_only_on_common_cells():
    old = _snap(
        [
            ("instructions", "fma.rn.f64", "sm_100", "ok", "DFMA", "fixed", "8", "2"),
            ("cache-hints", "ld|plain|v8.b32", "sm_100", "rejected", "", "", "", ""),
            ("instructions", "add.rn.f32", "sm_90", "ok", "FADD", "fixed", "4", "1"),
        ]
    )
    new = _snap(
        [
            ("instructions", "fma.rn.f64", "sm_100", "ok", "DFMA", "variable", "", "2"),
            ("cache-hints", "ld|plain|v8.b32", "sm_100", "ok", "LDG.E.ENL2.256", "", "", ""),
            ("instructions", "add.rn.f32", "sm_90", "ok", "FADD", "fixed", "4", "1"),
            ("instructions", "add.rn.f32", "sm_120", "ok", "FADD", "fixed", "4", "1"),
        ]
    )  # new target: no change
    ch = history.compare(old, new, "13.2→13.3")
    got = {(r.row, r.field, r.old, r.new) for r in ch.itertuples()}
    assert ("fma.rn.f64", "latency_class", "fixed", "variable") in got
    assert ("fma.rn.f64", "fixed_latency_cycles", "8", "") in got
    assert ("ld|plain|v8.b32", "status", "rejected", "ok") in got
    assert not any(r[0] == "add.rn.f32" for r in got)
    assert (ch.step == "13.2→13.3").all()


def test_known_events_are_looked_up_in_the_changes():
    ch = pd.DataFrame(
        [
            dict(
                step="13.2→13.3",
                atlas="instructions",
                row="fma.rn.f64",
                arch="sm_100",
                field="latency_class",
                old="fixed",
                new="variable",
            )
        ]
    )
    ev = dict((t, ok) for t, ok, _ in history.known_events(ch))
    assert ev["DFMA on sm_100 from fixed to scoreboarded (13.2→13.3)"] is True
    assert sum(ev.values()) == 1


def test_readme_labels_changes_as_the_compilers_model():
    ch = pd.DataFrame(
        [dict(step="12.4→12.6", atlas="instructions", row="x", arch="sm_90", field="sass", old="A", new="B")]
    )
    metas = [
        dict(release=r, ptxas=r + ".0", ptx_isa="8.4", archs="sm_80 sm_90", skipped="", cuobjdump="13.5.37")
        for r in ("12.4", "12.6")
    ]
    text = history.readme(metas, ch)
    assert "change of the compiler's model" in text and "not of the hardware" in text
    assert "`A` → `B`" in text


def test_ptx_isa_version_of_12_8_is_8_7(monkeypatch):
    toolchain.ptx_isa_version.cache_clear()
    monkeypatch.setattr(toolchain, "tool_version", lambda name: "12.8.93")
    tried = []
    monkeypatch.setattr(toolchain, "_accepts_version", lambda v: tried.append(v) or v == "8.7")
    try:
        assert toolchain.ptx_isa_version() == "8.7" and tried[0] == "8.7"
    finally:
        toolchain.ptx_isa_version.cache_clear()


def test_ptx_isa_version_falls_back_when_ptxas_refuses_the_guess(monkeypatch):
    toolchain.ptx_isa_version.cache_clear()
    monkeypatch.setattr(toolchain, "tool_version", lambda name: "13.9.1")
    monkeypatch.setattr(toolchain, "_accepts_version", lambda v: v == "9.6")
    try:
        assert toolchain.ptx_isa_version() == "9.6"
    finally:
        toolchain.ptx_isa_version.cache_clear()


def test_unknown_release_is_one_clear_error(capsys):
    assert history.main(["--releases", "11.0", "--out", "/nonexistent"]) == 2
    assert "unknown release '11.0'" in capsys.readouterr().err
