"""The static cache-hint atlas: how every PTX cache qualifier is lowered to SASS on every architecture.

For each (operation, qualifier, width) one small kernel (ptx/cache_hint_kernel.ptx) is generated; all kernels of an
architecture are assembled in one module (ptxas drops the ones it rejects, keeping its message) and disassembled once.
The cell of the atlas is the SASS opcode, with all its modifiers, of the hinted instruction. Findings are computed
from the table: which qualifiers are dropped (same SASS as the plain access), which collapse into one another, which
are rewritten into something else, and from which architecture on each is accepted.
"""

from __future__ import annotations

import hashlib
import io as _io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from probes.static import descriptors, sass, toolchain
from probes.static.qualifiers import LOAD_QUALIFIERS, POLICY, STORE_QUALIFIERS  # the one qualifier table

TEMPLATE = Path(__file__).resolve().parents[2] / "ptx" / "cache_hint_kernel.ptx"
# Other L2 cache policies (b32 loads and stores only): label -> (primary priority, secondary priority, fraction).
# Pairs that differ in one field show which bits of the descriptor that field occupies (cache_hint_findings).
POLICIES = {
    ".L2::cache_hint (evict_last policy)": ("evict_last", "", 1.0),
    ".L2::cache_hint (evict_first policy)": ("evict_first", "", 1.0),
    ".L2::cache_hint (evict_normal policy)": ("evict_normal", "", 1.0),
    ".L2::cache_hint (evict_unchanged policy)": ("evict_unchanged", "", 1.0),
    ".L2::cache_hint (evict_last 0.5 policy)": ("evict_last", "", 0.5),
    ".L2::cache_hint (evict_last 0.25 policy)": ("evict_last", "", 0.25),
    ".L2::cache_hint (evict_last 0.125 policy)": ("evict_last", "", 0.125),
    ".L2::cache_hint (evict_last 0.0625 policy)": ("evict_last", "", 0.0625),
    ".L2::cache_hint (evict_last 0.5, else evict_first)": ("evict_last", "evict_first", 0.5),
    ".L2::cache_hint (evict_last 0.5, else evict_unchanged)": ("evict_last", "evict_unchanged", 0.5),
}


def policy_ptx(label: str) -> str:
    """The createpolicy instruction of a POLICIES entry (into %rd9)."""
    primary, secondary, fraction = POLICIES[label]
    second = f".L2::{secondary}" if secondary else ""
    return f"createpolicy.fractional.L2::{primary}{second}.b64 %rd9, {fraction!r};"


# Operations on a line rather than a register: one width only.
LINE_OPS = {
    "prefetch.global.L1": "prefetch.global.L1 [%rd1];",
    "prefetch.global.L2": "prefetch.global.L2 [%rd1];",
    "prefetch.global.L2::evict_last": "prefetch.global.L2::evict_last [%rd1];",
    "prefetch.global.L2::evict_normal": "prefetch.global.L2::evict_normal [%rd1];",
    "prefetchu.L1": "prefetchu.L1 [%rd1];",
    "discard.global.L2": "discard.global.L2 [%rd1], 128;",
    "applypriority.global.L2::evict_normal": "applypriority.global.L2::evict_normal [%rd1], 128;",
}
WIDTHS = {  # width -> (type suffix, destination operand, plain store(s) of that operand to %rd2)
    "b32": (".b32", "%r2", "st.global.b32 [%rd2], %r2;"),
    "b64": (".b64", "%rd4", "st.global.b64 [%rd2], %rd4;"),
    "v4.b32": (".v4.b32", "{%r2, %r3, %r4, %r5}", "st.global.v4.b32 [%rd2], {%r2, %r3, %r4, %r5};"),
    "b128": (".b128", "%q1", "st.global.b128 [%rd2], %q1;"),
    "v4.b64": (
        ".v4.b64",
        "{%rd4, %rd5, %rd6, %rd7}",
        "st.global.v2.b64 [%rd2], {%rd4, %rd5};\n  st.global.v2.b64 [%rd2+16], {%rd6, %rd7};",
    ),
    "v8.b32": (
        ".v8.b32",
        "{%r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9}",
        "st.global.v4.b32 [%rd2], {%r2, %r3, %r4, %r5};\n  st.global.v4.b32 [%rd2+16], {%r6, %r7, %r8, %r9};",
    ),
}
# Instructions of the kernel frame (address arithmetic, parameter loads, exit): never the cell's answer.
FRAME_OPCODES = {
    "LDC",
    "ULDC",
    "S2R",
    "S2UR",
    "CS2R",
    "IMAD",
    "IADD3",
    "VIADD",
    "IADD",
    "MOV",
    "UMOV",
    "LEA",
    "SHF",
    "EXIT",
    "BRA",
    "NOP",
    "ISETP",
    "LOP3",
    "IMAD.WIDE",
    "R2UR",
    "UIADD3",
    "ULEA",
    "USHF",
    "LDCU",
    "HFMA2.MMA",
    "BMOV",
    "BSSY",
    "BSYNC",
    "WARPSYNC",
}
# LDCU: sm_100+ uniform parameter load; HFMA2.MMA: sm_80's way to zero a register; BMOV: convergence-barrier
# save/restore some targets wrap around every kernel.
COLUMNS = [
    "op",
    "qualifier",
    "width",
    "ptx",
    "arch",
    "status",
    "sass",
    "sass_text",
    "error",
    "assembler",
    "assembler_version",
    "operands",
    "descriptor",
]


