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


def _instruction_atlas():
    """The instruction-schedule atlas module, if this installation has it."""
    try:
        return importlib.import_module("probes.static.instruction_atlas")
    except ModuleNotFoundError:
        return None


def build(out_dir: Path, archs: list[str] | None = None, progress: bool = True, which=("cache-hints", "instructions")
          ) -> Path:
    out_dir = Path(out_dir)
    archs = list(archs) if archs else list(toolchain.supported_archs())
    sections = []
    if "cache-hints" in which:
        df = cache_hints.build(out_dir, archs, progress)
        sections.append(cache_hint_findings.readme_section(df))
    inst = _instruction_atlas()
    if "instructions" in which and inst is not None:
        idf = inst.build(out_dir, archs, progress)
        sections.append(inst.readme_section(idf))
    versions = toolchain.toolchain_versions()
    provenance = ["## Provenance", "",
                  *[f"- {name}: {v}" for name, v in versions.items()],
                  f"- PTX ISA written: {toolchain.ptx_isa_version()}",
                  f"- architectures: {', '.join(archs)}",
                  f"- rebuilt with `make static` (gpu-probes {__import__('probes').__version__}); "
                  f"the date is left out so that an unchanged toolchain gives a byte-identical file", ""]
    text = "\n".join([INTRO, *sections, *provenance])
    readme = out_dir / "README.md"
    write_atomic(readme, text)
    return readme


