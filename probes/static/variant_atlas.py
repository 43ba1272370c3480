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
import hashlib
import io as _io
import json
import os
import re
import struct
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from . import descriptors, schedule, toolchain, variants
from .sass import Instruction, parse_cuobjdump

CSV_NAME = "variants-sass.csv.gz"
COPIES = 8                  # independent copies of a variant that cannot be chained
CHAIN = 6                   # links of the latency chain
CHAINS, LINKS = 8, 3        # interleaved chains x links of a chainable variant's issue-interval kernel
MODULE_KERNELS = 1200       # kernels per ptxas module: bounds the cost of a rejection round
_POOL = 4                    # per-source register pool in a chain (rotated so no two links cancel)
PRELUDE = ".const .align 16 .b8 gp_cbuf[4096];\n"
KEEP_OFFSET = 0x1000          # baseline keep-alive stores go to %aout + KEEP_OFFSET + ...: not counted
_KEEP = re.compile(r"\+0x([0-9a-f]+)\]")

COLUMNS = ["variant", "group", "ptx", "arch", "status", "error", "sass", "sass_text", "lowering_kind", "lowerings",
           "sass_per_ptx", "latency_class", "fixed_latency_cycles", "latency_min", "latency_max",
           "issue_interval_cycles", "assembler_version", "assembled_as"]

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
        return " ".join(f".reg {_DECL[k]} %{ {'pred': 'p', 'b16': 'h', 'b32': 'r', 'b64': 'd', 'b128': 'q'}[k]}<{n}>;"
                        for k, n in sorted(self.count.items()) if n)


def _address(kind: str, copy: int, regs: _Regs) -> str:
    """A per-copy address register of a space: ga (global), sa/sb/sc (shared), la (local), ca (constant)."""
    reg = regs.new("b64" if kind in ("ga", "la", "ca") else "b32")
    base = {"ga": "%gbase", "la": "%lbase", "ca": "%cbase"}.get(kind, "%sbase")
    step = {"sa": 0, "sb": 1024, "sc": 2048}.get(kind, 0) + 128 * copy
    op = "add.s64" if kind in ("ga", "la", "ca") else "add.u32"
    regs.addresses.append(f"{op} {reg}, {base}, {step};")
    return reg


