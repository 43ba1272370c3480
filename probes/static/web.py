"""The browsable atlas: reports/static/atlas.html (one self-contained file: no CDN, no server) and atlas.json.

atlas.json (schema "gpu-probes/static-atlas/1"), every string interned once:
    {"schema": ..., "toolchain": {tool: version}, "archs": [arch, ...], "groups": [group, ...],
     "strings": [str, ...],
     "cells": [[status, sass, kind, lowerings, latency_class, fixed, min, max, interval, error, assembled_as], ...],
     "variants": [[name, group, ptx, [cell index per arch in `archs` order]], ...],
     "history": [[step, atlas, row, arch, field, old, new], ...],
     "hcells": [[atlas, row, arch, status, sass, detail, latency_class, fixed, interval], ...],
     "releases": [[release, ptxas, [arch, ...], [hcell index, ...]], ...]}
In `cells`, status/sass/kind/lowerings/latency_class/error/assembled_as are indices into `strings`; fixed, min,
max (fixed latency in cycles, mode and range over the dependent links) and interval (issue interval in cycles) are
numbers or null. status is 'ok' or 'rejected' (error then holds ptxas's message). The anchor of a variant in
atlas.html is `#v-` + its name with every character outside [A-Za-z0-9._-] replaced by '_'.
`releases` is the committed history (reports/static/history/snapshots/, oldest first): per CUDA release, the
cells of the instruction and cache-hint atlases built with that release's ptxas, as indices into `hcells` (a cell
unchanged between releases is stored once; in hcells atlas/row/arch/status/sass/detail/latency_class are indices
into `strings`, fixed and interval numbers or null). atlas.html's release selector shows them (`?release=12.8`),
marking each cell that differs from the release before: a change of the compiler's model, not of the hardware.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from . import history

SCHEMA = "gpu-probes/static-atlas/1"
CELL_FIELDS = [
    "status",
    "sass",
    "lowering_kind",
    "lowerings",
    "latency_class",
    "fixed_latency_cycles",
    "latency_min",
    "latency_max",
    "issue_interval_cycles",
    "error",
    "assembled_as",
]
_NUMERIC = {"fixed_latency_cycles", "latency_min", "latency_max", "issue_interval_cycles"}


def anchor(name: str) -> str:
    return "v-" + re.sub(r"[^A-Za-z0-9._-]", "_", name)


def history_snapshots(history_dir: Path) -> list[tuple[str, str, pd.DataFrame]]:
    """[(release, ptxas version, snapshot)] of the committed history, in the order of releases.csv."""
    history_dir = Path(history_dir)
    index = history_dir / "releases.csv"
    if not index.is_file():
        return []
    out = []
    for r in pd.read_csv(index, keep_default_na=False, dtype=str).to_dict("records"):
        p = history_dir / "snapshots" / f"{r['release']}.csv.gz"
        if p.is_file():
            out.append((r["release"], r["ptxas"], pd.read_csv(p, keep_default_na=False, dtype=str)))
    return out


_HFIELDS = history.SNAPSHOT_COLUMNS  # a history snapshot's columns, in its order


def atlas_data(
    df: pd.DataFrame,
    toolchain_versions: dict,
    history: pd.DataFrame | None = None,
    snapshots: list[tuple[str, str, pd.DataFrame]] | None = None,
) -> dict:
    from probes.static.toolchain import arch_key

    archs = sorted(df["arch"].unique(), key=arch_key)
    strings: dict[str, int] = {}

    def s(v) -> int:
        v = "" if v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA else str(v)
        return strings.setdefault(v, len(strings))

    def num(v):
        return None if v is None or pd.isna(v) else int(v)

    cells: dict[tuple, int] = {}
    by_variant: dict[str, dict] = {}
    meta: dict[str, tuple] = {}
    for r in df.to_dict("records"):
        cell = tuple(num(r[f]) if f in _NUMERIC else s(r[f]) for f in CELL_FIELDS)
        idx = cells.setdefault(cell, len(cells))
        by_variant.setdefault(r["variant"], {})[r["arch"]] = idx
        meta.setdefault(r["variant"], (r["group"], r["ptx"]))
    variants = [
        [name, meta[name][0], meta[name][1], [by_variant[name].get(a) for a in archs]]
        for name in dict.fromkeys(df["variant"])
    ]
    groups = list(dict.fromkeys(df["group"]))
    hist = (
        []
        if history is None
        else history[["step", "atlas", "row", "arch", "field", "old", "new"]].astype(str).values.tolist()
    )
    hcells: dict[tuple, int] = {}
    releases = []

    def hnum(v):
        return None if v in ("", None) else float(v) if "." in str(v) and float(v) != int(float(v)) else int(float(v))

    for release, ptxas, snap in snapshots or []:
        idx = []
        for r in snap[_HFIELDS].itertuples(index=False):
            cell = tuple(hnum(v) if k >= 7 else s(v) for k, v in enumerate(r))
            idx.append(hcells.setdefault(cell, len(hcells)))
        releases.append([release, ptxas, sorted(snap["arch"].unique(), key=arch_key), idx])
    return {
        "schema": SCHEMA,
        "toolchain": toolchain_versions,
        "archs": archs,
        "groups": groups,
        "strings": list(strings),
        "cells": [list(c) for c in cells],
        "variants": variants,
        "history": hist,
        "hcells": [list(c) for c in hcells],
        "releases": releases,
    }


def write(out_dir: Path, data: dict) -> tuple[Path, Path]:
    from probes.results.io import write_atomic

    out_dir = Path(out_dir)
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    write_atomic(out_dir / "atlas.json", text + "\n")
    html = HTML.replace("__DATA__", text.replace("</", "<\\/"))
    write_atomic(out_dir / "atlas.html", html)
    return out_dir / "atlas.json", out_dir / "atlas.html"


HTML = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>gpu-probes static atlas: PTX variants x targets</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:13px/1.35 system-ui,sans-serif;margin:0;color:#111}
header{padding:8px 12px;background:#f4f4f4;border-bottom:1px solid #ccc;position:sticky;top:0;z-index:3}
header input,header select{font:inherit;margin-right:8px}
#count{color:#555}
table{border-collapse:collapse;margin:0 12px 40px 12px}
th,td{border:1px solid #ddd;padding:2px 4px;white-space:nowrap}
th{background:#fafafa;position:sticky;top:var(--head,44px);z-index:2;font-weight:600}
td.n{font-family:ui-monospace,monospace;max-width:38em;overflow:hidden;text-overflow:ellipsis}
td.c{text-align:center;cursor:pointer;font-family:ui-monospace,monospace}
td.rej{color:#bbb}
td.fixed{background:#e8f5e9}td.variable{background:#fff3e0}td.mixed{background:#ede7f6}
td.seq{background:#e3f2fd}td.none{background:#f5f5f5}
td.chg{outline:2px solid #d32f2f;outline-offset:-2px}
tr.open td.n{background:#ffeb3b}
tr.g th{text-align:left;background:#eee;top:auto;position:static}
#detail{position:fixed;right:12px;bottom:12px;width:36em;max-height:45vh;overflow:auto;background:#fff;
border:1px solid #888;box-shadow:0 2px 8px #0003;padding:8px 10px;display:none;z-index:4}
#detail pre{white-space:pre-wrap;margin:4px 0}
a{color:#1559b0}
</style></head><body>
<header>
<b>PTX &rarr; SASS atlas</b> &middot; what ptxas emits and how it schedules it (the compiler's model, not a measurement)
<br><input id="q" placeholder="filter: name contains (e.g. setp.lt)" size="34">
<select id="group"><option value="">all groups</option></select>
<select id="arch"><option value="">accepted on any target</option></select>
<label><input type="checkbox" id="rejected"> show never-accepted</label>
<select id="release" title="the committed history: both smaller atlases built with each CUDA release's ptxas"></select>
<span id="count"></span>
</header>
<div id="detail"></div>
<table id="t"><thead></thead><tbody></tbody></table>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const S = D.strings, C = D.cells, A = D.archs, LIMIT = 600;
const F = {status:0, sass:1, kind:2, low:3, cls:4, lat:5, min:6, max:7, ii:8, err:9, as:10};
const anchor = n => "v-" + n.replace(/[^A-Za-z0-9._-]/g, "_");
const q = document.getElementById("q"), gsel = document.getElementById("group"),
      asel = document.getElementById("arch"), rej = document.getElementById("rejected");
for (const g of D.groups) gsel.add(new Option(g, g));
for (const a of A) asel.add(new Option("accepted on " + a, a));
const R = D.releases || [], H = D.hcells || [], rsel = document.getElementById("release");
rsel.add(new Option("release " + String(D.toolchain.ptxas || "").split(" ")[0] + ": every variant (this build)", ""));
for (let k = R.length - 1; k >= 0; k--) rsel.add(new Option("release " + R[k][0] + " (ptxas " + R[k][1] +
  "): instruction + cache-hint atlases", R[k][0]));
if (!R.length) rsel.style.display = "none";
for (const a of new Set(R.flatMap(r => r[2]))) if (A.indexOf(a) < 0) asel.add(new Option("accepted on " + a, a));
const HF = ["status", "sass", "detail", "latency class", "fixed latency", "issue interval"];
const hval = (c, f) => f < 4 ? S[c[f + 3]] : c[f + 3] === null ? "" : String(c[f + 3]);
function hkey(c) { return c[0] + "," + c[1] + "," + c[2]; }
function ok(i) { return i !== null && S[C[i][F.status]] === "ok"; }
function label(i) {
  if (i === null) return ["", "none"];
  const c = C[i];
  if (S[c[F.status]] !== "ok") return ["\u2014", "rej"];
  const cls = S[c[F.cls]], kind = S[c[F.kind]];
  let head = cls === "fixed" && c[F.lat] !== null ? String(c[F.lat]) : cls === "variable" ? "SB" :
             cls === "mixed" ? "mix" : cls.startsWith("fixed") ? "F" : "?";
  const css = kind.indexOf("sequence") >= 0 ? "seq" : cls.startsWith("fixed") ? "fixed" : cls;
  return [head + (c[F.ii] !== null ? "/" + c[F.ii] : ""), css];
}
function describe(v, ai) {
  const i = v[3][ai], c = C[i];
  const lines = ["<b>" + esc(v[0]) + "</b> on <b>" + A[ai] + "</b> &middot; <a href='#" + anchor(v[0]) + "'>permalink</a>",
                 "<pre>" + esc(v[2]) + "</pre>"];
  if (S[c[F.status]] !== "ok") { lines.push("rejected by ptxas: <pre>" + esc(S[c[F.err]]) + "</pre>"); return lines.join(""); }
  const lat = c[F.lat] !== null ? c[F.lat] + " cycles [" + c[F.min] + "\u2013" + c[F.max] + "]" : "none measured";
  lines.push("SASS: <pre>" + esc(S[c[F.sass]]) + "</pre>",
    "lowering: " + esc(S[c[F.kind]]) + (S[c[F.low]] ? " &middot; per opcode (share, latency): " + esc(S[c[F.low]]) : ""),
    "<br>latency class: " + esc(S[c[F.cls]]) + " &middot; fixed latency: " + lat +
    " &middot; issue interval: " + (c[F.ii] !== null ? c[F.ii] + " cycles" : "\u2014"));
  if (S[c[F.as]]) lines.push("<br>(not assembled separately: lowers as on " + esc(S[c[F.as]]) + ", verified on a sample)");
  return lines.join("");
}
function esc(s) { return String(s).replace(/[&<>]/g, ch => ({"&":"&amp;","<":"&lt;",">":"&gt;"}[ch])); }
function hlabel(c) {
  if (S[c[3]] !== "ok") return ["\u2014", "rej"];
  if (S[c[0]] === "cache-hints") return [S[c[4]].split(" ")[0], "none"];
  const cls = S[c[6]];
  return [(cls === "variable" ? "SB" : c[7] !== null ? String(c[7]) : "F") + (c[8] !== null ? "/" + c[8] : ""),
          cls === "variable" ? "variable" : "fixed"];
}
function hdescribe(i, p) {
  const c = H[i], rel = rsel.value;
  const lines = ["<b>" + esc(S[c[1]]) + "</b> (" + esc(S[c[0]]) + " atlas) on <b>" + esc(S[c[2]]) + "</b>, ptxas of CUDA " + esc(rel)];
  for (let f = 0; f < HF.length; f++) {
    const now = hval(c, f), before = p !== undefined ? hval(H[p], f) : now;
    lines.push("<br>" + HF[f] + ": " + (before !== now ? "<b>" + esc(before || "(empty)") + " \u2192 " + esc(now || "(empty)") + "</b>" : esc(now || "\u2014")));
  }
  if (p !== undefined && p !== i) lines.push("<br><i>changed from the release before: a change of the compiler's model, not of the hardware</i>");
  return lines.join("");
}
function renderHistory() {
  const k = R.findIndex(r => r[0] === rsel.value), rel = R[k], archs = rel[2];
  const text = q.value.trim().toLowerCase(), a = asel.value;
  const prev = k > 0 ? new Map(R[k - 1][3].map(i => [hkey(H[i]), i])) : new Map();
  const rows = new Map();
  for (const i of rel[3]) {
    const c = H[i], key = c[0] + "," + c[1];
    if (!rows.has(key)) rows.set(key, {atlas: S[c[0]], name: S[c[1]], cells: {}});
    rows.get(key).cells[S[c[2]]] = i;
  }
  document.querySelector("thead").innerHTML = "<tr><th>" + esc(rel[0]) + ": atlas row</th>" + archs.map(x => "<th>" + x + "</th>").join("") + "</tr>";
  const out = [];
  let shown = 0, matched = 0, changed = 0, group = null;
  const order = [...new Set([...rows.values()].map(r => r.atlas))];
  for (const r of [...rows.values()].sort((x, y) => order.indexOf(x.atlas) - order.indexOf(y.atlas))) {
    if (text && r.name.toLowerCase().indexOf(text) < 0) continue;
    if (a && !(r.cells[a] !== undefined && S[H[r.cells[a]][3]] === "ok")) continue;
    matched++;
    if (shown >= LIMIT) continue;
    shown++;
    if (r.atlas !== group) { group = r.atlas; out.push("<tr class='g'><th colspan='" + (archs.length + 1) + "'>" + esc(group) + " atlas</th></tr>"); }
    out.push("<tr><td class='n'>" + esc(r.name) + "</td>" + archs.map(x => {
      const i = r.cells[x]; if (i === undefined) return "<td class='c none'></td>";
      const p = prev.get(hkey(H[i])), [t, css] = hlabel(H[i]), chg = p !== undefined && p !== i;
      changed += chg;
      return "<td class='c " + css + (chg ? " chg" : "") + "' data-h='" + i + "'" + (p !== undefined ? " data-p='" + p + "'" : "") + ">" + esc(t) + "</td>";
    }).join("") + "</tr>");
  }
  document.querySelector("tbody").innerHTML = out.join("");
  document.getElementById("count").textContent = matched + " rows of CUDA " + rel[0] + "'s atlases, " + changed +
    " cells changed since " + (k > 0 ? R[k - 1][0] : "(first release)") + (matched > shown ? " (first " + shown + " shown)" : "");
  document.body.dataset.rows = String(shown);
  document.body.dataset.changed = String(changed);
  document.body.dataset.release = rel[0];
}
function render() {
  gsel.disabled = rej.disabled = !!rsel.value;
  if (rsel.value) return renderHistory();
  document.body.dataset.release = "";
  document.querySelector("thead").innerHTML = "<tr><th>variant</th>" + A.map(a => "<th>" + a + "</th>").join("") + "</tr>";
  const text = q.value.trim().toLowerCase(), g = gsel.value, a = asel.value, ai = A.indexOf(a);
  const rows = [];
  let shown = 0, matched = 0, group = null;
  for (const v of D.variants) {
    if (text && v[0].toLowerCase().indexOf(text) < 0) continue;
    if (g && v[1] !== g) continue;
    if (ai >= 0 ? !ok(v[3][ai]) : (!rej.checked && !v[3].some(ok))) continue;
    matched++;
    if (shown >= LIMIT) continue;
    shown++;
    if (v[1] !== group) { group = v[1]; rows.push("<tr class='g'><th colspan='" + (A.length + 1) + "'>" + esc(group) + "</th></tr>"); }
    rows.push("<tr id='" + anchor(v[0]) + "' data-v='" + D.variants.indexOf(v) + "'><td class='n' title='" + esc(v[2]) +
      "'><a href='#" + anchor(v[0]) + "'>" + esc(v[0]) + "</a></td>" +
      v[3].map((i, k) => { const [t, css] = label(i); return "<td class='c " + css + "' data-a='" + k + "'>" + t + "</td>"; }).join("") + "</tr>");
  }
  document.querySelector("tbody").innerHTML = rows.join("");
  document.getElementById("count").textContent = matched + " variants" + (matched > shown ? " (first " + shown + " shown: refine the filter)" : "");
  document.body.dataset.rows = String(shown);
}
const tbody = document.querySelector("tbody"), detail = document.getElementById("detail");
tbody.addEventListener("click", e => {
  const td = e.target.closest("td.c"); if (!td) return;
  if (td.dataset.h !== undefined) {
    detail.innerHTML = hdescribe(+td.dataset.h, td.dataset.p !== undefined ? +td.dataset.p : undefined);
    detail.style.display = "block"; return;
  }
  if (td.parentNode.dataset.v === undefined) return;
  const v = D.variants[+td.parentNode.dataset.v];
  detail.innerHTML = describe(v, +td.dataset.a); detail.style.display = "block";
});
tbody.addEventListener("mouseover", e => {
  const td = e.target.closest("td.c"); if (!td || td.title) return;
  if (td.dataset.h !== undefined) {
    const c = H[+td.dataset.h], p = td.dataset.p !== undefined ? H[+td.dataset.p] : c;
    td.title = HF.map((f, k) => f + ": " + (hval(p, k) !== hval(c, k) ? hval(p, k) + " \u2192 " : "") + hval(c, k)).join("\n");
    return;
  }
  if (td.parentNode.dataset.v === undefined) return;
  const c = C[D.variants[+td.parentNode.dataset.v][3][+td.dataset.a]];
  if (c) td.title = S[c[F.status]] === "ok" ? S[c[F.sass]] + "\n" + S[c[F.cls]] +
    (c[F.lat] !== null ? ", " + c[F.lat] + " cycles [" + c[F.min] + "\u2013" + c[F.max] + "]" : "") +
    (c[F.ii] !== null ? ", issue interval " + c[F.ii] : "") + (S[c[F.low]] ? "\n" + S[c[F.low]] : "") : S[c[F.err]];
});
function openHash() {
  const id = decodeURIComponent(location.hash.slice(1)); if (!id) return;
  let row = document.getElementById(id);
  if (!row) {
    const v = D.variants.find(v => anchor(v[0]) === id);
    if (!v) return;
    q.value = v[0]; gsel.value = ""; asel.value = ""; rsel.value = ""; rej.checked = true; render();
    row = document.getElementById(id);
  }
  document.querySelectorAll("tr.open").forEach(r => r.classList.remove("open"));
  row.classList.add("open"); row.scrollIntoView({block: "center"});
  const v = D.variants[+row.dataset.v], first = v[3].findIndex(ok);
  detail.innerHTML = describe(v, first >= 0 ? first : 0); detail.style.display = "block";
  document.body.dataset.open = id;
}
const params = new URLSearchParams(location.search);
if (params.get("q")) q.value = params.get("q");
if (params.get("group")) gsel.value = params.get("group");
if (params.get("arch")) asel.value = params.get("arch");
if (params.get("release") && R.some(r => r[0] === params.get("release"))) rsel.value = params.get("release");
for (const el of [q, gsel, asel, rej, rsel]) el.addEventListener("input", render);
window.addEventListener("hashchange", openHash);
render(); openHash();
document.body.style.setProperty("--head", document.querySelector("header").offsetHeight + "px");
document.body.dataset.ready = "1";
</script></body></html>
"""
