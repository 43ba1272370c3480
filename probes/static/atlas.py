"""`make static`: build every static atlas into reports/static/ and write its README from the data."""

from __future__ import annotations

import importlib
from pathlib import Path

from probes.results.io import write_atomic
from probes.static import cache_hint_findings, cache_hints, toolchain

INTRO = """# Static atlases: what the NVIDIA toolchain does with your PTX

Built by `make static` on a machine with no GPU and no driver: every case is assembled with `ptxas` and read back
with `cuobjdump` from the pip wheels, for every target architecture the installed assembler accepts. These are
facts about the compiler, not measurements of silicon: what the hardware then does with each SASS modifier is what
the GPU probes measure (see the per-GPU reports).
"""


def _history_changes(out_dir: Path):
    """The committed history of the atlases across CUDA releases (reports/static/history/changes.csv), if any."""
    import pandas as pd

    p = Path(out_dir) / "history" / "changes.csv"
    return pd.read_csv(p, keep_default_na=False, dtype=str) if p.is_file() else None


def _instruction_atlas():
    """The instruction-schedule atlas module, if this installation has it."""
    try:
        return importlib.import_module("probes.static.instruction_atlas")
    except ModuleNotFoundError:
        return None


def build(
    out_dir: Path,
    archs: list[str] | None = None,
    progress: bool = True,
    which=("cache-hints", "instructions", "variants"),
) -> Path:
    out_dir = Path(out_dir)
    archs = list(archs) if archs else list(toolchain.supported_archs())
    skipped = toolchain.unreadable_archs(tuple(archs))
    archs = [a for a in archs if a not in skipped]
    sections = []
    df = idf = vdf = None
    if "cache-hints" in which:
        df = cache_hints.build(out_dir, archs, progress)
        sections.append(cache_hint_findings.readme_section(df))
    inst = _instruction_atlas()
    if "instructions" in which and inst is not None:
        idf = inst.build(out_dir, archs, progress)
        sections.append(inst.readme_section(idf))
    if "variants" in which:
        from probes.static import variant_atlas, variant_findings, web

        targets = variant_atlas.TARGETS
        vdf = variant_atlas.build(None, [a for a in archs if targets is None or a in targets] or archs, progress)
        variant_atlas.write_csv(vdf, out_dir)
        sections.append(variant_findings.readme_section(vdf, variant_atlas.CSV_NAME))
        web.write(
            out_dir,
            web.atlas_data(
                vdf,
                toolchain.toolchain_versions(),
                _history_changes(out_dir),
                web.history_snapshots(out_dir / "history"),
            ),
        )
    versions = toolchain.toolchain_versions()
    provenance = [
        "## Provenance",
        "",
        *[f"- {name}: {v}" for name, v in versions.items()],
        f"- PTX ISA written: {toolchain.ptx_isa_version()}",
        f"- architectures: {', '.join(archs)}",
        f"- rebuilt with `make static` (gpu-probes {__import__('probes').__version__}); "
        f"the date is left out so that an unchanged toolchain gives a byte-identical file",
        "",
    ]
    if skipped:
        provenance.insert(
            -1, "- skipped (the disassembler cannot read them): " + "; ".join(f"{a}: {m}" for a, m in skipped.items())
        )
    from probes.static import variant_findings

    changes = _history_changes(out_dir)
    box = variant_findings.summary_box(idf, df, vdf, changes)
    sens = []
    if changes is not None and len(changes):
        steps = variant_findings.release_order(changes["step"].unique())
        sens = [
            "**Release sensitivity**: these atlases describe one ptxas release; the same PTX is lowered and "
            f"scheduled differently by other releases ({len(changes)} changed cells from "
            f"{steps[0].split('→')[0]} to {steps[-1].split('→')[1]}, all changes of "
            "the compiler's model, not of the hardware): [history/README.md](history/README.md).",
            "",
        ]
    body = "\n".join([*box, *sens, *sections, *provenance])
    text = "\n".join([INTRO, *variant_findings.toc(body), body])
    readme = out_dir / "README.md"
    write_atomic(readme, text)
    return readme