def _instance(v: variants.Variant, regs: _Regs, copy: int, state: dict, link: int = 0,
              pools: dict | None = None) -> str:
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
    lines = [f".visible .entry {name}(.param .u64 pin, .param .u64 pout)", "{",
             "  .reg .b64 %ain, %aout, %off, %gbase, %lbase, %cbase; .reg .b32 %ix, %sbase;",
             "  .shared .align 128 .b8 smem[4096]; .local .align 16 .b8 lmem[1024];",
             "  " + regs.declarations(),
             "  ld.param.u64 %ain, [pin]; ld.param.u64 %aout, [pout];",
             "  cvta.to.global.u64 %ain, %ain; cvta.to.global.u64 %aout, %aout;",
             "  mov.u32 %ix, %tid.x; mul.wide.u32 %off, %ix, 8192;",
             "  add.s64 %ain, %ain, %off; add.s64 %aout, %aout, %off;",
             "  add.s64 %gbase, %ain, 4096; mov.u32 %sbase, smem; mov.u64 %lbase, lmem; mov.u64 %cbase, gp_cbuf;",
             *("  " + ln for ln in regs.loads), *("  " + ln for ln in regs.addresses),
             *("  " + ln for ln in body), *("  " + ln for ln in regs.stores), "  ret;", "}"]
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
    b = _baseline_variant(v)
    out = {"indep": toolchain.PtxKernel(_kname(v, "indep"), kernel_text(v, _kname(v, "indep"), "indep")),
           "baseline-indep": toolchain.PtxKernel(_kname(b, "bi"), kernel_text(v, _kname(b, "bi"), "baseline-indep"))}
    if v.chainable:
        out["chain"] = toolchain.PtxKernel(_kname(v, "chain"), kernel_text(v, _kname(v, "chain"), "chain"))
        out["baseline-chain"] = toolchain.PtxKernel(_kname(b, "bc"), kernel_text(v, _kname(b, "bc"), "baseline-chain"))
    return out


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
        row.update(sass="(none)", sass_text="", lowering_kind="none", lowerings="", sass_per_ptx=0.0,
                   latency_class="none", issue_interval_cycles=None)
        return row
    ptx_count = max(1, v.template.count(";") - v.template.count(".reg"))
    sched_chain = None
    if "chain" in kernels:
        sched_chain = schedule.read_schedule(_without_keepalive(funcs[kernels["baseline-chain"].name]),
                                             funcs[kernels["chain"].name],
                                             None, CHAIN)
    interval = issue_interval(indep, set(low))
    per_ptx = round(sum(low.values()) / ptx_count, 3)
    from .instructions import lowering_figures
    if sched_chain is not None and sched_chain.lowering:
        figs = lowering_figures(sched_chain, sched_chain.sass_count / ptx_count)
        klass, lat, lo, hi = (sched_chain.latency_class, sched_chain.fixed_latency_cycles, sched_chain.latency_min,
                              sched_chain.latency_max)
    else:
        sb = any(i.control.write_barrier is not None for i in indep if i.opcode in low
                 and schedule.destinations(i))
        flow = any(op.split(".")[0] in schedule.SEQUENCE_FLOW for op in low)
        figs = {"lowering_kind": "software sequence" if flow else "fixed sequence" if per_ptx > 1 + 1e-9
                else "single", "lowerings": " ".join(low)}
        klass, lat, lo, hi = ("variable" if sb else "fixed (no chain)"), None, None, None
    first = _first_copy(indep, low)
    row.update(sass=_format(low), sass_text="; ".join(first), lowering_kind=figs["lowering_kind"],
               lowerings=figs["lowerings"], sass_per_ptx=per_ptx, latency_class=klass, fixed_latency_cycles=lat,
               latency_min=lo, latency_max=hi, issue_interval_cycles=interval)
    return row


def issue_interval(kernel: list[Instruction], targets: set[str]) -> int | None:
    """Mode of the stall field of a lowering instruction directly followed by another one (back-to-back copies:
    the distance ptxas keeps between them), None where no two are adjacent."""
    gaps = [kernel[k].control.stall for k in range(len(kernel) - 1)
            if kernel[k].opcode in targets and kernel[k + 1].opcode in targets
            and not schedule.is_padding(kernel[k]) and not schedule.is_padding(kernel[k + 1])]
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


# --- ELF: identical code sections -> one disassembly ---------------------------------------------------------------