@dataclass(frozen=True)
class Case:
    op: str  # ld, st, line
    qualifier: str
    width: str  # b32 ... or '-' for line operations
    ptx: str  # the hinted PTX instruction as written
    body: str

    @property
    def kernel_name(self) -> str:
        # A stable name (hash() is salted per process and would defeat the disk cache).
        return f"k_{self.op}_" + hashlib.sha1(f"{self.qualifier}|{self.width}".encode()).hexdigest()[:12]


def _helper_load(width: str) -> str:
    suffix, dst, _ = WIDTHS[width]
    if width == "v4.b64":
        return "ld.global.v2.b64 {%rd4, %rd5}, [%rd1];\n  ld.global.v2.b64 {%rd6, %rd7}, [%rd1+16];"
    if width == "v8.b32":
        return "ld.global.v4.b32 {%r2, %r3, %r4, %r5}, [%rd1];\n  ld.global.v4.b32 {%r6, %r7, %r8, %r9}, [%rd1+16];"
    return f"ld.global{suffix} {dst}, [%rd1];"


def cases() -> list[Case]:
    out = []
    for width, (suffix, dst, store) in WIDTHS.items():
        for label, (prefix, policy) in LOAD_QUALIFIERS.items():
            instr = f"{prefix}{suffix} {dst}, [%rd1]" + (", %rd9;" if policy else ";")
            body = (f"  {POLICY}\n" if policy else "") + f"  {instr}\n  {store}"
            out.append(Case("ld", label, width, instr, body))
        for label, (prefix, policy) in STORE_QUALIFIERS.items():
            instr = f"{prefix}{suffix} [%rd2], {dst}" + (", %rd9;" if policy else ";")
            body = (f"  {POLICY}\n" if policy else "") + f"  {_helper_load(width)}\n  {instr}"
            out.append(Case("st", label, width, instr, body))
    for label, instr in LINE_OPS.items():
        out.append(Case("line", label, "-", instr, f"  {instr}\n  st.global.b32 [%rd2], %r1;"))
    suffix, dst, store = WIDTHS["b32"]
    for label in POLICIES:
        if label in LOAD_QUALIFIERS:
            continue  # the evict_last policy is the main table's `.L2::cache_hint` row (every width)
        instr = f"ld.global.L2::cache_hint{suffix} {dst}, [%rd1], %rd9;"
        out.append(Case("ld", label, "b32", instr, f"  {policy_ptx(label)}\n  {instr}\n  {store}"))
        instr = f"st.global.L2::cache_hint{suffix} [%rd2], {dst}, %rd9;"
        out.append(Case("st", label, "b32", instr, f"  {policy_ptx(label)}\n  {_helper_load('b32')}\n  {instr}"))
    return out


def _kernel(case: Case, template: str) -> toolchain.PtxKernel:
    text = template.replace("{name}", case.kernel_name).replace("{body}", case.body)
    return toolchain.PtxKernel(case.kernel_name, text)


def _template() -> str:
    return "\n".join(ln for ln in TEMPLATE.read_text().splitlines() if not ln.startswith("//")) + "\n"


def _hinted(case: Case, insts: list[sass.Instruction]) -> list[sass.Instruction]:
    """The instructions that implement the hinted operation: the frame and the helper load/store removed, but the
    instructions that build the hinted access's memory descriptor kept (on sm_80 they are plain UMOVs, which the
    frame filter alone would drop, hiding the cache policy)."""
    return [insts[k] for k in _hinted_indices(case, insts)]


