"""`make static-history`: the static atlases rebuilt with every ptxas from CUDA 12.4 on, and what changed.

Each release's assembler comes from its pip wheel (`nvidia-cuda-nvcc-cu12` for 12.x, `nvidia-cuda-nvcc` for 13.x),
installed once into the toolchain cache (`~/.cache/gpu-probes/toolchains/<release>`). The cache-hint atlas and the
instruction-schedule atlas are built with it (GPU_PROBES_PTXAS points at it; the installed cuobjdump reads every
release's cubins, and targets it cannot read are skipped with its message), reduced to a compact snapshot per release
(reports/static/history/snapshots/<release>.csv.gz), and consecutive releases are compared cell by cell.

A changed cell is a change of the *compiler's model* (what ptxas emits and how it schedules it), never a statement
about the hardware, which is the same silicon before and after.

    python -m probes.static.history [--releases 12.4 12.6 ...] [--out reports/static/history]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

RELEASES = {
    "12.4": "nvidia-cuda-nvcc-cu12==12.4.*",
    "12.6": "nvidia-cuda-nvcc-cu12==12.6.*",
    "12.8": "nvidia-cuda-nvcc-cu12==12.8.*",
    "12.9": "nvidia-cuda-nvcc-cu12==12.9.*",
    "13.0": "nvidia-cuda-nvcc==13.0.*",
    "13.2": "nvidia-cuda-nvcc==13.2.*",
    "13.3": "nvidia-cuda-nvcc==13.3.*",
    "13.4": "nvidia-cuda-nvcc==13.4.*",
    "13.5": "nvidia-cuda-nvcc==13.5.*",
}
OUT = Path(__file__).resolve().parents[2] / "reports" / "static" / "history"
SNAPSHOT_COLUMNS = [
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
COMPARED = ("status", "sass", "detail", "latency_class", "fixed_latency_cycles", "issue_interval_cycles")
# Events the history must find (issue 23): (release step, atlas, row predicate text, archs, field, description)
KNOWN_EVENTS = (
    (
        "12.6→12.8",
        "cache-hints",
        "st|.release.gpu|b32",
        "sm_90",
        "sass",
        "sm_90 st.release.gpu loses its leading MEMBAR.ALL.CTA",
    ),
    ("12.8→12.9", "cache-hints", "ld|plain|v8.b32", "sm_100", "status", "256-bit ld/st accepted on sm_100+"),
    (
        "13.0→13.2",
        "instructions",
        "mma.m16n8k16.f32_f16_f16_f32",
        "sm_120",
        "issue_interval_cycles",
        "HMMA issue interval on sm_120",
    ),
    ("13.2→13.3", "instructions", "fma.rn.f64", "sm_100", "latency_class", "DFMA on sm_100 from fixed to scoreboarded"),
    ("13.3→13.4", "instructions", "fma.rn.f64", "sm_103", "issue_interval_cycles", "FP64 issue interval on sm_103"),
)


def _toolchains_dir() -> Path:
    from probes.static.toolchain import cache_dir

    return cache_dir() / "toolchains"


def find_ptxas(root: Path) -> Path | None:
    hits = sorted(root.glob("nvidia/*/bin/ptxas"))
    return hits[0] if hits else None


def install(release: str) -> Path:
    """ptxas of `release`, installed from its pip wheel into the toolchain cache on first use."""
    if release not in RELEASES:
        raise ValueError(f"unknown release {release!r}: pick from {', '.join(RELEASES)}")
    root = _toolchains_dir() / release
    found = find_ptxas(root)
    if found:
        return found
    tmp = root.with_name(f"{release}.{os.getpid()}.tmp")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp), RELEASES[release]],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0 or not find_ptxas(tmp):
        msg = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["no ptxas in the wheel"]
        raise RuntimeError(f"pip could not install {RELEASES[release]}: {msg[0]}")
    os.replace(tmp, root)
    return find_ptxas(root)


def snapshot_frame(cache_hints: pd.DataFrame, instructions: pd.DataFrame) -> pd.DataFrame:
    """Both atlases reduced to the compared fields, one row per (atlas, row, arch)."""
    ch = cache_hints.fillna("")
    a = pd.DataFrame(
        {
            "atlas": "cache-hints",
            "row": ch["op"] + "|" + ch["qualifier"] + "|" + ch["width"],
            "arch": ch["arch"],
            "status": ch["status"],
            "sass": ch["sass"],
            "detail": ch.get("descriptor", pd.Series("", index=ch.index)).astype(str),
            "latency_class": "",
            "fixed_latency_cycles": "",
            "issue_interval_cycles": "",
        }
    )
    ins = instructions
    b = pd.DataFrame(
        {
            "atlas": "instructions",
            "row": ins["instruction"],
            "arch": ins["arch"],
            "status": ins["status"],
            "sass": ins["sass_opcodes"].fillna(""),
            "detail": ins.get("lowerings", pd.Series("", index=ins.index)).fillna("").astype(str),
            "latency_class": ins["latency_class"].fillna(""),
            "fixed_latency_cycles": ins["fixed_latency_cycles"].map(_num),
            "issue_interval_cycles": ins["issue_interval_cycles"].map(_num),
        }
    )
    return pd.concat([a, b], ignore_index=True)[SNAPSHOT_COLUMNS]


def _num(v) -> str:
    try:
        return "" if pd.isna(v) else f"{float(v):g}"
    except (TypeError, ValueError):
        return str(v)


def build_snapshot(release: str, workdir: Path, progress: bool = False) -> tuple[pd.DataFrame, dict]:
    """In this process (GPU_PROBES_PTXAS already pointing at the release's ptxas): both atlases -> snapshot."""
    from probes.static import cache_hints, instruction_atlas, toolchain

    archs = list(toolchain.supported_archs())
    skipped = toolchain.unreadable_archs(tuple(archs))
    archs = [a for a in archs if a not in skipped]
    # a/f targets lower like their base target in both atlases (reports/static/README.md): the history compares
    # the base targets only, which keeps one release's build within minutes
    archs = [a for a in archs if not toolchain.arch_key(a)[1]]
    ch = cache_hints.build(workdir, archs, progress)
    ins = instruction_atlas.build(workdir, archs, progress, workers=int(os.environ.get("GPU_PROBES_WORKERS", "2")))
    meta = {
        "release": release,
        "ptxas": toolchain.tool_version("ptxas"),
        "cuobjdump": toolchain.tool_version("cuobjdump"),
        "ptx_isa": toolchain.ptx_isa_version(),
        "archs": " ".join(archs),
        "skipped": "; ".join(f"{a}: {m}" for a, m in skipped.items()),
    }
    return snapshot_frame(ch, ins), meta


def _write_gz(path: Path, df: pd.DataFrame) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    data = gzip.compress(buf.getvalue().encode(), compresslevel=9, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def read_snapshot(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, dtype=str)


def compare(old: pd.DataFrame, new: pd.DataFrame, step: str) -> pd.DataFrame:
    """Every (atlas, row, arch, field) whose value differs between two snapshots; cells present in only one
    release (a new target, a new catalogue row) are not changes and are left out."""
    key = ["atlas", "row", "arch"]
    m = old.merge(new, on=key, suffixes=("_old", "_new"))
    out = []
    for field in COMPARED:
        d = m[m[f"{field}_old"] != m[f"{field}_new"]]
        if field != "status":
            d = d[(d["status_old"] == "ok") & (d["status_new"] == "ok")]
        out.append(
            pd.DataFrame(
                {
                    "step": step,
                    "atlas": d["atlas"],
                    "row": d["row"],
                    "arch": d["arch"],
                    "field": field,
                    "old": d[f"{field}_old"],
                    "new": d[f"{field}_new"],
                }
            )
        )
    df = pd.concat(out, ignore_index=True)
    from probes.static.toolchain import arch_key

    return df.sort_values(
        ["atlas", "row", "field", "arch"], key=lambda c: c.map(arch_key) if c.name == "arch" else c, kind="stable"
    ).reset_index(drop=True)


def known_events(changes: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """(description, found, the matching change) for each KNOWN_EVENTS entry."""
    out = []
    for step, atlas, row, arch, field, text in KNOWN_EVENTS:
        hit = changes[
            (changes.step == step)
            & (changes.atlas == atlas)
            & (changes.row == row)
            & (changes.arch == arch)
            & (changes.field == field)
        ]
        out.append(
            (
                f"{text} ({step})",
                len(hit) > 0,
                f"`{hit.iloc[0]['old'] or '∅'}` → `{hit.iloc[0]['new'] or '∅'}`" if len(hit) else "",
            )
        )
    return out


def readme(metas: list[dict], changes: pd.DataFrame) -> str:
    from probes.static.toolchain import arch_ranges

    L = [
        "# How the compiler's model changed, CUDA 12.4 to today",
        "",
        "Both static atlases (cache hints, instruction schedule) rebuilt with the ptxas of every release below and "
        "compared release by release. **Every change listed is a change of the compiler's model** (what ptxas "
        "emits for the same PTX and how it schedules it), not of the hardware: the silicon is the same before and "
        "after. Built by `make static-history` (no GPU); data: `changes.csv` (every changed cell, old → new), "
        "`releases.csv`, `snapshots/<release>.csv.gz`.",
        "",
        "| release | ptxas | PTX ISA | targets | skipped |",
        "|---|---|---|---|---|",
    ]
    for m in metas:
        L.append(
            f"| {m['release']} | {m['ptxas']} | {m['ptx_isa']} | {arch_ranges(m['archs'].split())} | "
            f"{m['skipped'].replace('|', '/') or '—'} |"
        )
    L += [
        "",
        "Targets the disassembler (cuobjdump " + (metas[-1]["cuobjdump"] if metas else "?") + ") refuses are "
        "skipped with its message, not fatal.",
        "",
    ]
    ev = known_events(changes)
    if ev:
        L += ["## Known events", "", "| event | found | change |", "|---|---|---|"]
        L += [f"| {t} | {'yes' if ok else 'no'} | {c} |" for t, ok, c in ev]
        L.append("")
    L += ["## Changes per release step", ""]
    for step, g in changes.groupby("step", sort=False):
        L += [f"### {step}: {len(g)} changed cells", ""]
        groups = g.groupby(["atlas", "row", "field", "old", "new"], sort=False)["arch"].apply(list)
        shown = 0
        for (atlas, row, field, old, new), archs in groups.items():
            if shown >= 150:
                L.append(f"- … {len(groups) - shown} more groups in `changes.csv`")
                break
            L.append(f"- {atlas} `{row}` {field} on {arch_ranges(archs)}: `{old or '∅'}` → `{new or '∅'}`")
            shown += 1
        L.append("")
    return "\n".join(L)


def run(releases: list[str], out: Path, progress: bool = True, reuse: bool = False) -> Path:
    """Install, build and compare `releases` (in release order); write out/ and return its README.
    reuse: keep a release's existing snapshot (out/snapshots/<release>.csv.gz) instead of rebuilding it."""
    from probes.results.io import write_atomic

    out = Path(out)
    metas, snaps = [], []
    for rel in releases:
        path = out / "snapshots" / f"{rel}.csv.gz"
        meta_path = path.with_suffix("").with_suffix(".meta.csv")
        if reuse and path.is_file() and meta_path.is_file():
            metas.append(pd.read_csv(meta_path, keep_default_na=False, dtype=str).iloc[0].to_dict())
            snaps.append(read_snapshot(path))
            continue
        ptxas = install(rel)
        env = dict(os.environ, GPU_PROBES_PTXAS=str(ptxas))
        with tempfile.TemporaryDirectory(prefix="gpu-probes-history-") as d:
            cmd = [
                sys.executable,
                "-m",
                "probes.static.history",
                "snapshot",
                "--release",
                rel,
                "--work",
                d,
                "--out",
                str(path),
            ]
            r = subprocess.run(cmd, env=env, capture_output=not progress, text=True, check=False)
            if r.returncode != 0:
                raise RuntimeError(f"release {rel}: snapshot failed: {(r.stderr or '').strip()[-300:]}")
        meta = pd.read_csv(path.with_suffix("").with_suffix(".meta.csv"), keep_default_na=False, dtype=str)
        metas.append(meta.iloc[0].to_dict())
        snaps.append(read_snapshot(path))
    changes = pd.concat(
        [compare(a, b, f"{ra}→{rb}") for (ra, a), (rb, b) in zip(zip(releases, snaps), zip(releases[1:], snaps[1:]))]
        or [pd.DataFrame(columns=["step", "atlas", "row", "arch", "field", "old", "new"])],
        ignore_index=True,
    )
    buf = io.StringIO()
    changes.to_csv(buf, index=False, lineterminator="\n")
    write_atomic(out / "changes.csv", buf.getvalue())
    buf = io.StringIO()
    pd.DataFrame(metas).to_csv(buf, index=False, lineterminator="\n")
    write_atomic(out / "releases.csv", buf.getvalue())
    text = readme(metas, changes)
    write_atomic(out / "README.md", text)
    return out / "README.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m probes.static.history", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("snapshot", help="(internal) one release, with GPU_PROBES_PTXAS set")
    s.add_argument("--release", required=True)
    s.add_argument("--work", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    p.add_argument("--releases", nargs="*", default=list(RELEASES))
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--reuse", action="store_true", help="keep existing snapshots, only rebuild the missing ones")
    args = p.parse_args(argv)
    try:
        if args.cmd == "snapshot":
            df, meta = build_snapshot(args.release, args.work, progress=False)
            _write_gz(args.out, df)
            buf = io.StringIO()
            pd.DataFrame([meta]).to_csv(buf, index=False, lineterminator="\n")
            from probes.results.io import write_atomic

            write_atomic(args.out.with_suffix("").with_suffix(".meta.csv"), buf.getvalue())
            return 0
        unknown = [r for r in args.releases if r not in RELEASES]
        if unknown:
            raise ValueError(f"unknown release {unknown[0]!r}: pick from {', '.join(RELEASES)}")
        order = [r for r in RELEASES if r in args.releases]
        print(run(order, args.out, progress=not args.quiet, reuse=args.reuse))
        return 0
    except (ValueError, RuntimeError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
