"""Parse `cuobjdump -sass` text into instructions with their decoded scheduling control bits (Volta and later).

Layout of the 23-bit control field (bits 105-127 of the 128-bit instruction; ../shared/notes/sass-control-bits.md;
Jia et al., arXiv:1804.06826, ch. 2): stall 0-3, yield 4, write scoreboard 5-7, read scoreboard 8-10, wait mask
11-16, reuse 17-20, 21-22 zero. Pre-Volta encodings (64-bit words with a separate control word per 3 instructions)
are refused rather than decoded into garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NO_BARRIER = 7


class SassFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Control:
    stall: int
    yield_hint: bool
    write_barrier: int | None
    read_barrier: int | None
    wait_mask: int
    reuse: int

    @classmethod
    def decode(cls, hi: int) -> Control:
        c = hi >> 41
        if c >> 21:
            raise SassFormatError(f"control bits 126-127 are not zero in 0x{hi:016x}: not a Volta+ encoding")
        wbar, rbar = (c >> 5) & 7, (c >> 8) & 7
        return cls(
            stall=c & 15,
            yield_hint=not ((c >> 4) & 1),
            write_barrier=None if wbar == NO_BARRIER else wbar,
            read_barrier=None if rbar == NO_BARRIER else rbar,
            wait_mask=(c >> 11) & 63,
            reuse=(c >> 17) & 15,
        )

    def waits_on(self, barrier: int) -> bool:
        return bool(self.wait_mask >> barrier & 1)


@dataclass(frozen=True)
class Instruction:
    address: int
    text: str  # as printed, without the trailing ';'
    predicate: str  # '' or '@P0' / '@!PT' ...
    opcode: str  # 'LDG.E.NA.LTC256B.CONSTANT'
    operands: tuple[str, ...]
    lo: int
    hi: int

    @property
    def base(self) -> str:
        """Opcode without modifiers: 'LDG'."""
        return self.opcode.split(".")[0]

    @property
    def modifiers(self) -> tuple[str, ...]:
        return tuple(self.opcode.split(".")[1:])

    @property
    def control(self) -> Control:
        return Control.decode(self.hi)

    @property
    def writes_nothing(self) -> bool:
        """Stores, reductions and branches have no destination register (REDUX does: not a prefix match)."""
        return self.base in _NO_DEST

    @property
    def dest_registers(self) -> tuple[str, ...]:
        if not self.operands or self.writes_nothing:
            return ()
        # A leading PT is a discarded predicate destination (SHFL PT, R5, ...; ATOMG ... PT, R5, ...).
        ops = self.operands[1:] if self.operands[0].strip() == "PT" and len(self.operands) > 1 else self.operands
        return _registers(ops[0])

    @property
    def source_registers(self) -> tuple[str, ...]:
        ops = self.operands if self.writes_nothing else self.operands[1:]
        return tuple(r for op in ops for r in _registers(op))


_NO_DEST = {
    "ST",
    "STG",
    "STS",
    "STL",
    "RED",
    "REDG",
    "REDS",
    "BRA",
    "EXIT",
    "RET",
    "CALL",
    "BAR",
    "MEMBAR",
    "NOP",
    "CCTL",
    "ERRBAR",
    "WARPSYNC",
    "BSYNC",
    "BSSY",
}


_REG_RE = re.compile(r"\b(U?R\d+|U?P\d+)\b")


def _registers(operand: str) -> tuple[str, ...]:
    """Registers named in an operand; a 64-bit pair 'R4.64' counts as R4 and R5."""
    regs = []
    for m in _REG_RE.finditer(operand):
        regs.append(m.group(1))
        tail = operand[m.end() : m.end() + 3]
        if tail == ".64" and m.group(1).startswith(("R", "UR")):
            prefix = "UR" if m.group(1).startswith("UR") else "R"
            regs.append(f"{prefix}{int(m.group(1)[len(prefix) :]) + 1}")
    return tuple(r for r in regs if r not in ("RZ", "URZ", "PT", "UPT"))


_FUNC_RE = re.compile(r"^\s*Function\s*:\s*(\S+)")
_INST_RE = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(.*?)\s*;?\s*/\*\s*0x([0-9a-f]{16})\s*\*/\s*$")
_HI_RE = re.compile(r"^\s*/\*\s*0x([0-9a-f]{16})\s*\*/\s*$")
_ARCH_RE = re.compile(r"code for sm_(\d+)")


def parse_cuobjdump(text: str) -> dict[str, list[Instruction]]:
    """{function name: instructions} from `cuobjdump -sass` output of a Volta+ cubin."""
    m = _ARCH_RE.search(text)
    if m and int(m.group(1)) < 70:
        raise SassFormatError(
            f"sm_{m.group(1)} uses the pre-Volta 64-bit encoding with separate control words; "
            "control-bit decoding supports sm_70 and later only"
        )
    funcs: dict[str, list[Instruction]] = {}
    current: list[Instruction] | None = None
    pending: tuple[int, str, int] | None = None
    for line in text.splitlines():
        fm = _FUNC_RE.match(line)
        if fm:
            current = funcs.setdefault(fm.group(1), [])
            pending = None
            continue
        im = _INST_RE.match(line)
        if im and current is not None:
            pending = (int(im.group(1), 16), im.group(2).rstrip(" ;"), int(im.group(3), 16))
            continue
        hm = _HI_RE.match(line)
        if hm and pending is not None and current is not None:
            addr, body, lo = pending
            current.append(_instruction(addr, body, lo, int(hm.group(1), 16)))
            pending = None
    return funcs


def _instruction(addr: int, body: str, lo: int, hi: int) -> Instruction:
    pred = ""
    if body.startswith("@"):
        pred, body = body.split(None, 1)
    parts = body.split(None, 1)
    opcode = parts[0]
    operands = tuple(o.strip() for o in _split_operands(parts[1])) if len(parts) > 1 else ()
    return Instruction(addr, (pred + " " + body).strip(), pred, opcode, operands, lo, hi)


def _split_operands(s: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out
