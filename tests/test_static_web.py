"""atlas.html / atlas.json: data layout, and the page in a real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pandas as pd
import pytest

from probes.static import web


def _frame():
    rows = []
    for _i, (name, group) in enumerate(
        [
            ("fma.rn.f32", "fp"),
            ("add.rn.f32", "fp"),
            ("setp.lt.s32", "setp"),
            ("wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16", "wgmma"),
        ]
    ):
        for arch in ("sm_90", "sm_90a"):
            ok = group != "wgmma" or arch == "sm_90a"
            rows.append(
                dict(
                    variant=name,
                    group=group,
                    ptx=name + " d, a, b;",
                    arch=arch,
                    status="ok" if ok else "rejected",
                    error="" if ok else "not supported on sm_90",
                    sass="FFMA" if ok else "",
                    sass_text="",
                    lowering_kind="single",
                    lowerings="FFMA 4",
                    sass_per_ptx=1.0,
                    latency_class="fixed",
                    fixed_latency_cycles=4 if ok else None,
                    latency_min=4 if ok else None,
                    latency_max=4 if ok else None,
                    issue_interval_cycles=2 if ok else None,
                    assembler_version="13.5",
                    assembled_as="sm_90" if arch == "sm_90a" and ok and group != "wgmma" else "",
                )
            )
    df = pd.DataFrame(rows)
    for c in ("fixed_latency_cycles", "latency_min", "latency_max", "issue_interval_cycles"):
        df[c] = df[c].astype("Int64")
    return df


def _snapshots():
    """Two releases of a tiny history: fma's latency changes on sm_90, add is new in the second."""
    cols = [
        "atlas",
        "row",
        "arch",
        "status",
        "sass",
        "detail",
        "latency_class",
        "fixed_latency_cycles",
        "issue_interval_cycles",
    ]
    a = pd.DataFrame(
        [
            ["instructions", "fma.rn.f64", "sm_90", "ok", "DFMA", "", "fixed", "8", "2"],
            ["instructions", "fma.rn.f64", "sm_100", "ok", "DFMA", "", "fixed", "8", "2"],
            ["cache-hints", "ld|.cg|b32", "sm_90", "ok", "LDG.E.STRONG.GPU", "none", "", "", ""],
        ],
        columns=cols,
    )
    b = a.copy()
    b.loc[1, ["latency_class", "fixed_latency_cycles"]] = ["variable", ""]
    b = pd.concat(
        [b, pd.DataFrame([["instructions", "add.f64", "sm_90", "ok", "DADD", "", "fixed", "8", "2"]], columns=cols)],
        ignore_index=True,
    )
    return [("12.9", "12.9.86", a), ("13.3", "13.3.73", b)]


def test_releases_store_each_unchanged_cell_once(tmp_path):
    data = web.atlas_data(_frame(), {"ptxas": "13.5"}, snapshots=_snapshots())
    assert [r[0] for r in data["releases"]] == ["12.9", "13.3"]
    assert data["releases"][0][2] == ["sm_90", "sm_100"]
    old, new = (set(r[3]) for r in data["releases"])
    assert len(old & new) == 2 and len(data["hcells"]) == 5  # 2 unchanged, 1 changed, 1 new
    changed = data["hcells"][next(iter(new - old - {data["releases"][1][3][-1]}))]
    assert data["strings"][changed[6]] == "variable" and changed[7] is None
    (tmp_path / "snapshots").mkdir()
    for rel, _ptxas, snap in _snapshots():
        snap.to_csv(tmp_path / "snapshots" / f"{rel}.csv.gz", index=False)
    pd.DataFrame({"release": ["12.9", "13.3"], "ptxas": ["12.9.86", "13.3.73"]}).to_csv(
        tmp_path / "releases.csv", index=False
    )
    again = web.atlas_data(_frame(), {"ptxas": "13.5"}, snapshots=web.history_snapshots(tmp_path))
    assert again["releases"] == data["releases"] and again["hcells"] == data["hcells"]