def code_digest(cubin: bytes) -> str:
    """Hash of the cubin's code sections (.text.*), which differ between targets only if the code does."""
    try:
        shoff, = struct.unpack_from("<Q", cubin, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", cubin, 0x3A)
        heads = [struct.unpack_from("<IIQQQQ", cubin, shoff + k * shentsize) for k in range(shnum)]
        stro = heads[shstrndx][4]
        h = hashlib.sha256()
        for name_off, _typ, _flags, _addr, off, size in heads:
            name = cubin[stro + name_off: cubin.index(b"\0", stro + name_off)]
            if name.startswith(b".text."):
                h.update(name + b"\0" + cubin[off:off + size])
        return h.hexdigest()
    except (struct.error, IndexError, ValueError):
        return hashlib.sha256(cubin).hexdigest()


# --- building ------------------------------------------------------------------------------------------------------

ROW_VERSION = "1"   # bump when _row's reading of the schedule changes: rows are recomputed from cached SASS


def _variant_key(v: variants.Variant, kernels: dict) -> str:
    """What ptxas sees of a variant: its kernel texts (its name and group only label the row)."""
    return hashlib.sha256("\0".join(k.text for k in kernels.values()).encode()).hexdigest()[:24]


def _cache_file(kind: str, arch: str) -> Path:
    key = hashlib.sha256("\0".join(["variant-atlas", kind, arch, toolchain.tool_version("ptxas"),
                                    toolchain.tool_version("cuobjdump"), toolchain.ptx_isa_version(),
                                    ROW_VERSION if kind == "rows" else ""]).encode()).hexdigest()[:24]
    return toolchain.cache_dir() / "variant-atlas" / f"{kind}-{arch}-{key}.json.gz"


def _load(kind: str, arch: str) -> dict:
    import gzip
    p = _cache_file(kind, arch)
    try:
        return json.loads(gzip.decompress(p.read_bytes())) if p.is_file() else {}
    except (OSError, ValueError, EOFError):
        return {}


def _save(kind: str, arch: str, data: dict) -> None:
    import gzip
    p = _cache_file(kind, arch)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        tmp.write_bytes(gzip.compress(json.dumps(data, sort_keys=True).encode(), compresslevel=3, mtime=0))
        os.replace(tmp, p)
    except OSError:
        pass   # a read-only cache only costs speed


def assemble_arch(arch: str, todo: list[variants.Variant]) -> tuple[list[tuple[bytes, list]], dict[str, str]]:
    """Assemble the kernels of `todo` for `arch` in modules of about MODULE_KERNELS kernels: [(cubin, variants in
    it)], {variant name: ptxas message} for the rejected ones (a variant is rejected if any of its kernels is;
    its other kernels stay in the cubin, harmlessly)."""
    out, rejected = [], {}
    chunks, chunk, n = [], [], 0
    for v in todo:
        ks = kernels_for(v)
        chunk.append((v, ks))
        n += len(ks)
        if n >= MODULE_KERNELS:
            chunks.append(chunk)
            chunk, n = [], 0
    if chunk:
        chunks.append(chunk)
    for chunk in chunks:
        allk = list({k.name: k for _, ks in chunk for k in ks.values()}.values())   # shared baselines once
        cubin, rej = toolchain.assemble_many(allk, arch, prelude=PRELUDE)
        bad = {}
        for v, ks in chunk:
            msgs = [rej[k.name] for k in ks.values() if k.name in rej]
            if msgs:
                bad[v.name] = re.sub(r"^(error|fatal)\s*:\s*", "", msgs[0])
        rejected.update(bad)
        kept = [(v, ks) for v, ks in chunk if v.name not in bad]
        if kept:
            if cubin is None:
                raise toolchain.ToolchainError(f"ptxas produced no cubin for {arch}")
            out.append((cubin, kept))
    return out, rejected


def _pack(ins: Instruction) -> list:
    return [ins.address, ins.text, ins.predicate, ins.opcode, list(ins.operands), ins.lo, ins.hi]


def _unpack(item: list) -> Instruction:
    a, text, pred, op, ops, lo, hi = item
    return Instruction(a, text, pred, op, tuple(ops), lo, hi)


def _assemble_job(arch: str, todo: list[variants.Variant]) -> tuple[dict, list]:
    """Worker: {variant key: rejection message}, [(code digest, cubin, {kernel name: kernel key})]."""
    mods, rejected = assemble_arch(arch, todo)
    by_name = {v.name: v for v in todo}
    rej = {_variant_key(by_name[n], kernels_for(by_name[n])): msg for n, msg in rejected.items()}
    packs = []
    for cubin, kept in mods:
        names = {k.name: hashlib.sha256(k.text.encode()).hexdigest()[:24] for _, ks in kept for k in ks.values()}
        packs.append((code_digest(cubin), cubin, names))
    return rej, packs


def _disassemble_job(cubin: bytes, names: dict) -> dict:
    """Worker: {kernel key: packed instructions} of the kernels `names` lists."""
    funcs = parse_cuobjdump(toolchain.cuobjdump_sass(cubin))
    return {key: [_pack(i) for i in funcs[name]] for name, key in names.items() if name in funcs}


def _kernel_keys(ks: dict) -> dict:
    return {shape: hashlib.sha256(k.text.encode()).hexdigest()[:24] for shape, k in ks.items()}


# The targets `make static` builds the variant atlas for. Every target ptxas accepts is supported (pass archs);
# the committed atlas covers these because one target costs about 25 minutes cold on the shared 2-core build
# machine (reports/static/README.md records the figures). Widen to toolchain.supported_archs() where CPU allows.
TARGETS = ("sm_75", "sm_80", "sm_90", "sm_90a")

VERIFY = 60   # variants an `a`/`f` target assembles to check that it lowers like its base target


def _base_of(arch: str, archs: list[str]) -> str | None:
    number, variant = toolchain.arch_key(arch)
    base = f"sm_{number}"
    return base if variant and base in archs else None


def _comparable(row: dict) -> tuple:
    return tuple(str(row.get(c, "")) for c in ("status", "sass", "sass_text", "lowering_kind", "latency_class",
                                                "fixed_latency_cycles", "issue_interval_cycles"))


class _Store:
    """The two caches of one target: SASS per kernel (and ptxas's rejections per variant), rows per variant."""

    def __init__(self, arch: str):
        self.arch = arch
        self.rows = _load("rows", arch)    # variant key -> row
        self._asm: dict | None = None      # kernel key -> packed SASS; 'rej:' + variant key -> message (lazy: large)
        self.dirty = False

    @property
    def asm(self) -> dict:
        if self._asm is None:
            self._asm = _load("asm", self.arch)
        return self._asm

    def row(self, v: variants.Variant, ks: dict, vkey: str) -> dict | None:
        if vkey in self.rows:
            return self.rows[vkey]
        if "rej:" + vkey in self.asm:
            row = {"variant": v.name, "arch": self.arch, "status": "rejected", "error": self.asm["rej:" + vkey]}
        else:
            kk = _kernel_keys(ks)
            if not all(k in self.asm for k in kk.values()):
                return None
            funcs = {ks[shape].name: [_unpack(i) for i in self.asm[key]] for shape, key in kk.items()}
            row = _row(v, self.arch, funcs, ks)
        row.update(assembler_version=toolchain.tool_version("ptxas"), assembled_as="")
        self.rows[vkey] = row
        self.dirty = True
        return row

    def save(self) -> None:
        if self.dirty:
            if self._asm is not None:
                _save("asm", self.arch, self._asm)
            _save("rows", self.arch, self.rows)


def _assemble(archs: list[str], todo: dict, stores: dict, workers: int, say) -> None:
    """Assemble todo[a] on each a, disassemble each distinct code (compared by code sections) once, cache SASS."""
    jobs = [a for a in archs if todo.get(a)]
    if not jobs:
        return
    packs: list = []
    # one job per (target, share of its variants): a single target's table is spread over every worker too
    parts = max(1, -(-workers // len(jobs)))
    tasks = [(a, todo[a][k::parts]) for a in jobs for k in range(parts) if todo[a][k::parts]]
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        futs = {pool.submit(_assemble_job, a, part): (a, len(part)) for a, part in tasks}
        for fut in concurrent.futures.as_completed(futs):
            a, n = futs[fut]
            rej, mods = fut.result()
            stores[a].asm.update({"rej:" + k: m for k, m in rej.items()})
            stores[a].dirty = True
            packs += [(a, d, c, names) for d, c, names in mods]
            say(f"{a}: {n} variants assembled")
    by_digest: dict[str, list] = {}
    for a, d, c, names in sorted(packs, key=lambda m: toolchain.arch_key(m[0])):
        by_digest.setdefault(d, []).append((a, c, names))
    say(f"{len(packs)} modules, {len(by_digest)} distinct after comparing code sections")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        futs = {pool.submit(_disassemble_job, entries[0][1], entries[0][2]): d for d, entries in by_digest.items()}
        for fut in concurrent.futures.as_completed(futs):
            sass_of = fut.result()
            for a, _c, names in by_digest[futs[fut]]:
                stores[a].asm.update({key: sass_of[key] for key in names.values() if key in sass_of})
                stores[a].dirty = True
    say("disassembled")


def build(out_dir: Path | None, archs: list[str] | None = None, progress: bool = True, workers: int | None = None,
          names: list[str] | None = None) -> pd.DataFrame:
    """Build the variant atlas for `archs` (default every target ptxas accepts and cuobjdump reads) and write
    out_dir/variants-sass.csv atomically (out_dir None: only return the table)."""
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
    kernels = {v.name: kernels_for(v) for v in table}
    vkeys = {v.name: _variant_key(v, kernels[v.name]) for v in table}
    stores = {a: _Store(a) for a in archs}
    result: dict[str, dict[str, dict]] = {a: {} for a in archs}

    def fill(a: str) -> list[variants.Variant]:
        missing = []
        for v in table:
            if v.name in result[a]:
                continue
            row = stores[a].row(v, kernels[v.name], vkeys[v.name])
            if row is None:
                missing.append(v)
            else:
                result[a][v.name] = row
        return missing

    bases = {a: _base_of(a, archs) for a in archs}
    first = [a for a in archs if not bases[a]]
    todo = {a: fill(a) for a in first}
    say(f"{sum(len(t) for t in todo.values())} (variant, target) cells to assemble on {len(first)} base targets")
    _assemble(first, todo, stores, workers, say)
    for a in first:
        fill(a)
    # `a`/`f` targets: assembled only for what their base rejects, plus a sample of what it accepts to check that
    # they lower alike; rows of the rest are the base target's (column assembled_as). A sample that differs makes
    # the whole table be assembled for that target.
    second = [a for a in archs if bases[a]]
    todo, sample = {}, {}
    for a in second:
        missing = fill(a)
        ok_on_base = [v for v in missing if result[bases[a]][v.name]["status"] == "ok"]
        sample[a] = ok_on_base[:VERIFY]
        todo[a] = [v for v in missing if result[bases[a]][v.name]["status"] != "ok"] + sample[a]
    say(f"{sum(len(t) for t in todo.values())} cells to assemble on {len(second)} a/f targets")
    _assemble(second, todo, stores, workers, say)
    redo = {}
    for a in second:
        fill(a)
        base = bases[a]
        differs = [v.name for v in sample[a] if _comparable(result[a][v.name]) != _comparable(result[base][v.name])]
        rest = [v for v in table if v.name not in result[a]]
        if differs:
            say(f"{a}: {len(differs)} of {len(sample[a])} sampled variants lower unlike {base} (e.g. {differs[0]}): "
                f"assembling all {len(rest)}")
            redo[a] = rest
            continue
        for v in rest:
            row = dict(result[base][v.name])
            row.update(arch=a, assembled_as=base)
            result[a][v.name] = row
            stores[a].rows[vkeys[v.name]] = row
            stores[a].dirty = True
    if redo:
        _assemble(list(redo), redo, stores, workers, say)
        for a in redo:
            fill(a)
    for a in archs:
        stores[a].save()
    rows = []
    for a in archs:
        for v in table:
            r = dict(result[a][v.name])
            r.update(variant=v.name, group=v.group, ptx=v.ptx, arch=a)
            rows.append(r)
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in ("fixed_latency_cycles", "latency_min", "latency_max", "issue_interval_cycles"):
        df[col] = df[col].astype("Int64")
    if out_dir is not None:
        write_csv(df, out_dir)
    say(f"{len(df)} cells, {df[df.status == 'ok']['variant'].nunique()} of {len(table)} variants accepted by some "
        "target")
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
        tmp.write_bytes(gzip.compress(buf.getvalue().encode(), compresslevel=9, mtime=0))
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