def _hinted_indices(case: Case, insts: list[sass.Instruction]) -> list[int]:
    helper = {"ld": "STG", "st": "LDG", "line": "STG"}[case.op]
    keep = [
        k
        for k, i in enumerate(insts)
        if i.base not in FRAME_OPCODES and i.opcode not in FRAME_OPCODES and i.base != helper
    ]
    access = _access_index(insts, keep)
    if access is not None:
        desc = descriptors.access_descriptor(insts, access)
        if desc.kind in ("constant", "computed"):
            keep = sorted(set(keep) | set(desc.writers))
    return keep


def _access_index(insts: list[sass.Instruction], keep: list[int]) -> int | None:
    """The hinted access: the last kept memory instruction (LDG/STG/CCTL/...), else the last kept one."""
    mem = [k for k in keep if insts[k].base in _MEMORY_BASES]
    return mem[-1] if mem else (keep[-1] if keep else None)


_MEMORY_BASES = {"LDG", "STG", "LD", "ST", "CCTL", "ATOMG", "RED", "REDG", "LDGSTS", "UBLKCP"}


def access_signature(case: Case, insts: list[sass.Instruction]) -> tuple[str, str]:
    """(operand shape, descriptor label) of the hinted access: what the opcode alone does not show."""
    keep = [
        k
        for k, i in enumerate(insts)
        if i.base not in FRAME_OPCODES
        and i.opcode not in FRAME_OPCODES
        and i.base != {"ld": "STG", "st": "LDG", "line": "STG"}[case.op]
    ]
    access = _access_index(insts, keep)
    if access is None:
        return "", "none"
    return descriptors.operand_shape(insts[access]), descriptors.access_descriptor(insts, access).label()


def build_arch(arch: str, selected: list[Case] | None = None) -> list[dict]:
    selected = selected or cases()
    template = _template()
    kernels = [_kernel(c, template) for c in selected]
    cubin, rejected = toolchain.assemble_many(kernels, arch)
    funcs = sass.parse_cuobjdump(toolchain.cuobjdump_sass(cubin)) if cubin else {}
    version = toolchain.tool_version("ptxas")
    rows = []
    for c in selected:
        row = {
            "op": c.op,
            "qualifier": c.qualifier,
            "width": c.width,
            "ptx": c.ptx,
            "arch": arch,
            "assembler": "ptxas",
            "assembler_version": version,
        }
        if c.kernel_name in rejected:
            row.update(
                status="rejected", sass="", sass_text="", error=rejected[c.kernel_name], operands="", descriptor=""
            )
        else:
            insts = funcs[c.kernel_name]
            hinted = _hinted(c, insts)
            shape, desc = access_signature(c, insts)
            row.update(
                status="ok",
                sass="; ".join(i.opcode for i in hinted),
                sass_text="; ".join(i.text for i in hinted),
                error="",
                operands=shape,
                descriptor=desc,
            )
        rows.append(row)
    return rows


def build(out_dir: Path, archs: list[str] | None = None, progress: bool = True) -> pd.DataFrame:
    """Assemble every case on every architecture, write out_dir/cache-hints-sass.csv atomically, return the table."""
    from tqdm import tqdm

    from probes.results.io import write_atomic

    archs = list(archs or toolchain.supported_archs())
    for a in archs:
        toolchain.arch_key(a)
    rows = []
    for arch in tqdm(archs, desc="cache-hint atlas", unit="arch", disable=not progress, leave=False):
        rows += build_arch(arch)
    df = pd.DataFrame(rows, columns=COLUMNS)
    df = df.sort_values(["op", "width", "qualifier", "arch"], key=_sort_key, kind="stable").reset_index(drop=True)
    buf = _io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    write_atomic(Path(out_dir) / "cache-hints-sass.csv", buf.getvalue())
    return df


def _sort_key(col: pd.Series) -> pd.Series:
    if col.name == "arch":
        return col.map(lambda a: toolchain.arch_key(a))
    if col.name == "qualifier":
        order: dict = {}
        for i, q in enumerate([*LOAD_QUALIFIERS, *STORE_QUALIFIERS, *LINE_OPS, *POLICIES]):
            order.setdefault(q, i)
        return col.map(lambda q: order.get(q, 999))
    if col.name == "width":
        order = {w: i for i, w in enumerate([*WIDTHS, "-"])}
        return col.map(order)
    return col
