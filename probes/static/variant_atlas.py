"""The variant atlas: every PTX variant of probes/static/variants.py on every target, lowered and scheduled by ptxas.

Per variant and architecture, kernels built from the variant's template (operands loaded from memory, results
stored, so nothing folds):
- `indep`: COPIES independent copies (own operands each): the lowering (SASS opcodes per copy, minus a
  baseline with the same loads and stores), the issue interval (stall distance between consecutive copies) and
  whether the result comes back through a scoreboard (variable latency) or at a fixed time;
- `chain` (chainable variants only: the result feeds the source `a`): CHAIN dependent links, the fixed latency
  ptxas assumes (sum of stall fields from producer to consumer, schedule.dependent_links).
All kernels of one architecture go into few modules (ptxas drops what it rejects, keeping its message), one
cuobjdump call per module, and architectures whose code sections come out byte-identical are disassembled once.
Rows are cached per variant and architecture (key: kernel texts, tool versions, this package's source), so adding
a variant assembles only its kernels.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import io as _io
import json
import os
import re
import struct
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import pandas as pd

from . import schedule, toolchain, variants
from .sass import Instruction, parse_cuobjdump

CSV_NAME = "variants-sass.csv.gz"
COPIES = 8  # independent copies of a variant that cannot be chained
CHAIN = 6  # links of the latency chain
CHAINS, LINKS = 8, 3  # interleaved chains x links of a chainable variant's issue-interval kernel
MODULE_KERNELS = 1200  # kernels per ptxas module: bounds the cost of a rejection round
_POOL = 4  # per-source register pool in a chain (rotated so no two links cancel)
PRELUDE = ".const .align 16 .b8 gp_cbuf[4096];\n"
KEEP_OFFSET = 0x1000  # baseline keep-alive stores go to %aout + KEEP_OFFSET + ...: not counted
_KEEP = re.compile(r"\+0x([0-9a-f]+)\]")

COLUMNS = [
    "variant",
    "group",
    "ptx",
    "arch",
    "status",
    "error",
    "sass",
    "sass_text",
    "lowering_kind",
    "lowerings",
    "sass_per_ptx",
    "latency_class",
    "fixed_latency_cycles",
    "latency_min",
    "latency_max",
    "issue_interval_cycles",
    "assembler_version",
    "assembled_as",
]

# --- kernels -------------------------------------------------------------------------------------------------------

_DECL = {"pred": ".pred", "b16": ".b16", "b32": ".b32", "b64": ".b64", "b128": ".b128"}
_BYTES = {"b16": 2, "b32": 4, "b64": 8, "b128": 16}
_PLACE = re.compile(r"\{([a-z][a-z0-9_]*)(?::([a-z0-9_]+)(?:\*(\d+))?)?\}")


class _Regs:
    """Register allocation of one kernel: named registers per class, with their loads from %ain."""

    def __init__(self):
        self.count: Counter = Counter()
        self.loaded_regs: list[tuple[str, str]] = []
        self.loads: list[str] = []
        self.stores: list[str] = []
        self.addresses: list[str] = []
        self.in_off = 0
        self.out_off = 0

    def new(self, klass: str) -> str:
        prefix = {"pred": "p", "b16": "h", "b32": "r", "b64": "d", "b128": "q"}[klass]
        n = self.count[klass]
        self.count[klass] += 1
        return f"%{prefix}{n}"

    def loaded(self, klass: str) -> str:
        reg = self.new(klass)
        self.loaded_regs.append((reg, klass))
        if klass == "pred":
            tmp = self.new("b32")
            self.loads.append(f"ld.global.b32 {tmp}, [%ain+{self._in(4)}]; setp.ne.u32 {reg}, {tmp}, 0;")
        else:
            self.loads.append(f"ld.global.{klass} {reg}, [%ain+{self._in(_BYTES[klass])}];")
        return reg

    def constant(self, klass: str) -> str:
        reg = self.new(klass)
        k = 0x5EED0000 + sum(self.count.values())
        if klass == "pred":
            self.loads.append(f"mov.pred {reg}, 1;")
        elif klass == "b128":
            lo, hi = self.new("b64"), self.new("b64")
            self.loads.append(f"mov.b64 {lo}, {k}; mov.b64 {hi}, {k + 1}; mov.b128 {reg}, {{{lo}, {hi}}};")
        else:
            self.loads.append(f"mov.{klass} {reg}, {k & 0x7FFF if klass == 'b16' else k};")
        return reg

    def store(self, reg: str, klass: str, keep: bool = False) -> None:
        extra = KEEP_OFFSET if keep else 0
        if klass == "pred":
            tmp = self.new("b32")
            self.stores.append(f"selp.u32 {tmp}, 1, 0, {reg}; st.global.b32 [%aout+{extra + self._out(4)}], {tmp};")
        else:
            self.stores.append(f"st.global.{klass} [%aout+{extra + self._out(_BYTES[klass])}], {reg};")

    def _in(self, size: int) -> int:
        self.in_off = -(-self.in_off // size) * size
        off = self.in_off
        self.in_off += size
        return off

    def _out(self, size: int) -> int:
        self.out_off = -(-self.out_off // size) * size
        off = self.out_off
        self.out_off += size
        return off

    def declarations(self) -> str:
        return " ".join(
            f".reg {_DECL[k]} %{ {'pred': 'p', 'b16': 'h', 'b32': 'r', 'b64': 'd', 'b128': 'q'}[k] }<{n}>;"
            for k, n in sorted(self.count.items())
            if n
        )


def _address(kind: str, copy: int, regs: _Regs) -> str:
    """A per-copy address register of a space: ga (global), sa/sb/sc (shared), la (local), ca (constant)."""
    reg = regs.new("b64" if kind in ("ga", "la", "ca") else "b32")
    base = {"ga": "%gbase", "la": "%lbase", "ca": "%cbase"}.get(kind, "%sbase")
    step = {"sa": 0, "sb": 1024, "sc": 2048}.get(kind, 0) + 128 * copy
    op = "add.s64" if kind in ("ga", "la", "ca") else "add.u32"
    regs.addresses.append(f"{op} {reg}, {base}, {step};")
    return reg


def _instance(
    v: variants.Variant, regs: _Regs, copy: int, state: dict, link: int = 0, pools: dict | None = None
) -> str:
    """The variant's PTX with registers for one copy (state: the chain registers shared by all links)."""
    names: dict[str, str] = {}

    def sub(m):
        name, klass, count = m.group(1), m.group(2), int(m.group(3) or 1)
        base = name.rstrip("_")
        if base in ("ga", "sa", "sb", "sc", "la", "ca"):
            key = base
            if key not in names:
                names[key] = state.get(("addr", base, copy)) or _address(base, copy, regs)
                state[("addr", base, copy)] = names[key]
            return names[key]
        klass = klass or "b32"
        if count > 1:
            return "{" + ", ".join(_reg(f"{name}{i}", klass) for i in range(count)) + "}"
        return _reg(name, klass)

    def _reg(name: str, klass: str) -> str:
        if name in names:
            return names[name]
        if (name, copy) in state:
            reg = state[(name, copy)]
        elif pools is not None and name in pools:
            pool = pools[name]
            reg = pool[(link + copy) % len(pool)]
        elif name.startswith("d"):
            # a baseline's results are distinct constants, not undefined: ptxas drops the store of an undefined
            # value (and a loaded one would cancel a load variant's own LDG)
            reg = regs.constant(klass) if state.get("baseline") else regs.new(klass)
            state.setdefault("results", []).append((reg, klass))
        else:
            reg = regs.loaded(klass)
        names[name] = reg
        return reg

    return _PLACE.sub(sub, v.template)