def test_json_interns_strings_and_dedupes_cells(tmp_path):
    data = web.atlas_data(_frame(), {"ptxas": "13.5"})
    assert data["schema"] == web.SCHEMA and data["archs"] == ["sm_90", "sm_90a"]
    assert len(data["variants"]) == 4
    # identical cells on two targets share one entry (only assembled_as differs here, so they do not)
    assert len(data["cells"]) < 8
    w = data["variants"][3]
    sm90 = data["cells"][w[3][0]]
    assert data["strings"][sm90[0]] == "rejected" and "sm_90" in data["strings"][sm90[9]]
    j, h = web.write(tmp_path, data)
    assert json.loads(j.read_text()) == data
    html = h.read_text()
    assert not re.search(r"(src|href)=['\"]?https?:", html), "the page must not load anything from the network"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    exe = _chromium()
    if not exe:
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium where apt is available)")
    out = tmp_path_factory.mktemp("web")
    web.write(out, web.atlas_data(_frame(), {"ptxas": "13.5"}, snapshots=_snapshots()))
    return exe, out / "atlas.html"


def _dom(exe, url):
    r = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-extensions",
            "--no-first-run",
            "--virtual-time-budget=4000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-500:]
    return r.stdout


def _attr(dom, name):
    m = re.search(rf'<body[^>]*data-{name}="([^"]*)"', dom)
    return m.group(1) if m else None


def test_browser_loads_offline_and_filters(page):
    exe, html = page
    everything = _dom(exe, html.as_uri())
    assert _attr(everything, "ready") == "1"
    assert int(_attr(everything, "rows")) == 4
    narrowed = _dom(exe, html.as_uri() + "?q=rn.f32")
    assert int(_attr(narrowed, "rows")) == 2 and "setp.lt.s32" not in re.search(
        "<tbody>(.*?)</tbody>", narrowed, re.S
    ).group(1)
    only90 = _dom(exe, html.as_uri() + "?arch=sm_90")
    assert int(_attr(only90, "rows")) == 3  # wgmma is not accepted on sm_90


def test_browser_release_selector_shows_a_release_and_marks_its_changes(page, tmp_path):
    exe, html = page
    first = _dom(exe, html.as_uri() + "?release=12.9")
    assert _attr(first, "release") == "12.9" and int(_attr(first, "rows")) == 2
    rows = re.search("<tbody>(.*?)</tbody>", first, re.DOTALL).group(1)
    assert int(_attr(first, "changed")) == 0 and "fma.rn.f64" in rows and "wgmma" not in rows
    second = _dom(exe, html.as_uri() + "?release=13.3")
    assert _attr(second, "release") == "13.3" and int(_attr(second, "rows")) == 3
    assert int(_attr(second, "changed")) == 1
    body = re.search("<tbody>(.*?)</tbody>", second, re.DOTALL).group(1)
    assert len(re.findall(r"class=\"c [a-z]+ chg\"", body)) == 1 and "add.f64" in body
    # the release list is in the page, newest first after this build's own entry
    options = re.findall(r'<option value="([^"]*)">release', second)
    assert options == ["", "13.3", "12.9"]
    back = _dom(exe, html.as_uri() + "?release=13.3&q=fma")
    assert int(_attr(back, "rows")) == 1
    shot = tmp_path / "release.png"
    r = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=4000",
            "--window-size=1200,600",
            f"--screenshot={shot}",
            html.as_uri() + "?release=13.3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_browser_permalink_opens_its_row_and_screenshot(page, tmp_path):
    exe, html = page
    target = web.anchor("wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16")
    dom = _dom(exe, html.as_uri() + "#" + target)
    assert _attr(dom, "open") == target
    assert re.search(rf'<tr id="{re.escape(target)}"[^>]*class="open"', dom)
    assert "rejected by ptxas" in dom or "SASS:" in dom  # the detail panel of that row is shown
    shot = tmp_path / "atlas.png"
    r = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=4000",
            "--window-size=1200,800",
            f"--screenshot={shot}",
            html.as_uri() + "#" + target,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0 and shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
