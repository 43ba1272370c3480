"""Memory descriptors of Ampere+ global accesses: where the `desc[URx]` operand of an LDG/STG/ATOMG comes from.

Since sm_80 a global access can name a 64-bit memory descriptor in a uniform register pair (`desc[UR4][R2.64]`).
A plain access on sm_90+ loads the default one from the constant bank (`ULDC.64 UR4, c[0x0][0x208]`); an access
with an L2 cache policy (`.L2::cache_hint`) gets a descriptor whose upper word carries the policy, built from
immediates (`UMOV UR5, 0x14f00000` on sm_80) or by uniform arithmetic (`UMOV; USHF; ULOP3.LUT; USHF` on sm_90).
Comparing opcodes only cannot see that difference, so the atlas compares the descriptor's value too.

`uniform_values` is a small forward constant propagation over the uniform registers (UMOV, USHF, ULOP3.LUT,
UIADD3 with immediates); anything else that writes a uniform register makes it unknown. Constant-bank loads are
kept symbolically ('c[0x0][0x208]'), so "the default descriptor" is recognisable on every target.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .sass import Instruction

_UR = re.compile(r"^UR(\d+)$")
_DESC = re.compile(r"desc\[(UR\d+)\]")
_CBANK = re.compile(r"^c\[0x[0-9a-f]+\]\[0x[0-9a-f]+\]$")
M32 = 0xFFFFFFFF
_PREDOP = re.compile(r"^!?U?P(T|\d+)$")


@dataclass(frozen=True)
class Value:
    """A uniform register's value: an int, a symbolic constant-bank word, or unknown (None)."""

    known: int | None = None
    symbol: str = ""  # 'c[0x0][0x208]' (+4 for the upper word of a 64-bit load)
    writers: frozenset = frozenset()  # instruction indices that contributed


_UNKNOWN = Value()


def _operand_value(op: str, env: dict) -> Value:
    op = op.strip().replace(".reuse", "")
    if op in ("URZ", "RZ"):
        return Value(0)
    m = _UR.match(op)
    if m:
        return env.get(f"UR{m.group(1)}", _UNKNOWN)
    try:
        return Value(int(op, 0) & M32)
    except ValueError:
        return _UNKNOWN


def _lop3(a: int, b: int, c: int, lut: int) -> int:
    out = 0
    for bit in range(32):
        idx = ((a >> bit) & 1) << 2 | ((b >> bit) & 1) << 1 | ((c >> bit) & 1)
        out |= ((lut >> idx) & 1) << bit
    return out


def _cbank_next(symbol: str) -> str:
    m = re.match(r"^(c\[0x[0-9a-f]+\])\[0x([0-9a-f]+)\]$", symbol)
    return f"{m.group(1)}[0x{int(m.group(2), 16) + 4:x}]" if m else ""


def _evaluate(ins: Instruction, k: int, env: dict) -> dict[str, Value]:
    """New values of the uniform registers `ins` writes (empty if it writes none)."""
    ops = ins.operands
    if not ops or not _UR.match(ops[0].strip()):
        return {}
    dst = ops[0].strip()
    wide = ".64" in ins.opcode
    srcs = [_operand_value(o, env) for o in ops[1:] if not _PREDOP.match(o.strip())]
    contrib = frozenset({k}).union(*(v.writers for v in srcs)) if srcs else frozenset({k})
    base = ins.base
    n = int(dst[2:])
    if base in ("ULDC", "LDCU") and len(ops) > 1 and _CBANK.match(ops[1].strip()):
        sym = ops[1].strip()
        out = {dst: Value(symbol=sym, writers=frozenset({k}))}
        if wide:
            out[f"UR{n + 1}"] = Value(symbol=_cbank_next(sym), writers=frozenset({k}))
        return out
    if any(v.known is None for v in srcs) or not srcs:
        return {dst: Value(writers=contrib)} | ({f"UR{n + 1}": Value(writers=contrib)} if wide else {})
    vals = [v.known for v in srcs]
    result = None
    if base == "UMOV" and not wide:
        result = vals[0]
    elif base == "USHF" and len(vals) >= 2:
        sh = vals[1] & 31
        if ".L." in ins.opcode + "." and ".U32" in ins.opcode:
            result = (vals[0] << sh) & M32
        elif ".R." in ins.opcode + "." and ".U32" in ins.opcode:
            result = vals[0] >> sh
    elif base == "ULOP3" and ".LUT" in ins.opcode and len(vals) >= 4:
        result = _lop3(vals[0], vals[1], vals[2], vals[3] & 0xFF)
    elif base == "UIADD3" and len(vals) >= 3:
        result = sum(vals[:3]) & M32
    if result is None:
        return {dst: Value(writers=contrib)}
    return {dst: Value(result, writers=contrib)}


def uniform_values(kernel: list[Instruction]) -> list[dict[str, Value]]:
    """For every instruction, the uniform-register environment it reads (before it executes)."""
    env: dict[str, Value] = {}
    out = []
    for k, ins in enumerate(kernel):
        out.append(dict(env))
        if ins.predicate and ins.predicate not in ("@PT", "@UPT"):
            continue  # a predicated write may not happen: leave the register as it was (never the case here)
        env.update(_evaluate(ins, k, env))
    return out


@dataclass(frozen=True)
class Descriptor:
    kind: str  # 'none' (no desc operand), 'default' (from the constant bank), 'constant', 'computed'
    word: int | None  # the 64-bit value where kind == 'constant'
    writers: frozenset  # instruction indices that built it

    def label(self) -> str:
        if self.kind == "constant":
            return f"0x{self.word:016x}"
        return self.kind


def access_descriptor(kernel: list[Instruction], index: int, env: list[dict[str, Value]] | None = None) -> Descriptor:
    """The memory descriptor the instruction at `index` uses."""
    ins = kernel[index]
    m = next((_DESC.search(op) for op in ins.operands if _DESC.search(op)), None)
    if m is None:
        return Descriptor("none", None, frozenset())
    env = env or uniform_values(kernel)
    n = int(m.group(1)[2:])
    lo, hi = env[index].get(f"UR{n}", _UNKNOWN), env[index].get(f"UR{n + 1}", _UNKNOWN)
    writers = lo.writers | hi.writers
    if lo.symbol and hi.symbol:
        return Descriptor("default", None, writers)
    if lo.known is not None and hi.known is not None:
        return Descriptor("constant", hi.known << 32 | lo.known, writers)
    return Descriptor("computed", None, writers)


_REGNUM = re.compile(r"\b(U?R|U?P)\d+\b")


def operand_shape(ins: Instruction) -> str:
    """The operands with register numbers removed: 'R, desc[UR][R.64]' vs 'R, [R.64]' (same opcode, other form)."""
    return ", ".join(_REGNUM.sub(lambda m: m.group(1), op.replace(".reuse", "")) for op in ins.operands)
