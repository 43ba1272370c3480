"""PTX dry run without a GPU: assemble every hand-written PTX probe for sm_80, sm_90a and sm_100a where its
requirements allow it (ptxas + cuobjdump, cached) and run its SASS check; and write ptx/atlas-instructions.csv, the
list of async/cluster/tensor instructions the static instruction atlas puts beside their measured cost.

`python -m probes.ptx_dryrun [--arch sm_90a ...] [--write-atlas-list]`. It reads the catalogue, so it sits above it;
the PTX loader and launcher it uses (probes.kernel.ptx) is kernel toolkit, below the catalogue.
"""

from __future__ import annotations

import re

from probes.kernel.ptx import PTX_DIR, ROOT, cc_of

# --- a dry run of the PTX probes over architectures the nominal-device dry run does not know -------------------

DRY_RUN_ARCHS = ("sm_80", "sm_90a", "sm_100a")


def ptx_probes(probes=None) -> list:
    from probes import catalogue

    return [p for p in (probes if probes is not None else catalogue.all_probes().values()) if p.ptx]


def legal_on(probe, arch: str) -> str | None:
    """Why a PTX probe is not compiled for arch (its requirements exclude that cc), or None."""
    cc = cc_of(arch)
    why = probe.unmet({"compute_capability": list(cc)}, {p.name: p.default for p in probe.params})
    return "; ".join(why) or None


def dry_run(archs=DRY_RUN_ARCHS, probes=None) -> tuple[int, list[str], list[str]]:
    """(kernels checked, failures, skipped-lines): assemble every PTX probe for each arch where its requirements
    allow it (ptxas + cuobjdump, cached), then run its SASS check (opcodes + clock discipline)."""
    from probes.static import sass, toolchain

    checked, failures, skipped = 0, [], []
    for arch in archs:
        for probe in ptx_probes(probes):
            why = legal_on(probe, arch)
            if why:
                skipped.append(f"skip {probe.name} {arch}: {why}")
                continue
            try:
                kernels = probe.kernels(cc_of(arch))
            except Exception as err:
                failures.append(f"FAIL {probe.name} {arch}: kernels do not render: {type(err).__name__}: {err}")
                continue
            for name, text in kernels:
                try:
                    funcs = sass.parse_cuobjdump(toolchain.cuobjdump_sass(toolchain.assemble(text, arch)))
                except Exception as err:
                    failures.append(
                        f"FAIL {probe.name} {arch} kernel {name}: does not assemble: {str(err).splitlines()[0][:200]}"
                    )
                    continue
                checked += 1
                for problem in probe.check_sass(name, funcs.get(name, [])) if probe.check_sass else []:
                    failures.append(f"FAIL {probe.name} {arch} kernel {name}: SASS check: {problem}")
    return checked, failures, skipped


# --- the list the static instruction atlas reads (probes/static is another module's: it reads this file) ---------

ATLAS_LIST = PTX_DIR / "atlas-instructions.csv"
_ATLAS_OPS = re.compile(
    r"^\s*(?:@!?%p\d+\s+)?((?:cp\.async|mbarrier|mapa|ld\.shared::cluster|barrier\.cluster|wgmma|"
    r"createpolicy|tcgen05|fence\.proxy|fence\.mbarrier_init)[\w.:]*)"
)


def atlas_rows(probes=None) -> list[dict]:
    """(probe, kernel, template, target, PTX instruction with its qualifiers) of every async/cluster/tensor
    instruction each PTX probe kernel issues, for every dry-run target it is legal on: what the static instruction
    atlas needs to put these instructions beside their measured cost."""
    rows = []
    for probe in ptx_probes(probes):
        for arch in DRY_RUN_ARCHS:
            if legal_on(probe, arch):
                continue
            for name, text in probe.kernels(cc_of(arch)):
                ops = sorted({m.group(1) for line in text.splitlines() if (m := _ATLAS_OPS.match(line))})
                rows += [
                    {"probe": probe.name, "kernel": name, "template": probe.ptx, "target": arch, "ptx_instruction": op}
                    for op in ops
                ]
    return rows


def atlas_csv(probes=None) -> str:
    import csv
    import io as _io

    buf = _io.StringIO()
    w = csv.DictWriter(buf, ["probe", "kernel", "template", "target", "ptx_instruction"], lineterminator="\n")
    w.writeheader()
    w.writerows(atlas_rows(probes))
    return buf.getvalue()


def main(argv=None) -> int:
    import argparse
    import sys

    ap = argparse.ArgumentParser(
        prog="python -m probes.ptx_dryrun", description="assemble and SASS-check every PTX probe (no GPU needed)"
    )
    ap.add_argument("--arch", action="append", help=f"architecture (default: {' '.join(DRY_RUN_ARCHS)})")
    ap.add_argument(
        "--write-atlas-list",
        action="store_true",
        help=f"rewrite {ATLAS_LIST.relative_to(ROOT)} (the static atlas's list of these instructions)",
    )
    args = ap.parse_args(argv)
    if args.write_atlas_list:
        from probes.results.io import write_atomic

        write_atomic(ATLAS_LIST, atlas_csv())
        print(f"wrote {ATLAS_LIST.relative_to(ROOT)}")
        return 0
    try:
        archs = tuple(args.arch or DRY_RUN_ARCHS)
        for a in archs:
            cc_of(a)
        checked, failures, skipped = dry_run(archs)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for line in skipped + failures:
        print(line)
    print(
        f"PTX dry run {' '.join(archs)}: {len(ptx_probes())} probes, {checked} kernels assembled and "
        f"SASS-checked, {len(failures)} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