def kernel_text(v: variants.Variant, name: str, shape: str) -> str:
    """A complete `.entry` for one shape ('indep', 'chain', 'baseline-indep', 'baseline-chain')."""
    regs = _Regs()
    body: list[str] = []
    state: dict = {}
    baseline = shape.startswith("baseline")
    state["baseline"] = baseline
    chain_regs: list = []
    if v.chainable:
        # 'chain': one chain of CHAIN links (latency); 'indep': CHAINS interleaved chains of LINKS links (interval)
        res, src = v.chain_pair
        n_chains, n_links = (1, CHAIN) if shape.endswith("chain") else (CHAINS, LINKS)
        for c in range(n_chains):
            reg = regs.loaded(src.klass)
            chain_regs.append(reg)
            state[(res.name, c)] = state[(src.name, c)] = reg
        pools = {}
        for op in v.operands:
            if op.is_result or op.name in (res.name, src.name) or op.klass not in variants.CLASSES or op.count > 1:
                continue
            pools[op.name] = [regs.loaded(op.klass) for _ in range(_POOL)]
        for link in range(n_links):
            for c in range(n_chains):
                text = _instance(v, regs, c, state, link, pools)
                if not baseline:
                    body.append(text)
    else:
        for copy in range(COPIES):
            text = _instance(v, regs, copy, state)
            if not baseline:
                body.append(text)
    # A kernel stores its results only (stores between the links would shift ptxas's schedule); its baseline also
    # keeps every loaded operand alive, with stores at offsets from KEEP_OFFSET on, which the lowering count then
    # leaves out: both have the same loads, and the difference is the instruction's own SASS (a store's STG too).
    for reg in chain_regs:
        regs.store(reg, v.chain_pair[1].klass)
    for reg, klass in state.get("results", []):
        if reg not in chain_regs:
            regs.store(reg, klass)
    if baseline:
        for reg, klass in regs.loaded_regs:
            regs.store(reg, klass, keep=True)
    lines = [
        f".visible .entry {name}(.param .u64 pin, .param .u64 pout)",
        "{",
        "  .reg .b64 %ain, %aout, %off, %gbase, %lbase, %cbase; .reg .b32 %ix, %sbase;",
        "  .shared .align 128 .b8 smem[4096]; .local .align 16 .b8 lmem[1024];",
        "  " + regs.declarations(),
        "  ld.param.u64 %ain, [pin]; ld.param.u64 %aout, [pout];",
        "  cvta.to.global.u64 %ain, %ain; cvta.to.global.u64 %aout, %aout;",
        "  mov.u32 %ix, %tid.x; mul.wide.u32 %off, %ix, 8192;",
        "  add.s64 %ain, %ain, %off; add.s64 %aout, %aout, %off;",
        "  add.s64 %gbase, %ain, 4096; mov.u32 %sbase, smem; mov.u64 %lbase, lmem; mov.u64 %cbase, gp_cbuf;",
        *("  " + ln for ln in regs.loads),
        *("  " + ln for ln in regs.addresses),
        *("  " + ln for ln in body),
        *("  " + ln for ln in regs.stores),
        "  ret;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _klass_of(reg: str) -> str:
    return {"h": "b16", "r": "b32", "d": "b64", "q": "b128", "p": "pred"}[reg[1]]


def _kname(v: variants.Variant, shape: str) -> str:
    return "v_" + hashlib.sha1(f"{v.name}|{v.template}".encode()).hexdigest()[:14] + "_" + shape.replace("-", "_")


def _baseline_variant(v: variants.Variant) -> variants.Variant:
    """A stand-in with the same operands in the same order and no instruction: its baseline kernels are those of
    every variant with this operand signature, so they are assembled once, not once per variant."""
    seen, parts = set(), []
    for m in _PLACE.finditer(v.template):
        if m.group(1) not in seen:
            seen.add(m.group(1))
            parts.append(m.group(0))
    return variants.Variant("baseline " + " ".join(parts), "baseline", " ".join(parts), v.chain)


def kernels_for(v: variants.Variant) -> dict[str, toolchain.PtxKernel]:
    out = {"indep": toolchain.PtxKernel(_kname(v, "indep"), kernel_text(v, _kname(v, "indep"), "indep"))}
    if v.chainable:
        out["chain"] = toolchain.PtxKernel(_kname(v, "chain"), kernel_text(v, _kname(v, "chain"), "chain"))
    for shape, tag in (("baseline-indep", "bi"), ("baseline-chain", "bc")):
        if shape == "baseline-indep" or v.chainable:
            out[shape] = _baseline_kernel(v, shape, tag)
    return dict(sorted(out.items(), key=lambda kv: _SHAPES.index(kv[0])))


_SHAPES = ("indep", "baseline-indep", "chain", "baseline-chain")


def _baseline_kernel(v: variants.Variant, shape: str, tag: str) -> toolchain.PtxKernel:
    """A baseline named after its own text: variants whose baselines are identical share one kernel (assembled
    once), and two different baselines never share a name."""
    text = kernel_text(v, "__BASELINE__", shape)
    name = "b_" + hashlib.sha1(text.encode()).hexdigest()[:14] + "_" + tag
    return toolchain.PtxKernel(name, text.replace("__BASELINE__", name))


# --- reading the schedule ---------------------------------------------------------------------------------------


def _row(v: variants.Variant, arch: str, funcs: dict[str, list[Instruction]], kernels: dict) -> dict:
    indep, base = funcs[kernels["indep"].name], _without_keepalive(funcs[kernels["baseline-indep"].name])
    low = schedule.lowering(indep, base, CHAINS * LINKS if v.chainable else COPIES)
    # the frame's own result stores: a predicate result goes out through a SEL, a narrow one may be re-packed;
    # neither belongs to a variant that does not select or store itself
    if not re.search(r"(^|[\s{;])selp\.", v.template):
        low = {op: n for op, n in low.items() if op.split(".")[0] != "SEL"}
    if not re.search(r"(^|[\s{;])st\.", v.template):
        low = {op: n for op, n in low.items() if op.split(".")[0] != "STG"}
    row = {"variant": v.name, "group": v.group, "ptx": v.ptx, "arch": arch, "status": "ok", "error": ""}
    if not low:
        row.update(
            sass="(none)",
            sass_text="",
            lowering_kind="none",
            lowerings="",
            sass_per_ptx=0.0,
            latency_class="none",
            issue_interval_cycles=None,
        )
        return row
    ptx_count = max(1, v.template.count(";") - v.template.count(".reg"))
    sched_chain = None
    if "chain" in kernels:
        sched_chain = schedule.read_schedule(
            _without_keepalive(funcs[kernels["baseline-chain"].name]), funcs[kernels["chain"].name], None, CHAIN
        )
    interval = issue_interval(indep, set(low))
    per_ptx = round(sum(low.values()) / ptx_count, 3)
    from .instructions import lowering_figures

    if sched_chain is not None and sched_chain.lowering:
        figs = lowering_figures(sched_chain, sched_chain.sass_count / ptx_count)
        klass, lat, lo, hi = (
            sched_chain.latency_class,
            sched_chain.fixed_latency_cycles,
            sched_chain.latency_min,
            sched_chain.latency_max,
        )
    else:
        sb = any(i.control.write_barrier is not None for i in indep if i.opcode in low and schedule.destinations(i))
        flow = any(op.split(".")[0] in schedule.SEQUENCE_FLOW for op in low)
        figs = {
            "lowering_kind": "software sequence" if flow else "fixed sequence" if per_ptx > 1 + 1e-9 else "single",
            "lowerings": " ".join(low),
        }
        klass, lat, lo, hi = ("variable" if sb else "fixed (no chain)"), None, None, None
    first = _first_copy(indep, low)
    row.update(
        sass=_format(low),
        sass_text="; ".join(first),
        lowering_kind=figs["lowering_kind"],
        lowerings=figs["lowerings"],
        sass_per_ptx=per_ptx,
        latency_class=klass,
        fixed_latency_cycles=lat,
        latency_min=lo,
        latency_max=hi,
        issue_interval_cycles=interval,
    )
    return row


def issue_interval(kernel: list[Instruction], targets: set[str]) -> int | None:
    """Mode of the stall field of a lowering instruction directly followed by another one (back-to-back copies:
    the distance ptxas keeps between them), None where no two are adjacent."""
    gaps = [
        kernel[k].control.stall
        for k in range(len(kernel) - 1)
        if kernel[k].opcode in targets
        and kernel[k + 1].opcode in targets
        and not schedule.is_padding(kernel[k])
        and not schedule.is_padding(kernel[k + 1])
    ]
    return schedule.mode(gaps) if gaps else None


def _without_keepalive(kernel: list[Instruction]) -> list[Instruction]:
    """A baseline without its keep-alive stores (global stores at offsets of KEEP_OFFSET and above)."""

    def keep(i: Instruction) -> bool:
        if i.base != "STG":
            return False
        m = _KEEP.search(i.operands[0]) if i.operands else None
        return bool(m and int(m.group(1), 16) >= KEEP_OFFSET)

    return [i for i in kernel if not keep(i)]


def _format(low: dict[str, float]) -> str:
    return " + ".join(op if round(n, 2) == 1 else f"{round(n, 2):g}×{op}" for op, n in low.items())


def _first_copy(kernel: list[Instruction], low: dict[str, float]) -> list[str]:
    """The SASS text of about one copy: the first instructions of the lowering, in program order."""
    want = Counter({op: max(1, round(n)) for op, n in low.items()})
    out = []
    for ins in kernel:
        if want.get(ins.opcode, 0) > 0 and not schedule.is_padding(ins):
            out.append(ins.text)
            want[ins.opcode] -= 1
        if sum(want.values()) == 0:
            break
    return out


# --- ELF: one code section per kernel -----------------------------------------------------------------------------


def _section_headers(cubin: bytes):
    (shoff,) = struct.unpack_from("<Q", cubin, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", cubin, shoff + k * shentsize) for k in range(shnum)]
    stro = heads[shstrndx][4]
    for k, (name_off, _typ, _flags, _addr, off, size) in enumerate(heads):
        name = cubin[stro + name_off : cubin.index(b"\0", stro + name_off)]
        yield k, shoff + k * shentsize, name, off, size


def code_sections(cubin: bytes) -> dict[str, str]:
    """{kernel name: hash of its code section (.text.<name>)}: two kernels with the same hash on targets of one SASS
    family have the same SASS, control bits included (they are part of the encoding)."""
    return {
        name[6:].decode(): hashlib.sha256(cubin[off : off + size]).hexdigest()[:32]
        for _k, _h, name, off, size in _section_headers(cubin)
        if name.startswith(b".text.")
    }


def keep_code_of(cubin: bytes, names: set[str]) -> bytes:
    """The cubin with every code section but those of `names` emptied (section size 0), so that the disassembler
    reads only those kernels; their disassembly is unchanged (tests/test_static_variants.py checks it)."""
    buf = bytearray(cubin)
    for _k, head, name, _off, _size in _section_headers(cubin):
        if name.startswith(b".text.") and name[6:].decode() not in names:
            struct.pack_into("<Q", buf, head + 0x20, 0)  # sh_size of an Elf64_Shdr
    return bytes(buf)


def sass_family(arch: str) -> str:
    """Targets whose identical code bytes disassemble alike: one SASS generation (sm_75, sm_8x, sm_90, sm_10x, ...)."""
    number, _ = toolchain.arch_key(arch)
    return f"sm_{number // 10}x"


# --- caches --------------------------------------------------------------------------------------------------------

ROW_VERSION = "2"  # bump when _row's reading of the schedule changes: rows are recomputed from cached SASS
CACHE_VERSION = "2"


def _variant_key(v: variants.Variant, kernels: dict) -> str:
    """What ptxas sees of a variant: its kernel texts (its name and group only label the row)."""
    return hashlib.sha256("\0".join(k.text for k in kernels.values()).encode()).hexdigest()[:24]


def _kernel_keys(ks: dict) -> dict:
    return {shape: hashlib.sha256(k.text.encode()).hexdigest()[:24] for shape, k in ks.items()}


class _Named:
    """A kernel known by its name only (what reading a schedule needs of it)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


@functools.cache
def _kernel_code_version() -> str:
    """Hash of the source that turns a variant into kernel texts (this module and the Variant/Operand classes;
    each variant's parsed operands go into its own key)."""
    import inspect

    parts = [
        Path(__file__).read_text(),
        inspect.getsource(variants.Variant),
        inspect.getsource(variants.Operand),
        repr(variants.CLASSES),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


class _Cache:
    """One SQLite file per toolchain, in the shared cache folder (content-keyed; safe for concurrent builds):
    kernels (target, kernel text hash) -> code-section hash or ptxas's message; sass (SASS family, code hash) ->
    instructions; cells (target, variant key) -> row key, error, assembled_as; rows (row key, ROW_VERSION) -> row.
    A row key is the variant with the code hashes of its kernels in one SASS family, so a target whose code is
    byte-identical to another's (sm_88, sm_89 = sm_86) reuses the row without reading the schedule again."""

    def __init__(self):
        import sqlite3

        key = hashlib.sha256(
            "\0".join(
                [
                    "variant-atlas",
                    CACHE_VERSION,
                    toolchain.tool_version("ptxas"),
                    toolchain.tool_version("cuobjdump"),
                    toolchain.ptx_isa_version(),
                ]
            ).encode()
        ).hexdigest()[:24]
        path = toolchain.cache_dir() / "variant-atlas" / f"atlas-{key}.sqlite"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), timeout=120)
            self.db.execute("PRAGMA journal_mode=WAL")
        except (OSError, sqlite3.Error):
            self.db = sqlite3.connect(":memory:")  # a read-only cache only costs speed
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS kernels (arch TEXT, kkey TEXT, code TEXT, msg TEXT, PRIMARY KEY (arch, kkey));
            CREATE TABLE IF NOT EXISTS sass (fam TEXT, code TEXT, data BLOB, PRIMARY KEY (fam, code));
            CREATE TABLE IF NOT EXISTS cells (arch TEXT, vkey TEXT, rkey TEXT, msg TEXT, assembled_as TEXT,
                                              PRIMARY KEY (arch, vkey));
            CREATE TABLE IF NOT EXISTS rows (rkey TEXT, ver TEXT, data TEXT, PRIMARY KEY (rkey, ver));
            CREATE TABLE IF NOT EXISTS meta (sig TEXT PRIMARY KEY, data TEXT);""")

    def meta(self, table) -> dict:
        """{variant name: {"v": variant key, "k": {shape: (kernel name, kernel key)}}}: generating the kernel texts
        of the whole table costs seconds, so what a build needs of them is cached, keyed by the variant's fields
        and the source of the code that writes them."""
        sigs = {
            v.name: hashlib.sha256(
                "\0".join(
                    [_kernel_code_version(), v.name, v.group, v.template, str(v.chain), v.setup, repr(v.operands)]
                ).encode()
            ).hexdigest()[:32]
            for v in table
        }
        got: dict[str, str] = {}
        keys = list(set(sigs.values()))
        for i in range(0, len(keys), 900):
            part = keys[i : i + 900]
            got.update(
                self.db.execute(
                    f"SELECT sig, data FROM meta WHERE sig IN ({','.join('?' * len(part))})", part
                ).fetchall()
            )
        out, new = {}, []
        for v in table:
            if sigs[v.name] in got:
                out[v.name] = json.loads(got[sigs[v.name]])
                continue
            ks = kernels_for(v)
            m = {
                "v": _variant_key(v, ks),
                "k": {shape: (k.name, kk) for (shape, k), kk in zip(ks.items(), _kernel_keys(ks).values())},
            }
            out[v.name] = m
            new.append((sigs[v.name], json.dumps(m)))
        self.put("meta", new)
        return out

    def cells(self, arch: str) -> dict:
        return {
            vk: (rk, msg, asm)
            for vk, rk, msg, asm in self.db.execute(
                "SELECT vkey, rkey, msg, assembled_as FROM cells WHERE arch=?", (arch,)
            )
        }

    def rows(self, rkeys) -> dict:
        out = {}
        rkeys = list(rkeys)
        for i in range(0, len(rkeys), 900):
            part = rkeys[i : i + 900]
            q = f"SELECT rkey, data FROM rows WHERE ver=? AND rkey IN ({','.join('?' * len(part))})"
            out.update({rk: json.loads(d) for rk, d in self.db.execute(q, (ROW_VERSION, *part))})
        return out

    def kernels(self, arch: str) -> dict:
        return {
            kk: (code, msg)
            for kk, code, msg in self.db.execute("SELECT kkey, code, msg FROM kernels WHERE arch=?", (arch,))
        }

    def known_codes(self, fam: str, codes) -> set:
        out, codes = set(), list(codes)
        for i in range(0, len(codes), 900):
            part = codes[i : i + 900]
            q = f"SELECT code FROM sass WHERE fam=? AND code IN ({','.join('?' * len(part))})"
            out.update(c for (c,) in self.db.execute(q, (fam, *part)))
        return out

    def sass(self, fam: str, codes) -> dict:

        out, codes = {}, list(codes)
        for i in range(0, len(codes), 900):
            part = codes[i : i + 900]
            q = f"SELECT code, data FROM sass WHERE fam=? AND code IN ({','.join('?' * len(part))})"
            out.update({c: json.loads(zlib.decompress(d)) for c, d in self.db.execute(q, (fam, *part))})
        return out

    def put(self, table: str, rows: list[tuple]) -> None:
        if rows:
            with self.db:
                self.db.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)


# --- workers (forked: they read the build's inputs from module globals, never from the cache file) ---------------

_JOB: dict = {}
LAST_STATS = {"modules": 0, "disassembled": 0, "schedules": 0, "kernels": 0}  # of the last build(): what it had to do


def assemble_arch(
    arch: str,
    todo: list[variants.Variant] | None = None,
    kernels: dict | None = None,
    only: list[toolchain.PtxKernel] | None = None,
) -> tuple[list[tuple[bytes, dict]], dict[str, str]]:
    """Assemble every distinct kernel of `todo` (or the kernels `only`) for `arch` in modules of about
    MODULE_KERNELS kernels (shared baselines once): [(cubin, {kernel name: code hash})], {kernel name: ptxas
    message} for the rejected ones."""
    distinct: dict[str, toolchain.PtxKernel] = {k.name: k for k in only or []}
    for v in todo or []:
        for k in (kernels[v.name] if kernels else kernels_for(v)).values():
            distinct.setdefault(k.name, k)
    # baselines first and together: a module is then mostly kernels of one operand shape
    order = sorted(distinct.values(), key=lambda k: (not k.name.endswith(("_bi", "_bc")), k.name))
    out, rejected = [], {}
    for i in range(0, len(order), MODULE_KERNELS):
        cubin, rej = toolchain.assemble_many(order[i : i + MODULE_KERNELS], arch, prelude=PRELUDE, cache=False)
        rejected.update({n: re.sub(r"^(error|fatal)\s*:\s*", "", m) for n, m in rej.items()})
        if cubin is not None:
            out.append((cubin, code_sections(cubin)))
    return out, rejected


def _assemble_job(arch: str, names: list[str]) -> tuple[str, list, dict]:
    mods, rejected = assemble_arch(arch, only=[_JOB["by_kernel"][n] for n in names])
    return arch, mods, rejected


def _disassemble_job(cubin: bytes, wanted: dict[str, str]) -> dict:
    """{code hash: packed instructions} of the kernels `wanted` ({kernel name: code hash}) lists."""
    text = toolchain.cuobjdump_sass(keep_code_of(cubin, set(wanted)), cache=False)
    funcs = parse_cuobjdump(text)
    return {code: [_pack(i) for i in funcs[name]] for name, code in wanted.items() if name in funcs}


def _rows_job(items: list[tuple[str, str, str]]) -> list[tuple[str, dict]]:
    """[(row key, row)] for [(row key, variant name, target)] from the SASS in _JOB['sass'][family]."""
    out = []
    for rkey, name, arch in items:
        v = _JOB["table"][name]
        ks, kkeys = _JOB["knames"][name], _JOB["kkeys"][name]
        codes = _JOB["codes"][arch]
        sass = _JOB["sass"][sass_family(arch)]
        funcs = {ks[shape].name: [_unpack(i) for i in sass[codes[kkeys[shape]]]] for shape in ks}
        out.append((rkey, _row(v, arch, funcs, ks)))
    return out


def _pack(ins: Instruction) -> list:
    return [ins.address, ins.text, ins.predicate, ins.opcode, list(ins.operands), ins.lo, ins.hi]


def _unpack(item: list) -> Instruction:
    a, text, pred, op, ops, lo, hi = item
    return Instruction(a, text, pred, op, tuple(ops), lo, hi)


# The targets `make static` builds the variant atlas for: None = every target ptxas accepts and cuobjdump reads.
TARGETS: tuple[str, ...] | None = None

VERIFY_EVERY = 48  # an `a`/`f` target assembles what its base rejects and every VERIFY_EVERY-th variant (by hash)
VERIFY = 60  # ... but at least this many, to check that it lowers like its base target


def _base_of(arch: str, archs: list[str]) -> str | None:
    number, variant = toolchain.arch_key(arch)
    base = f"sm_{number}"
    return base if variant and base in archs else None


def _comparable(row: dict) -> tuple:
    return tuple(
        str(row.get(c, ""))
        for c in (
            "status",
            "sass",
            "sass_text",
            "lowering_kind",
            "latency_class",
            "fixed_latency_cycles",
            "issue_interval_cycles",
        )
    )


def _sample(vkeys: dict[str, str], names: list[str]) -> list[str]:
    """The verification sample of an a/f target among `names` (accepted by its base): a fixed share chosen by the
    variant's hash, so a cold and an incremental build sample the same variants."""
    ranked = sorted(names, key=lambda n: vkeys[n])
    picked = [n for n in ranked if int(vkeys[n][:8], 16) % VERIFY_EVERY == 0]
    return picked if len(picked) >= VERIFY else ranked[:VERIFY]


class _Builder:
    def __init__(self, table, archs, workers, say):
        self.table, self.archs, self.workers, self.say = table, archs, workers, say
        self.cache = _Cache()
        self.by_name = {v.name: v for v in table}
        self._kernels: dict[str, dict] = {}
        meta = self.cache.meta(table)  # the kernels' names and keys, without writing their texts
        self.knames = {n: {shape: _Named(kn) for shape, (kn, _kk) in m["k"].items()} for n, m in meta.items()}
        self.kkeys = {n: {shape: kk for shape, (_kn, kk) in m["k"].items()} for n, m in meta.items()}
        self.vkeys = {n: m["v"] for n, m in meta.items()}
        self.kk_of = {kn.name: self.kkeys[n][shape] for n, ks in self.knames.items() for shape, kn in ks.items()}
        self.cells = {a: self.cache.cells(a) for a in archs}  # arch -> vkey -> (rkey, msg, assembled_as)
        self.codes: dict[str, dict] = {}  # arch -> kernel key -> (code, msg)

    def kernels(self, name: str) -> dict:
        if name not in self._kernels:
            self._kernels[name] = kernels_for(self.by_name[name])
        return self._kernels[name]

    def _codes(self, arch: str) -> dict:
        if arch not in self.codes:
            self.codes[arch] = self.cache.kernels(arch)
        return self.codes[arch]

    def missing(self, arch: str, names) -> list[str]:
        cells = self.cells[arch]
        return [n for n in names if self.vkeys[n] not in cells]

    def run(self, todo: dict[str, list[str]]) -> None:
        """Fill the cells of todo[arch] (variant names): assemble what the kernel cache lacks, disassemble each new
        code section once per SASS family, read the schedule of each new (variant, code) pair once."""
        by_name = {v.name: v for v in self.table}
        need_asm, by_kernel = {}, {}
        for a, names in todo.items():
            codes, missing = self._codes(a), {}
            # a code whose SASS never reached the cache (a build stopped between the two) counts as not assembled
            have = self.cache.known_codes(
                sass_family(a),
                {codes[kk][0] for n in names for kk in self.kkeys[n].values() if kk in codes and codes[kk][0]},
            )
            for n in names:
                lacks = [
                    shape
                    for shape, kk in self.kkeys[n].items()
                    if kk not in codes or (codes[kk][0] and codes[kk][0] not in have)
                ]
                for shape in lacks:  # the cache is per kernel: only the kernels `a` lacks are written
                    k = self.kernels(n)[shape]
                    missing.setdefault(k.name, k)
            by_kernel.update(missing)
            if missing:
                need_asm[a] = sorted(missing)
        _JOB.clear()
        _JOB.update(table=by_name, knames=self.knames, kkeys=self.kkeys, by_kernel=by_kernel)
        tasks = []
        for a, names in need_asm.items():
            per = max(1, -(-len(names) // max(1, -(-self.workers // max(1, len(need_asm))))))
            tasks += [(a, names[i : i + per]) for i in range(0, len(names), per)]
        seen = {fam: set() for fam in {sass_family(a) for a in todo}}
        sass_new: dict[str, dict] = {fam: {} for fam in seen}
        n_mod = n_dis = 0
        if tasks:
            with concurrent.futures.ProcessPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
                asm = {pool.submit(_assemble_job, a, names): k for k, (a, names) in enumerate(tasks)}
                done = {}
                for fut in concurrent.futures.as_completed(asm):
                    a, mods, rejected = fut.result()
                    done[asm[fut]] = (a, mods)
                    codes = self._codes(a)
                    new_k = [(a, self.kk_of[n], None, m) for n, m in rejected.items()]
                    new_k += [
                        (a, self.kk_of[name], code, None) for _c, sections in mods for name, code in sections.items()
                    ]
                    self.cache.put("kernels", new_k)
                    codes.update({kk: (code, msg) for _a, kk, code, msg in new_k})
                    self.say(f"{a}: {sum(len(s) for _c, s in mods)} kernels assembled, {len(rejected)} rejected")
                    LAST_STATS["kernels"] += sum(len(s) for _c, s in mods) + len(rejected)
                # Which module a code shared by several targets is read from is fixed (task order, then module
                # order), not left to which assembly finished first: cuobjdump prints relocated immediates (e.g.
                # a return address) as placed in the module it reads, so the choice must be reproducible.
                dis = {}
                for k in sorted(done):
                    a, mods = done[k]
                    fam = sass_family(a)
                    for cubin, sections in mods:
                        n_mod += 1
                        known = self.cache.known_codes(fam, set(sections.values()) - seen[fam])
                        seen[fam] |= known
                        wanted = {}
                        for name, code in sections.items():
                            if code not in seen[fam]:
                                seen[fam].add(code)
                                wanted[name] = code
                        if wanted:
                            n_dis += 1
                            dis[pool.submit(_disassemble_job, cubin, wanted)] = fam
                    done[k] = None
                for fut in concurrent.futures.as_completed(dis):
                    fam = dis[fut]
                    got = fut.result()
                    sass_new[fam].update(got)

                    self.cache.put(
                        "sass",
                        [
                            (fam, c, zlib.compress(json.dumps(p, separators=(",", ":")).encode(), 3))
                            for c, p in got.items()
                        ],
                    )
            self.say(f"{n_mod} modules assembled, {n_dis} disassembled (only code not seen before in its family)")
        LAST_STATS["modules"] += n_mod
        LAST_STATS["disassembled"] += n_dis
        # cells: rejected, or a row key (variant + its code hashes in the family)
        new_cells, want_rows = [], {}
        for a, names in todo.items():
            codes, fam = self._codes(a), sass_family(a)
            for n in names:
                lost = [kk for kk in self.kkeys[n].values() if kk not in codes]
                if lost:
                    raise toolchain.ToolchainError(f"{a}: ptxas neither compiled nor rejected a kernel of {n}")
                got = [codes[kk] for kk in self.kkeys[n].values()]
                msgs = [m for _c, m in got if m]
                if msgs:
                    cell = ("", msgs[0], "")
                else:
                    rkey = hashlib.sha256("\0".join([self.vkeys[n], fam, *(c for c, _m in got)]).encode()).hexdigest()[
                        :32
                    ]
                    cell = (rkey, "", "")
                    want_rows.setdefault(rkey, (n, a))
                self.cells[a][self.vkeys[n]] = cell
                new_cells.append((a, self.vkeys[n], *cell))
        have = self.cache.rows(want_rows)
        items = [(rk, n, a) for rk, (n, a) in want_rows.items() if rk not in have]
        if items:
            sass = {}
            for fam in {sass_family(a) for _rk, _n, a in items}:
                need = {
                    self._codes(a)[kk][0]
                    for _rk, n, a in items
                    if sass_family(a) == fam
                    for kk in self.kkeys[n].values()
                }
                sass[fam] = dict(sass_new.get(fam, {}))
                sass[fam].update(self.cache.sass(fam, need - set(sass[fam])))
            _JOB.update(
                sass=sass,
                codes={a: {kk: c for kk, (c, _m) in self._codes(a).items()} for a in {a for _rk, _n, a in items}},
            )
            chunks = [items[i :: max(1, self.workers * 4)] for i in range(max(1, self.workers * 4))]
            with concurrent.futures.ProcessPoolExecutor(max_workers=self.workers) as pool:
                for part in pool.map(_rows_job, [c for c in chunks if c]):
                    self.cache.put("rows", [(rk, ROW_VERSION, json.dumps(r, sort_keys=True)) for rk, r in part])
            self.say(f"{len(items)} schedules read")
            LAST_STATS["schedules"] += len(items)
        self.cache.put("cells", new_cells)
        _JOB.clear()

    def row(self, arch: str, name: str, rows: dict) -> dict:
        rkey, msg, assembled_as = self.cells[arch][self.vkeys[name]]
        if not rkey:
            row = {"status": "rejected", "error": msg}
        else:
            row = dict(rows[rkey])
        row.update(assembler_version=toolchain.tool_version("ptxas"), assembled_as=assembled_as)
        return row


def build(
    out_dir: Path | None,
    archs: list[str] | None = None,
    progress: bool = True,
    workers: int | None = None,
    names: list[str] | None = None,
) -> pd.DataFrame:
    """Build the variant atlas for `archs` (default every target ptxas accepts and cuobjdump reads) and write
    out_dir/variants-sass.csv.gz atomically (out_dir None: only return the table)."""
    table = variants.table() if names is None else tuple(variants.by_name()[n] for n in names)
    for tool in ("ptxas", "cuobjdump"):
        toolchain.find_tool(tool)
    if archs is None:
        archs = [a for a in toolchain.supported_archs() if a not in toolchain.unreadable_archs()]
    archs = sorted(dict.fromkeys(archs), key=toolchain.arch_key)
    start = time.perf_counter()

    def say(msg):
        if progress:
            print(f"variant atlas: {msg} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)

    workers = workers or max(1, os.cpu_count() or 1)
    LAST_STATS.update(modules=0, disassembled=0, schedules=0, kernels=0)
    b = _Builder(table, archs, workers, say)
    allnames = [v.name for v in table]
    bases = {a: _base_of(a, archs) for a in archs}
    first = [a for a in archs if not bases[a]]
    todo = {a: b.missing(a, allnames) for a in first}
    say(f"{sum(len(t) for t in todo.values())} (variant, target) cells to build on {len(first)} base targets")
    b.run({a: t for a, t in todo.items() if t})
    # `a`/`f` targets: assembled for what their base rejects, plus a sample of what it accepts to check that they
    # lower alike; rows of the rest are the base target's (column assembled_as). A sample that differs makes the
    # whole table be assembled for that target.
    second = [a for a in archs if bases[a]]
    todo, sample = {}, {}
    for a in second:
        base_cells = b.cells[bases[a]]
        missing = b.missing(a, allnames)
        ok_on_base = [n for n in missing if base_cells[b.vkeys[n]][0]]
        sample[a] = _sample(b.vkeys, [n for n in allnames if base_cells[b.vkeys[n]][0]])
        todo[a] = [n for n in missing if not base_cells[b.vkeys[n]][0]] + [n for n in ok_on_base if n in set(sample[a])]
    say(f"{sum(len(t) for t in todo.values())} cells to build on {len(second)} a/f targets")
    b.run({a: t for a, t in todo.items() if t})
    redo, copied = {}, []
    for a in second:
        base = bases[a]
        rest = b.missing(a, allnames)
        if not rest:
            continue
        check = b.cache.rows({b.cells[x][b.vkeys[n]][0] for n in sample[a] for x in (a, base)})
        differs = [n for n in sample[a] if _comparable(b.row(a, n, check)) != _comparable(b.row(base, n, check))]
        if differs:
            say(
                f"{a}: {len(differs)} of {len(sample[a])} sampled variants lower unlike {base} (e.g. {differs[0]}): "
                f"assembling all {len(rest)}"
            )
            redo[a] = rest + [n for n in allnames if b.cells[a].get(b.vkeys[n], ("", "", ""))[2] == base]
            continue
        for n in rest:
            rkey = b.cells[base][b.vkeys[n]][0]
            b.cells[a][b.vkeys[n]] = (rkey, "", base)
            copied.append((a, b.vkeys[n], rkey, "", base))
    b.cache.put("cells", copied)
    if redo:
        b.run(redo)
    rows_of = b.cache.rows({c[0] for a in archs for c in b.cells[a].values() if c[0]})
    rows = []
    ptx_of = {v.name: v.ptx for v in table}
    for a in archs:
        for v in table:
            r = b.row(a, v.name, rows_of)
            r.update(variant=v.name, group=v.group, ptx=ptx_of[v.name], arch=a)
            rows.append(r)
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("fixed_latency_cycles", "latency_min", "latency_max", "issue_interval_cycles"):
        df[col] = df[col].astype("Int64")
    if out_dir is not None:
        write_csv(df, out_dir)
    say(
        f"{len(df)} cells, {df[df.status == 'ok']['variant'].nunique()} of {len(table)} variants accepted by some "
        "target"
    )
    return df


def write_csv(df: pd.DataFrame, out_dir: Path) -> Path:
    """out_dir/variants-sass.csv.gz, gzip with a fixed timestamp (byte-identical for the same table)."""
    import gzip

    buf = _io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    path = Path(out_dir) / CSV_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(gzip.compress(buf.getvalue().encode(), compresslevel=6, mtime=0))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --- the join with the dynamic probes -----------------------------------------------------------------------------


def scheduled(key: str, arch: str, csv: Path | None = None) -> dict | None:
    """The atlas row (ptxas's schedule) of the variant `variants.lookup(key)` finds on `arch`, from the committed
    CSV (reports/static/variants-sass.csv); None when the variant or the file is missing. `key`: a dynamic op's
    PTX snippet, its `static` name, or any PTX instruction."""
    v = variants.lookup(key)
    if v is None:
        return None
    rows = _csv_rows(str(csv or Path(__file__).resolve().parents[2] / "reports" / "static" / CSV_NAME))
    return rows.get((v.name, arch))


_CSV_ROWS: dict = {}


def _csv_rows(path: str) -> dict:
    if path not in _CSV_ROWS:
        import csv as _csv

        p = Path(path)
        if not p.is_file():
            return {}
        import gzip

        with gzip.open(p, "rt", newline="") as f:
            _CSV_ROWS[path] = {(r["variant"], r["arch"]): r for r in _csv.DictReader(f)}
    return _CSV_ROWS[path]
