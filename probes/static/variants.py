"""The PTX variant table: one declarative list of PTX instruction variants, expanded by a small grammar.

A row is a PTX *template* whose operands carry their register class, and axes that the grammar multiplies out:

    family("fp", "add{rnd}{ftz}{sat}.{t} {d:%t}, {a:%t}, {b:%t};", rnd=ROUNDINGS, ftz=("", ".ftz"), ...)

`{d:%t}` is a destination whose register class is that of the axis value `t` (f32 -> b32, f64 -> b64, f16 -> b16,
pred -> pred); `{a:b32}` a source of a fixed class; `{a:b32*4}` a brace list of four registers; `{ga}` a per-thread
global address, `{sa}` a shared-memory address, `{ga_}`/`{sa_}` their 64-/32-bit forms for address operands. Names
starting with `d` are results (stored at the end), the rest are sources (loaded from memory at the start), so
nothing is known to the compiler. Every combination of axis values becomes a variant; which of them are legal on
which target is not decided here but by ptxas, whose message is kept for the ones it rejects.

Nothing here imports CUDA or the toolchain: the static atlas (probes/static/variant_atlas.py) and the dynamic
instruction probes can both import the table; probes/static/instruction_table.py keys its rows by variant name. `lookup(text)` finds the variant of a PTX instruction, an op's PTX
snippet (`"{ .reg .pred p; setp.lt.u32 p, $1, $2; selp.b32 ... }"`) or a short name (`"atom.shared.add"`).
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass

# --- register classes ----------------------------------------------------------------------------------------------

_CLASS_OF_TYPE = {
    "pred": "pred",
    "b8": "b16",
    "s8": "b16",
    "u8": "b16",
    "b16": "b16",
    "s16": "b16",
    "u16": "b16",
    "f16": "b16",
    "bf16": "b16",
    "e4m3x2": "b16",
    "e5m2x2": "b16",
    "e2m3x2": "b16",
    "e3m2x2": "b16",
    "ue8m0x2": "b16",
    "e2m1x2": "b16",
    "b32": "b32",
    "s32": "b32",
    "u32": "b32",
    "f32": "b32",
    "f16x2": "b32",
    "bf16x2": "b32",
    "tf32": "b32",
    "e4m3x4": "b32",
    "e5m2x4": "b32",
    "e2m1x4": "b16",
    "b64": "b64",
    "s64": "b64",
    "u64": "b64",
    "f64": "b64",
    "f32x2": "b64",
    "b128": "b128",
}
CLASSES = ("pred", "b16", "b32", "b64", "b128")


def register_class(ptx_type: str) -> str:
    return _CLASS_OF_TYPE[ptx_type]


# --- the variant ---------------------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)(?::([%a-z0-9_]+)(?:\*(\d+))?)?\}")


@dataclass(frozen=True)
class Operand:
    name: str  # 'd', 'a', 'dp', 'ga' ...
    klass: str  # pred / b16 / b32 / b64 / b128 / 'ga' / 'sa' (addresses)
    count: int = 1  # a brace list of `count` registers

    @property
    def is_result(self) -> bool:
        return self.name.startswith("d")


@dataclass(frozen=True)
class Variant:
    name: str  # the PTX opcode with every modifier, e.g. 'setp.lt.ftz.f32' (unique in the table)
    group: str  # family for the report: 'setp', 'cvt', 'atom', 'mma', ...
    template: str  # one PTX instruction (or a short sequence) with typed placeholders
    chain: bool = True  # a dependent chain (result -> first source) is legal and meaningful
    setup: str = ""  # PTX run once before (e.g. an mbarrier.init)
    note: str = ""

    @functools.cached_property
    def operands(self) -> tuple[Operand, ...]:
        seen: dict[str, Operand] = {}
        for m in _PLACEHOLDER.finditer(self.template + " " + self.setup):
            name, klass, count = m.group(1), m.group(2), int(m.group(3) or 1)
            if klass is None:
                klass = name.rstrip("_") if name.rstrip("_") in ("ga", "sa") else "b32"
            seen.setdefault(name, Operand(name, klass, count))
        return tuple(seen.values())

    @property
    def ptx(self) -> str:
        """The template as a reader sees it: placeholders without their classes ('add.f32 d, a, b;')."""
        return _PLACEHOLDER.sub(lambda m: m.group(1), self.template)

    @property
    def chain_pair(self) -> tuple[Operand, Operand] | None:
        """(result, source) a dependent chain links: the first result into the source `a` (else the first
        source) of the same register class; None where the variant is not chainable."""
        if not self.chain:
            return None
        res = [o for o in self.operands if o.is_result]
        src = [o for o in self.operands if not o.is_result and o.klass in CLASSES]
        if not res or not src:
            return None
        first = next((o for o in src if o.name == "a"), src[0])
        out = next((o for o in res if o.name == "d"), res[0])
        if out.klass != first.klass or out.count != first.count or out.klass == "pred" or first.count != 1:
            return None
        return out, first

    @property
    def chainable(self) -> bool:
        return self.chain_pair is not None


def _resolve(text: str, axes: dict[str, str]) -> str:
    """Substitute axis values ({t}) and typed classes ({d:%t} -> {d:b32})."""

    def cls(m):
        name, klass, count = m.group(1), m.group(2), m.group(3)
        if klass and klass.startswith("%"):
            klass = register_class(axes[klass[1:]])
        if name in axes and klass is None:
            return axes[name]
        return "{" + name + (f":{klass}" if klass else "") + (f"*{count}" if count else "") + "}"

    return _PLACEHOLDER.sub(cls, text)


def _opcode(text: str) -> str:
    """The PTX opcode of the main instruction of a resolved template (first token that is not a declaration)."""
    for part in re.split(r"[;{}]", text):
        tok = part.strip().split()
        if tok and not tok[0].startswith(".") and not tok[0].startswith("@"):
            return tok[0]
        if len(tok) > 1 and tok[0].startswith("@"):
            return tok[1]
    return text.strip()


def family(group: str, template: str, name: str = "", chain: bool = True, setup: str = "", **axes) -> list[Variant]:
    """Every combination of the axis values; a variant's name is its opcode (or `name` with axes substituted)."""
    keys = list(axes)
    out = []
    for values in itertools.product(*(axes[k] for k in keys)):
        env = dict(zip(keys, values))
        text = _resolve(template, env)
        label = _resolve(name, env) if name else _opcode(text)
        out.append(Variant(re.sub(r"\s+", " ", label), group, text, chain, _resolve(setup, env) if setup else ""))
    return out


# --- axes ----------------------------------------------------------------------------------------------------------

INT_TYPES = ("s16", "u16", "s32", "u32", "s64", "u64")
BIT_TYPES = ("b16", "b32", "b64")
FLOAT_TYPES = ("f16", "bf16", "f32", "f64")
PACKED_FLOAT = ("f16x2", "bf16x2", "f32x2")
CMP_INT = ("eq", "ne", "lt", "le", "gt", "ge", "lo", "ls", "hi", "hs")
CMP_FLOAT = ("eq", "ne", "lt", "le", "gt", "ge", "equ", "neu", "ltu", "leu", "gtu", "geu", "num", "nan")
ROUND_F = ("", ".rn", ".rz", ".rm", ".rp")
ROUND_I = ("", ".rni", ".rzi", ".rmi", ".rpi")
SCOPES = ("", ".cta", ".cluster", ".gpu", ".sys")
SEMS = ("", ".relaxed", ".acquire", ".release", ".acq_rel")
CVT_TYPES = ("s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f16", "bf16", "f32", "f64")


def _setp() -> list[Variant]:
    out = []
    for t in INT_TYPES + BIT_TYPES + FLOAT_TYPES:
        cmps = CMP_FLOAT if t in FLOAT_TYPES else CMP_INT
        ftz = ("", ".ftz") if t == "f32" else ("",)
        out += family("setp", "setp.{cmp}{ftz}.{t} {dp:pred}, {a:%t}, {b:%t};", chain=False, cmp=cmps, ftz=ftz, t=(t,))
        out += family(
            "setp",
            "setp.{cmp}.{bop}{ftz}.{t} {dp:pred}, {a:%t}, {b:%t}, {c:pred};",
            chain=False,
            cmp=cmps[:6],
            bop=("and", "or", "xor"),
            ftz=ftz,
            t=(t,),
        )
        out += family(
            "set",
            "set.{cmp}{ftz}.{dt}.{t} {d:b32}, {a:%t}, {b:%t};",
            chain=False,
            cmp=cmps,
            ftz=ftz,
            dt=("u32", "s32", "f32"),
            t=(t,),
        )
    for t in ("f16x2", "bf16x2"):
        out += family(
            "setp", "setp.{cmp}.{t} {dp:pred}|{dq:pred}, {a:b32}, {b:b32};", chain=False, cmp=CMP_FLOAT, t=(t,)
        )
        out += family("set", "set.{cmp}.{t}.{t} {d:b32}, {a:b32}, {b:b32};", chain=False, cmp=CMP_FLOAT, t=(t,))
    return out


def _integer() -> list[Variant]:
    out = []
    for t in INT_TYPES:
        out += family(
            "int",
            "{op}.{t} {d:%t}, {a:%t}, {b:%t};",
            op=("add", "sub", "min", "max", "div", "rem", "mul.lo", "mul.hi"),
            t=(t,),
        )
        out += family("int", "{op}.{t} {d:%t}, {a:%t};", op=("abs", "neg"), t=(t,))
        out += family("int", "mad.{hl}.{t} {d:%t}, {a:%t}, {b:%t}, {c:%t};", hl=("lo", "hi"), t=(t,))
        out += family("int", "shr.{t} {d:%t}, {a:%t}, {b:b32};", t=(t,))
    for t in ("s32", "u32"):
        out += family("int", "{op}.sat.{t} {d:b32}, {a:b32}, {b:b32};", op=("add", "sub"), t=(t,))
        out += family("int", "mad.hi.sat.{t} {d:b32}, {a:b32}, {b:b32}, {c:b32};", t=(t,))
        out += family("int", "{op}.relu.{t} {d:b32}, {a:b32}, {b:b32};", op=("min", "max"), t=(t,))
        out += family("int", "{op}.{t} {d:b32}, {a:b32}, {b:b32}, {c:b32};", op=("min", "max"), t=(t,))
        out += family("int", "{op}.relu.{t} {d:b32}, {a:b32}, {b:b32}, {c:b32};", op=("min", "max"), t=(t,))
        out += family("int", "bfe.{t} {d:b32}, {a:b32}, {b:b32}, {c:b32};", t=(t,))
        out += family("int", "sad.{t} {d:b32}, {a:b32}, {b:b32}, {c:b32};", t=(t,))
        out += family("int", "bfind{sh}.{t} {d:b32}, {a:b32};", sh=("", ".shiftamt"), t=(t,))
        out += family("int", "szext.{m}.{t} {d:b32}, {a:b32}, {b:b32};", m=("wrap", "clamp"), t=(t,))
    for t in ("s16", "u16", "s32", "u32"):
        out += family(
            "int",
            "{op}.wide.{t} {d:%w}, {a:%t}, {b:%t};",
            op=("mul",),
            t=(t,),
            w=({"s16": "s32", "u16": "u32", "s32": "s64", "u32": "u64"}[t],),
        )
        out += family(
            "int",
            "mad.wide.{t} {d:%w}, {a:%t}, {b:%t}, {c:%w};",
            t=(t,),
            w=({"s16": "s32", "u16": "u32", "s32": "s64", "u32": "u64"}[t],),
        )
    for t in ("s64", "u64"):
        out += family("int", "{op}.{t} {d:b64}, {a:b64}, {b:b64};", op=("min.relu", "max.relu"), t=(t,))
        out += family("int", "bfe.{t} {d:b64}, {a:b64}, {b:b32}, {c:b32};", t=(t,))
        out += family("int", "bfind{sh}.{t} {d:b32}, {a:b64};", sh=("", ".shiftamt"), t=(t,), chain=False)
    for t in BIT_TYPES:
        out += family("bits", "{op}.{t} {d:%t}, {a:%t}, {b:%t};", op=("and", "or", "xor"), t=(t,))
        out += family("bits", "{op}.{t} {d:%t}, {a:%t};", op=("not", "cnot"), t=(t,))
        out += family("bits", "shl.{t} {d:%t}, {a:%t}, {b:b32};", t=(t,))
        out += family("bits", "shr.{t} {d:%t}, {a:%t}, {b:b32};", t=(t,))
    for t in ("b32", "b64"):
        out += family("bits", "{op}.{t} {d:%r}, {a:%t};", op=("popc", "clz"), t=(t,), r=("b32",), chain=t == "b32")
        out += family("bits", "brev.{t} {d:%t}, {a:%t};", t=(t,))
        out += family("bits", "bfi.{t} {d:%t}, {a:%t}, {b:%t}, {c:b32}, {e:b32};", t=(t,))
        out += family("bits", "fns.b32 {d:b32}, {a:b32}, {b:b32}, {c:b32};", t=(t,)) if t == "b32" else []
    out += family(
        "bits",
        "lop3.b32 {d:b32}, {a:b32}, {b:b32}, {c:b32}, {lut};",
        name="lop3.b32 (lut {lut})",
        lut=("0xe8", "0x96", "0x80", "0xfe", "0x6a"),
    )
    out += family(
        "bits", "lop3.{bop}.b32 {d:b32}|{dp:pred}, {a:b32}, {b:b32}, {c:b32}, 0x96, {q:pred};", bop=("or", "and")
    )
    out += family("bits", "shf.{lr}.{m}.b32 {d:b32}, {a:b32}, {b:b32}, {c:b32};", lr=("l", "r"), m=("wrap", "clamp"))
    out += family(
        "bits",
        "prmt.b32{mode} {d:b32}, {a:b32}, {b:b32}, {c:b32};",
        mode=("", ".f4e", ".b4e", ".rc8", ".ecl", ".ecr", ".rc16"),
    )
    out += family("bits", "bmsk.{m}.b32 {d:b32}, {a:b32}, {b:b32};", m=("wrap", "clamp"))
    out += family("int", "dp4a.{ta}.{tb} {d:b32}, {a:b32}, {b:b32}, {c:b32};", ta=("u32", "s32"), tb=("u32", "s32"))
    out += family(
        "int",
        "dp2a.{hl}.{ta}.{tb} {d:b32}, {a:b32}, {b:b32}, {c:b32};",
        hl=("lo", "hi"),
        ta=("u32", "s32"),
        tb=("u32", "s32"),
    )
    # extended-precision arithmetic (carry chains)
    out += family(
        "int",
        "{ add.cc.{t} {d:%t}, {a:%t}, {b:%t}; addc.{t} {d:%t}, {d:%t}, {b:%t}; }",
        name="add.cc+addc.{t}",
        t=("u32", "s32", "u64", "s64"),
    )
    out += family(
        "int",
        "{ sub.cc.{t} {d:%t}, {a:%t}, {b:%t}; subc.{t} {d:%t}, {d:%t}, {b:%t}; }",
        name="sub.cc+subc.{t}",
        t=("u32", "s32", "u64", "s64"),
    )
    out += family(
        "int",
        "{ mad.lo.cc.{t} {d:%t}, {a:%t}, {b:%t}, {c:%t}; madc.hi.{t} {d:%t}, {d:%t}, {b:%t}, {c:%t}; }",
        name="mad.lo.cc+madc.hi.{t}",
        t=("u32", "s32", "u64", "s64"),
    )
    return out


def _float() -> list[Variant]:
    out = []
    for t in ("f32", "f64", "f16", "bf16", "f16x2", "bf16x2", "f32x2"):
        ftz = ("", ".ftz") if t in ("f32", "f16", "f16x2", "f32x2") else ("",)
        sat = ("", ".sat") if t in ("f32", "f16", "f16x2", "f32x2") else ("",)
        for op in ("add", "sub", "mul"):
            out += family(
                "fp", "{op}{rnd}{ftz}{sat}.{t} {d:%t}, {a:%t}, {b:%t};", op=(op,), rnd=ROUND_F, ftz=ftz, sat=sat, t=(t,)
            )
        out += family(
            "fp", "fma{rnd}{ftz}{sat}.{t} {d:%t}, {a:%t}, {b:%t}, {c:%t};", rnd=ROUND_F[1:], ftz=ftz, sat=sat, t=(t,)
        )
        out += family("fp", "fma.rn{relu}.{t} {d:%t}, {a:%t}, {b:%t}, {c:%t};", relu=(".relu",), t=(t,))
        out += family(
            "fp",
            "{op}{ftz}{nan}.{t} {d:%t}, {a:%t}, {b:%t};",
            op=("min", "max"),
            ftz=ftz,
            nan=("", ".NaN", ".xorsign.abs"),
            t=(t,),
        )
        out += family("fp", "{op}{ftz}.{t} {d:%t}, {a:%t};", op=("abs", "neg"), ftz=ftz, t=(t,))
        if t == "f32":
            out += family("fp", "{op}{ftz}.f32 {d:b32}, {a:b32}, {b:b32}, {c:b32};", op=("min", "max"), ftz=ftz)
            out += family(
                "fp", "mad{rnd}{ftz}{sat}.f32 {d:b32}, {a:b32}, {b:b32}, {c:b32};", rnd=ROUND_F[1:], ftz=ftz, sat=sat
            )
            out += family(
                "fp",
                "{op}{ftz}.{t} {d:b32}, {a:b32}, {b:b32};",
                op=("div.approx", "div.full", "div.rn", "div.rz", "div.rm", "div.rp"),
                ftz=ftz,
                t=(t,),
            )
            out += family(
                "fp",
                "{op}{ftz}.f32 {d:b32}, {a:b32};",
                op=(
                    "rcp.approx",
                    "rcp.rn",
                    "rcp.rz",
                    "rcp.rm",
                    "rcp.rp",
                    "sqrt.approx",
                    "sqrt.rn",
                    "sqrt.rz",
                    "sqrt.rm",
                    "sqrt.rp",
                    "rsqrt.approx",
                    "sin.approx",
                    "cos.approx",
                    "lg2.approx",
                    "ex2.approx",
                ),
                ftz=ftz,
            )
            out += family("fp", "tanh.approx.f32 {d:b32}, {a:b32};")
            out += family("fp", "copysign.f32 {d:b32}, {a:b32}, {b:b32};")
            out += family(
                "fp",
                "testp.{p}.f32 {dp:pred}, {a:b32};",
                chain=False,
                p=("finite", "infinite", "number", "notanumber", "normal", "subnormal"),
            )
            out += family("fp", "rsqrt.approx.ftz.f64 {d:b64}, {a:b64};")
        if t == "f64":
            out += family("fp", "{op}.f64 {d:b64}, {a:b64}, {b:b64};", op=("div.rn", "div.rz", "div.rm", "div.rp"))
            out += family(
                "fp",
                "{op}.f64 {d:b64}, {a:b64};",
                op=(
                    "rcp.rn",
                    "rcp.rz",
                    "rcp.rm",
                    "rcp.rp",
                    "sqrt.rn",
                    "sqrt.rz",
                    "sqrt.rm",
                    "sqrt.rp",
                    "rsqrt.approx",
                    "rcp.approx.ftz",
                ),
            )
            out += family("fp", "copysign.f64 {d:b64}, {a:b64}, {b:b64};")
            out += family(
                "fp",
                "testp.{p}.f64 {dp:pred}, {a:b64};",
                chain=False,
                p=("finite", "infinite", "number", "notanumber", "normal", "subnormal"),
            )
        if t in ("f16", "f16x2", "bf16", "bf16x2"):
            out += family("fp", "{op}.approx{ftz}.{t} {d:%t}, {a:%t};", op=("ex2", "tanh"), ftz=("", ".ftz"), t=(t,))
    return out


def _cvt() -> list[Variant]:
    out = []
    for dt in CVT_TYPES:
        for st in CVT_TYPES:
            if dt == st and dt not in ("f16", "bf16", "f32", "f64"):
                continue
            rnds = (
                ROUND_I
                if dt in CVT_TYPES[:8] and st in FLOAT_TYPES
                else ROUND_I
                if dt == st
                else ROUND_F
                if dt in FLOAT_TYPES
                else ("",)
            )
            chain = register_class(dt) == register_class(st)
            out += family(
                "cvt",
                "cvt{rnd}{ftz}{sat}.{dt}.{st} {d:%dt}, {a:%st};",
                chain=chain,
                rnd=rnds,
                ftz=("", ".ftz") if "f32" in (dt, st) else ("",),
                sat=("", ".sat"),
                dt=(dt,),
                st=(st,),
            )
    # packed narrow floats: two (four) f32 in, one b16 (b32) out; and back to f16x2 / bf16x2
    for dt in ("e4m3x2", "e5m2x2", "e2m3x2", "e3m2x2", "e2m1x2"):
        out += family(
            "cvt-fp8",
            "cvt.rn{relu}.satfinite.{dt}.f32 {d:b16}, {a:b32}, {b:b32};",
            chain=False,
            relu=("", ".relu"),
            dt=(dt,),
        )
        out += family("cvt-fp8", "cvt.rn{relu}.f16x2.{st} {d:b32}, {a:b16};", chain=False, relu=("", ".relu"), st=(dt,))
    for dt in ("e4m3x2", "e5m2x2"):
        out += family(
            "cvt-fp8", "cvt.rn{relu}.satfinite.{dt}.f16x2 {d:b16}, {a:b32};", chain=False, relu=("", ".relu"), dt=(dt,)
        )
        out += family(
            "cvt-fp8", "cvt.rn{relu}.satfinite.{dt}.bf16x2 {d:b16}, {a:b32};", chain=False, relu=("", ".relu"), dt=(dt,)
        )
    for dt in ("e2m3x2", "e3m2x2", "e2m1x2"):
        out += family(
            "cvt-fp8", "cvt.rn{relu}.satfinite.{dt}.f16x2 {d:b16}, {a:b32};", chain=False, relu=("", ".relu"), dt=(dt,)
        )
    out += family(
        "cvt-fp8",
        "cvt{rnd}{sat}.ue8m0x2.f32 {d:b16}, {a:b32}, {b:b32};",
        chain=False,
        rnd=(".rz", ".rp"),
        sat=("", ".satfinite"),
    )
    out += family(
        "cvt-fp8",
        "cvt{rnd}{sat}.ue8m0x2.bf16x2 {d:b16}, {a:b32};",
        chain=False,
        rnd=(".rz", ".rp"),
        sat=("", ".satfinite"),
    )
    out += family("cvt-fp8", "cvt.rn.bf16x2.ue8m0x2 {d:b32}, {a:b16};", chain=False)
    out += family(
        "cvt-fp8",
        "cvt.rs{relu}.satfinite.{dt}.f32 {d:b32}, {{a:b32}, {b:b32}, {c:b32}, {e:b32}}, {f:b32};",
        chain=False,
        relu=("", ".relu"),
        dt=("e4m3x4", "e5m2x4"),
    )
    for dt in ("f16x2", "bf16x2"):
        out += family(
            "cvt",
            "cvt{rnd}{relu}{sat}.{dt}.f32 {d:b32}, {a:b32}, {b:b32};",
            chain=True,
            rnd=(".rn", ".rz", ".rs"),
            relu=("", ".relu"),
            sat=("", ".satfinite"),
            dt=(dt,),
        )
    out += family("cvt", "cvt.rna{sat}.tf32.f32 {d:b32}, {a:b32};", sat=("", ".satfinite"))
    out += family("cvt", "cvt{rnd}{relu}.satfinite.tf32.f32 {d:b32}, {a:b32};", rnd=(".rn", ".rz"), relu=("", ".relu"))
    out += family("cvt", "cvt.{f}.{ty}.f32 {d:b32}, {a:b32};", f=("rn", "rz"), ty=("f16", "bf16"), chain=False)
    return out


def _memory() -> list[Variant]:
    out = []
    atom_types = ("b32", "b64", "u32", "u64", "s32", "s64", "f32", "f64", "f16", "f16x2", "bf16", "bf16x2", "b128")
    ops = ("add", "min", "max", "inc", "dec", "and", "or", "xor", "exch", "cas")
    for space, addr in ((".global", "{ga_}"), (".shared", "{sa_}"), ("", "{ga_}")):
        for t in atom_types:
            for op in ops:
                cas = ", {b:%t}" if op == "cas" else ""
                nan = op in ("add",) and t in ("f16", "f16x2", "bf16", "bf16x2")
                out += family(
                    "atom",
                    f"atom{space}.{op}{'.noftz' if nan else ''}.{{t}} {{d:%t}}, [{addr}], {{a:%t}}{cas};",
                    t=(t,),
                )
                if op != "cas" and op != "exch":
                    out += family(
                        "red",
                        f"red{space}.{op}{'.noftz' if nan else ''}.{{t}} [{addr}], {{a:%t}};",
                        chain=False,
                        t=(t,),
                    )
    for sem, scope in itertools.product(SEMS[1:], SCOPES[1:]):
        for space, addr in ((".global", "{ga_}"), (".shared", "{sa_}")):
            out += family(
                "atom",
                f"atom{sem}{scope}{space}.{{op}}.{{t}} {{d:%t}}, [{addr}], {{a:%t}};",
                op=("add", "exch"),
                t=("u32", "f32"),
            )
            if sem not in (".acquire", ".acq_rel"):
                out += family(
                    "red", f"red{sem}{scope}{space}.add.{{t}} [{addr}], {{a:%t}};", chain=False, t=("u32", "f32")
                )
    out += family(
        "atom",
        "atom.global.{vec}.{t} {{d0:b32}, {d1:b32}}, [{ga_}], {{a0:b32}, {a1:b32}};",
        chain=False,
        vec=("v2",),
        t=("f32", "f16x2", "bf16x2"),
    )
    out += family("atom", "atom.global.L2::cache_hint.add.{t} {d:%t}, [{ga_}], {a:%t}, {pol:b64};", t=("u32", "f32"))
    out += family("red", "red.global.L2::cache_hint.add.{t} [{ga_}], {a:%t}, {pol:b64};", chain=False, t=("u32", "f32"))
    # loads and stores: every space x a few types x cache qualifiers (the cache-hint atlas covers widths)
    for t in ("b8", "b16", "b32", "b64", "u8", "s8", "f32", "v2.b32", "v4.b32", "v2.b64", "b128", "v4.b64", "v8.b32"):
        cls = {"v2.b32": "b32*2", "v4.b32": "b32*4", "v2.b64": "b64*2", "v4.b64": "b64*4", "v8.b32": "b32*8"}.get(
            t
        ) or register_class(t)
        for space, addr in (
            (".global", "{ga_}"),
            (".shared", "{sa_}"),
            (".local", "{la_}"),
            ("", "{ga_}"),
            (".const", "{ca_}"),
        ):
            quals = (
                "",
                ".ca",
                ".cg",
                ".cs",
                ".lu",
                ".cv",
                ".volatile",
                ".relaxed.gpu",
                ".acquire.gpu",
                ".relaxed.sys",
                ".acquire.sys",
                ".relaxed.cta",
                ".acquire.cta",
                ".mmio.relaxed.sys",
            )
            for q in quals if space in (".global", "") else ("", ".volatile"):
                vol = q in (".volatile",) or q.startswith((".relaxed", ".acquire", ".mmio"))
                text = f"ld{q if vol else ''}{space}{'' if vol else q}.{t} {{d:{cls}}}, [{addr}];"
                out.append(Variant(re.sub(r"\s+", " ", _opcode(text)), "ld", text, False))
                if space != ".const" and q in ("", ".volatile", ".relaxed.gpu", ".relaxed.sys", ".relaxed.cta"):
                    stext = f"st{q if vol else ''}{space}.{t} [{addr}], {{a:{cls}}};"
                    out.append(Variant(_opcode(stext), "st", stext, False))
            if space in (".global", ""):
                for q in (
                    ".wb",
                    ".cg",
                    ".cs",
                    ".wt",
                    ".release.gpu",
                    ".release.sys",
                    ".release.cta",
                    ".L1::no_allocate",
                    ".L1::evict_first",
                    ".L1::evict_last",
                    ".L1::evict_unchanged",
                    ".L1::evict_normal",
                ):
                    rel = q.startswith(".release")
                    stext = f"st{q if rel else ''}{space}{'' if rel else q}.{t} [{addr}], {{a:{cls}}};"
                    out.append(Variant(_opcode(stext), "st", stext, False))
        if t in ("b32", "v4.b32", "b64"):
            for q in (
                ".nc",
                ".nc.L1::no_allocate",
                ".L1::evict_first",
                ".L1::evict_last",
                ".L1::evict_normal",
                ".L1::evict_unchanged",
                ".L1::no_allocate",
                ".L2::64B",
                ".L2::128B",
                ".L2::256B",
                ".nc.L2::256B",
                ".L1::evict_last.L2::256B",
                ".nc.L1::no_allocate.L2::256B",
            ):
                text = f"ld.global{q}.{t} {{d:{cls}}}, [{{ga_}}];"
                out.append(Variant(_opcode(text), "ld", text, False))
            for q in ("", ".nc", ".L1::evict_last"):
                text = f"ld.global{q}.L2::cache_hint.{t} {{d:{cls}}}, [{{ga_}}], {{pol:b64}};"
                out.append(Variant(_opcode(text), "ld", text, False))
                stext = f"st.global{q.replace('.nc', '')}.L2::cache_hint.{t} [{{ga_}}], {{a:{cls}}}, {{pol:b64}};"
                if q != ".nc":
                    out.append(Variant(_opcode(stext), "st", stext, False))
    for q in ("L1", "L2", "L2::evict_last", "L2::evict_normal"):
        for space in (".global", "", ".local"):
            out.append(Variant(f"prefetch{space}.{q}", "prefetch", f"prefetch{space}.{q} [{{ga_}}];", False))
    out.append(Variant("prefetchu.L1", "prefetch", "prefetchu.L1 [{ga_}];", False))
    out.append(Variant("prefetch.tensormap", "prefetch", "prefetch.tensormap [{ga_}];", False))
    out.append(Variant("discard.global.L2", "prefetch", "discard.global.L2 [{ga_}], 128;", False))
    out.append(
        Variant(
            "applypriority.global.L2::evict_normal",
            "prefetch",
            "applypriority.global.L2::evict_normal [{ga_}], 128;",
            False,
        )
    )
    out += family(
        "prefetch",
        "createpolicy.fractional.L2::{p}.b64 {d:b64}, 1.0;",
        chain=False,
        p=("evict_last", "evict_first", "evict_normal", "evict_unchanged"),
    )
    out += family(
        "prefetch", "createpolicy.range.L2::evict_last.L2::evict_first.b64 {d:b64}, [{ga_}], 256, 1024;", chain=False
    )
    # cp.async (sm_80+), with and without cache qualifiers and hints
    for cache, sizes in ((".ca", (4, 8, 16)), (".cg", (16,))):
        for size in sizes:
            for l2 in ("", ".L2::64B", ".L2::128B", ".L2::256B"):
                out.append(
                    Variant(
                        f"cp.async{cache}.shared.global{l2} [{size}]",
                        "cp.async",
                        f"cp.async{cache}.shared.global{l2} [{{sa_}}], [{{ga_}}], {size};",
                        False,
                    )
                )
            out.append(
                Variant(
                    f"cp.async{cache}.shared.global.L2::cache_hint [{size}]",
                    "cp.async",
                    f"cp.async{cache}.shared.global.L2::cache_hint [{{sa_}}], [{{ga_}}], {size}, {{pol:b64}};",
                    False,
                )
            )
        out.append(
            Variant(
                f"cp.async{cache}.shared.global [src-size]",
                "cp.async",
                f"cp.async{cache}.shared.global [{{sa_}}], [{{ga_}}], 16, {{a:b32}};",
                False,
            )
        )
    for t in ("commit_group", "wait_group 0", "wait_group 1", "wait_all"):
        out.append(Variant(f"cp.async.{t}", "cp.async", f"cp.async.{t};", False))
    out.append(Variant("cp.async.mbarrier.arrive.b64", "cp.async", "cp.async.mbarrier.arrive.b64 [{sa_}];", False))
    out.append(
        Variant("cp.async.mbarrier.arrive.noinc.b64", "cp.async", "cp.async.mbarrier.arrive.noinc.b64 [{sa_}];", False)
    )
    # bulk copies (sm_90+)
    mb = "mbarrier::complete_tx::bytes"
    for dst in ("shared::cluster", "shared::cta"):
        for hint in ("", ".L2::cache_hint"):
            pol = ", {pol:b64}" if hint else ""
            out.append(
                Variant(
                    f"cp.async.bulk.{dst}.global.{mb}{hint}",
                    "cp.async.bulk",
                    f"cp.async.bulk.{dst}.global.{mb}{hint} [{{sa_}}], [{{ga_}}], 256, [{{sb_}}]{pol};",
                    False,
                )
            )
    for hint in ("", ".L2::cache_hint"):
        pol = ", {pol:b64}" if hint else ""
        out.append(
            Variant(
                f"cp.async.bulk.global.shared::cta.bulk_group{hint}",
                "cp.async.bulk",
                f"cp.async.bulk.global.shared::cta.bulk_group{hint} [{{ga_}}], [{{sa_}}], 256{pol};",
                False,
            )
        )
        out.append(
            Variant(
                f"cp.async.bulk.prefetch.L2.global{hint}",
                "cp.async.bulk",
                f"cp.async.bulk.prefetch.L2.global{hint} [{{ga_}}], 256{pol};",
                False,
            )
        )
    out.append(
        Variant(
            "cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes",
            "cp.async.bulk",
            "cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes [{sa_}], [{sb_}], 256, [{sc_}];",
            False,
        )
    )
    for op in ("add", "min", "max", "and", "or", "xor", "inc", "dec"):
        for t in ("u32", "s32", "u64", "f32", "f16", "bf16"):
            out.append(
                Variant(
                    f"cp.reduce.async.bulk.global.shared::cta.bulk_group.{op}.{t}",
                    "cp.async.bulk",
                    f"cp.reduce.async.bulk.global.shared::cta.bulk_group.{op}{'.noftz' if t in ('f16', 'bf16') else ''}.{t} "
                    f"[{{ga_}}], [{{sa_}}], 256;",
                    False,
                )
            )
    for t in ("commit_group", "wait_group 0", "wait_group.read 0"):
        out.append(Variant(f"cp.async.bulk.{t}", "cp.async.bulk", f"cp.async.bulk.{t};", False))
    for dim in range(1, 6):
        coords = ", ".join("{a:b32}" if i == 0 else "{b:b32}" for i in range(dim))
        for mode in (".tile", ".im2col") if dim >= 3 else (".tile",):
            extra = ", {{{h:b16}}}" if mode == ".im2col" else ""
            extra = ", {" + ", ".join("{h:b16}" for _ in range(dim - 2)) + "}" if mode == ".im2col" else ""
            for hint in ("", ".L2::cache_hint"):
                pol = ", {pol:b64}" if hint else ""
                out.append(
                    Variant(
                        f"cp.async.bulk.tensor.{dim}d.shared::cluster.global{mode}.{mb}{hint}",
                        "cp.async.bulk.tensor",
                        f"cp.async.bulk.tensor.{dim}d.shared::cluster.global{mode}.{mb}{hint} [{{sa_}}], "
                        f"[{{ga_}}, {{{coords}}}], [{{sb_}}]{extra}{pol};",
                        False,
                    )
                )
            out.append(
                Variant(
                    f"cp.async.bulk.tensor.{dim}d.global.shared::cta{mode}.bulk_group",
                    "cp.async.bulk.tensor",
                    f"cp.async.bulk.tensor.{dim}d.global.shared::cta{mode}.bulk_group "
                    f"[{{ga_}}, {{{coords}}}], [{{sa_}}];",
                    False,
                )
            )
            out.append(
                Variant(
                    f"cp.async.bulk.prefetch.tensor.{dim}d.L2.global{mode}",
                    "cp.async.bulk.tensor",
                    f"cp.async.bulk.prefetch.tensor.{dim}d.L2.global{mode} [{{ga_}}, {{{coords}}}]{extra};",
                    False,
                )
            )
    return out


def _sync() -> list[Variant]:
    out = []
    for s in ("cta", "gl", "sys"):
        out.append(Variant(f"membar.{s}", "fence", f"membar.{s};", False))
    for sem in ("sc", "acq_rel", "acquire", "release"):
        for scope in ("cta", "cluster", "gpu", "sys"):
            out.append(Variant(f"fence.{sem}.{scope}", "fence", f"fence.{sem}.{scope};", False))
    for p in ("alias", "async", "async.global", "async.shared::cta", "async.shared::cluster"):
        out.append(Variant(f"fence.proxy.{p}", "fence", f"fence.proxy.{p};", False))
    for d in ("release", "acquire"):
        out.append(
            Variant(
                f"fence.proxy.tensormap::generic.{d}.gpu",
                "fence",
                f"fence.proxy.tensormap::generic.{d}.gpu" + (" [{ga_}], 128;" if d == "acquire" else ";"),
                False,
            )
        )
    out.append(Variant("fence.mbarrier_init.release.cluster", "fence", "fence.mbarrier_init.release.cluster;", False))
    for b in (
        "bar.sync 0",
        "bar.arrive 0, 64",
        "bar.red.popc.u32",
        "barrier.sync 0",
        "barrier.sync.aligned 0",
        "bar.warp.sync -1",
        "barrier.cluster.arrive",
        "barrier.cluster.wait",
        "barrier.cluster.arrive.relaxed",
        "barrier.cluster.arrive.aligned",
    ):
        if b == "bar.red.popc.u32":
            out.append(Variant(b, "barrier", "bar.red.popc.u32 {d:b32}, 0, {p:pred};", False))
        else:
            out.append(Variant(b.split(" ")[0], "barrier", b + ";", False))
    out.append(
        Variant(
            "bar.sync",
            "barrier",
            "{ bar.sync 0; add.u32 {d:b32}, {a:b32}, {b:b32}; }",
            True,
            note="the dynamic probe's step (a bar.sync and an add)",
        )
    )
    # drop the duplicate plain name created above
    out = [v for k, v in enumerate(out) if not (v.name == "bar.sync" and v.template == "bar.sync 0;")]
    # mbarrier (sm_80+; the expect_tx / try_wait forms sm_90+)
    mbs = [
        ("mbarrier.init.shared.b64", "mbarrier.init.shared.b64 [{sa_}], {a:b32};"),
        ("mbarrier.inval.shared.b64", "mbarrier.inval.shared.b64 [{sa_}];"),
        ("mbarrier.arrive.shared.b64", "mbarrier.arrive.shared.b64 {d:b64}, [{sa_}];"),
        (
            "mbarrier.arrive.release.cluster.shared::cta.b64",
            "mbarrier.arrive.release.cluster.shared::cta.b64 {d:b64}, [{sa_}];",
        ),
        ("mbarrier.arrive.noComplete.shared.b64", "mbarrier.arrive.noComplete.shared.b64 {d:b64}, [{sa_}], {a:b32};"),
        ("mbarrier.arrive_drop.shared.b64", "mbarrier.arrive_drop.shared.b64 {d:b64}, [{sa_}];"),
        (
            "mbarrier.arrive.expect_tx.shared::cta.b64",
            "mbarrier.arrive.expect_tx.shared::cta.b64 {d:b64}, [{sa_}], {a:b32};",
        ),
        (
            "mbarrier.expect_tx.relaxed.cta.shared::cta.b64",
            "mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [{sa_}], {a:b32};",
        ),
        (
            "mbarrier.complete_tx.relaxed.cta.shared::cta.b64",
            "mbarrier.complete_tx.relaxed.cta.shared::cta.b64 [{sa_}], {a:b32};",
        ),
        ("mbarrier.test_wait.shared.b64", "mbarrier.test_wait.shared.b64 {dp:pred}, [{sa_}], {a:b64};"),
        ("mbarrier.test_wait.parity.shared.b64", "mbarrier.test_wait.parity.shared.b64 {dp:pred}, [{sa_}], {a:b32};"),
        ("mbarrier.try_wait.shared::cta.b64", "mbarrier.try_wait.shared::cta.b64 {dp:pred}, [{sa_}], {a:b64};"),
        (
            "mbarrier.try_wait.parity.shared::cta.b64",
            "mbarrier.try_wait.parity.shared::cta.b64 {dp:pred}, [{sa_}], {a:b32};",
        ),
        (
            "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64",
            "mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64 {dp:pred}, [{sa_}], {a:b32};",
        ),
        ("mbarrier.pending_count.b64", "mbarrier.pending_count.b64 {d:b32}, {a:b64};"),
    ]
    out += [Variant(n, "mbarrier", t, False) for n, t in mbs]
    # warp-level
    for mode in ("idx", "up", "down", "bfly"):
        out.append(Variant(f"shfl.sync.{mode}.b32", "warp", f"shfl.sync.{mode}.b32 {{d:b32}}, {{a:b32}}, 1, 31, -1;"))
        out.append(
            Variant(
                f"shfl.sync.{mode}.b32 (pred)",
                "warp",
                f"shfl.sync.{mode}.b32 {{d:b32}}|{{dp:pred}}, {{a:b32}}, {{b:b32}}, 31, -1;",
            )
        )
    for m in ("all", "any", "uni"):
        out.append(Variant(f"vote.sync.{m}.pred", "warp", f"vote.sync.{m}.pred {{dp:pred}}, {{p:pred}}, -1;", False))
    out.append(Variant("vote.sync.ballot.b32", "warp", "vote.sync.ballot.b32 {d:b32}, {p:pred}, -1;", False))
    for t in ("b32", "b64"):
        out.append(
            Variant(
                f"match.any.sync.{t}",
                "warp",
                f"match.any.sync.{t} {{d:b32}}, {{a:%s}}, -1;".replace("%s", t),
                t == "b32",
            )
        )
        out.append(
            Variant(
                f"match.all.sync.{t}", "warp", f"match.all.sync.{t} {{d:b32}}|{{dp:pred}}, {{a:{t}}}, -1;", t == "b32"
            )
        )
    for op, ts in (
        ("add", ("u32", "s32")),
        ("min", ("u32", "s32")),
        ("max", ("u32", "s32")),
        ("and", ("b32",)),
        ("or", ("b32",)),
        ("xor", ("b32",)),
    ):
        for t in ts:
            out.append(Variant(f"redux.sync.{op}.{t}", "warp", f"redux.sync.{op}.{t} {{d:b32}}, {{a:b32}}, -1;"))
    for op in ("min", "max"):
        for abs_ in ("", ".abs"):
            for nan in ("", ".NaN"):
                out.append(
                    Variant(
                        f"redux.sync.{op}{abs_}{nan}.f32",
                        "warp",
                        f"redux.sync.{op}{abs_}{nan}.f32 {{d:b32}}, {{a:b32}}, -1;",
                    )
                )
    out.append(Variant("activemask.b32", "warp", "activemask.b32 {d:b32};", False))
    out.append(Variant("elect.sync", "warp", "elect.sync {d:b32}|{dp:pred}, -1;", False))
    out.append(Variant("nanosleep.u32", "misc", "nanosleep.u32 {a:b32};", False))
    out.append(Variant("griddepcontrol.launch_dependents", "misc", "griddepcontrol.launch_dependents;", False))
    out.append(Variant("griddepcontrol.wait", "misc", "griddepcontrol.wait;", False))
    for d in ("inc", "dec"):
        out.append(Variant(f"setmaxnreg.{d}.sync.aligned.u32", "misc", f"setmaxnreg.{d}.sync.aligned.u32 128;", False))
    for r in (
        "clock",
        "clock64",
        "globaltimer",
        "smid",
        "nsmid",
        "warpid",
        "laneid",
        "lanemask_lt",
        "clusterid.x",
        "cluster_ctarank",
        "dynamic_smem_size",
        "total_smem_size",
    ):
        cls = "b64" if r in ("clock64", "globaltimer") else "b32"
        out.append(Variant(f"mov %{r}", "sreg", f"mov.{'u64' if cls == 'b64' else 'u32'} {{d:{cls}}}, %{r};", False))
    out.append(Variant("mapa.shared::cluster.u32", "misc", "mapa.shared::cluster.u32 {d:b32}, {a:b32}, {b:b32};"))
    out.append(Variant("getctarank.shared::cluster.u32", "misc", "getctarank.shared::cluster.u32 {d:b32}, {a:b32};"))
    out.append(Variant("isspacep.shared", "misc", "isspacep.shared {dp:pred}, {a:b64};", False))
    out.append(Variant("cvta.to.shared.u64", "misc", "cvta.to.shared.u64 {d:b64}, {a:b64};"))
    out.append(Variant("cvta.shared.u64", "misc", "cvta.shared.u64 {d:b64}, {a:b64};"))
    out.append(Variant("stackrestore/stacksave", "misc", "{ stacksave.u64 {d:b64}; stackrestore.u64 {d:b64}; }", False))
    out.append(Variant("trap", "misc", "@{p:pred} trap;", False))
    out.append(Variant("brkpt", "misc", "@{p:pred} brkpt;", False))
    out.append(Variant("pmevent 1", "misc", "pmevent 1;", False))
    return out


def _video() -> list[Variant]:
    out = []
    for op in ("vadd", "vsub", "vabsdiff", "vmin", "vmax"):
        out += family(
            "video",
            f"{op}.{{dt}}.{{at}}.{{bt}}{{sat}} {{d:b32}}, {{a:b32}}, {{b:b32}};",
            dt=("u32", "s32"),
            at=("u32", "s32"),
            bt=("u32", "s32"),
            sat=("", ".sat"),
        )
        out += family(
            "video",
            f"{op}.{{dt}}.{{at}}.{{bt}}.add {{d:b32}}, {{a:b32}}, {{b:b32}}, {{c:b32}};",
            dt=("u32", "s32"),
            at=("u32",),
            bt=("u32",),
        )
    for op in ("vshl", "vshr"):
        out += family(
            "video",
            f"{op}.{{dt}}.{{at}}.u32.{{m}} {{d:b32}}, {{a:b32}}, {{b:b32}};",
            dt=("u32", "s32"),
            at=("u32", "s32"),
            m=("clamp", "wrap"),
        )
    out += family(
        "video",
        "vmad.{dt}.{at}.{bt} {d:b32}, {a:b32}, {b:b32}, {c:b32};",
        dt=("u32", "s32"),
        at=("u32", "s32"),
        bt=("u32", "s32"),
    )
    out += family(
        "video",
        "vset.{at}.{bt}.{cmp} {d:b32}, {a:b32}, {b:b32};",
        at=("u32", "s32"),
        bt=("u32", "s32"),
        cmp=("eq", "ne", "lt", "le", "gt", "ge"),
    )
    for op in (
        "vadd2",
        "vsub2",
        "vavrg2",
        "vabsdiff2",
        "vmin2",
        "vmax2",
        "vadd4",
        "vsub4",
        "vavrg4",
        "vabsdiff4",
        "vmin4",
        "vmax4",
    ):
        out += family(
            "video",
            f"{op}.{{dt}}.{{at}}.{{bt}}{{sat}} {{d:b32}}, {{a:b32}}, {{b:b32}}, {{c:b32}};",
            dt=("u32", "s32"),
            at=("u32", "s32"),
            bt=("u32", "s32"),
            sat=("", ".sat"),
        )
    out += family(
        "video",
        "vset{n}.{at}.{bt}.{cmp} {d:b32}, {a:b32}, {b:b32}, {c:b32};",
        n=("2", "4"),
        at=("u32", "s32"),
        bt=("u32", "s32"),
        cmp=("eq", "ne", "lt", "le", "gt", "ge"),
    )
    return out


def _regs(k: str, n: int) -> str:
    return "{" + ", ".join(f"{{{k}{i}:b32}}" for i in range(n)) + "}"


def _mma_rows() -> list[Variant]:
    """mma.sync shapes (each target keeps the ones it accepts), mma.sp, block-scaled, wmma, ldmatrix & co."""
    out = []
    # (shape, types d.a.b.c, A regs, B regs, C/D regs, register class of C/D)
    shapes = [
        ("m8n8k4", "f32.f16.f16.f32", 2, 2, 8, "b32"),
        ("m8n8k4", "f16.f16.f16.f16", 2, 2, 4, "b32"),
        ("m16n8k8", "f32.f16.f16.f32", 2, 1, 4, "b32"),
        ("m16n8k8", "f16.f16.f16.f16", 2, 1, 2, "b32"),
        ("m16n8k16", "f32.f16.f16.f32", 4, 2, 4, "b32"),
        ("m16n8k16", "f16.f16.f16.f16", 4, 2, 2, "b32"),
        ("m16n8k8", "f32.bf16.bf16.f32", 2, 1, 4, "b32"),
        ("m16n8k16", "f32.bf16.bf16.f32", 4, 2, 4, "b32"),
        ("m16n8k4", "f32.tf32.tf32.f32", 2, 1, 4, "b32"),
        ("m16n8k8", "f32.tf32.tf32.f32", 4, 2, 4, "b32"),
        ("m8n8k4", "f64.f64.f64.f64", 1, 1, 2, "b64"),
        ("m16n8k4", "f64.f64.f64.f64", 2, 1, 4, "b64"),
        ("m16n8k8", "f64.f64.f64.f64", 4, 2, 4, "b64"),
        ("m16n8k16", "f64.f64.f64.f64", 8, 4, 4, "b64"),
        ("m8n8k16", "s32.s8.s8.s32", 1, 1, 2, "b32"),
        ("m8n8k16", "s32.u8.u8.s32", 1, 1, 2, "b32"),
        ("m16n8k16", "s32.s8.s8.s32", 2, 1, 4, "b32"),
        ("m16n8k32", "s32.s8.s8.s32", 4, 2, 4, "b32"),
        ("m16n8k32", "s32.u8.s8.s32", 4, 2, 4, "b32"),
        ("m8n8k32", "s32.s4.s4.s32", 1, 1, 2, "b32"),
        ("m16n8k32", "s32.s4.s4.s32", 2, 1, 4, "b32"),
        ("m16n8k64", "s32.s4.s4.s32", 4, 2, 4, "b32"),
        ("m8n8k128", "s32.b1.b1.s32.and.popc", 1, 1, 2, "b32"),
        ("m16n8k128", "s32.b1.b1.s32.xor.popc", 2, 1, 4, "b32"),
        ("m16n8k256", "s32.b1.b1.s32.and.popc", 4, 2, 4, "b32"),
        ("m16n8k16", "f32.e4m3.e4m3.f32", 2, 1, 4, "b32"),
        ("m16n8k32", "f32.e4m3.e4m3.f32", 4, 2, 4, "b32"),
        ("m16n8k32", "f32.e5m2.e5m2.f32", 4, 2, 4, "b32"),
        ("m16n8k32", "f32.e4m3.e5m2.f32", 4, 2, 4, "b32"),
        ("m16n8k32", "f16.e4m3.e4m3.f16", 4, 2, 2, "b32"),
    ]
    for shape, types, a, b, cd, cls in shapes:
        sat = ".satfinite" if types.startswith("s32") and "b1" not in types else ""
        acc = "{" + ", ".join(f"{{x{i}:{cls}}}" for i in range(cd)) + "}"
        dacc = acc.replace("{x", "{dx")
        ta = (
            _regs("a", a)
            if cls == "b32" or "f64" not in types
            else "{" + ", ".join(f"{{a{i}:b64}}" for i in range(a)) + "}"
        )
        tb = _regs("b", b) if "f64" not in types else "{" + ", ".join(f"{{b{i}:b64}}" for i in range(b)) + "}"
        for s in ("", sat) if sat else ("",):
            name = f"mma.sync.aligned.{shape}.row.col{s}.{types}"
            text = f"mma.sync.aligned.{shape}.row.col{s}.{types} {dacc}, {ta}, {tb}, {acc};"
            out.append(Variant(name, "mma", text, False))
    # the dynamic probes' mma steps (chain through the accumulator) under their own short names
    for short, shape, types in (
        ("mma.sync.m16n8k16.f32.f16", "m16n8k16", "f32.f16.f16.f32"),
        ("mma.sync.m16n8k16.f32.bf16", "m16n8k16", "f32.bf16.bf16.f32"),
        ("mma.sync.m16n8k8.f32.tf32", "m16n8k8", "f32.tf32.tf32.f32"),
    ):
        a, b = (4, 2)
        text = (
            f"mma.sync.aligned.{shape}.row.col.{types} {{{{d:b32}}, {{dy1:b32}}, {{dy2:b32}}, {{dy3:b32}}}}, "
            f"{_regs('a', a)}, {_regs('b', b)}, {{{{a:b32}}, {{z1:b32}}, {{z2:b32}}, {{z3:b32}}}};"
        )
        out.append(Variant(short, "mma", text, True, note="chain through accumulator element 0"))
    # kind:: forms (sm_120a block-scaled and f8f6f4)
    for kind, types in (
        ("f8f6f4", "f32.e4m3.e4m3.f32"),
        ("f8f6f4", "f32.e2m1.e2m1.f32"),
        ("f8f6f4", "f32.e3m2.e2m3.f32"),
    ):
        out.append(
            Variant(
                f"mma.sync.aligned.m16n8k32.row.col.kind::{kind}.{types}",
                "mma",
                f"mma.sync.aligned.m16n8k32.row.col.kind::{kind}.{types} {_regs('dx', 4)}, "
                f"{_regs('a', 4)}, {_regs('b', 2)}, {_regs('x', 4)};",
                False,
            )
        )
    for kind, sf, k, types in (
        ("mxf8f6f4", "ue8m0", 32, "f32.e4m3.e4m3.f32"),
        ("mxf4", "ue8m0", 64, "f32.e2m1.e2m1.f32"),
        ("mxf4nvf4", "ue8m0", 64, "f32.e2m1.e2m1.f32"),
        ("mxf4nvf4", "ue4m3", 64, "f32.e2m1.e2m1.f32"),
    ):
        vec = {
            "mxf8f6f4": ".scale_vec::1X",
            "mxf4": ".scale_vec::2X",
            "mxf4nvf4": ".scale_vec::2X" if sf == "ue8m0" else ".scale_vec::4X",
        }[kind]
        out.append(
            Variant(
                f"mma.sync.aligned.m16n8k{k}.row.col.kind::{kind}.block_scale{vec}.{types}.{sf}",
                "mma",
                f"mma.sync.aligned.m16n8k{k}.row.col.kind::{kind}.block_scale{vec}.{types}.{sf} "
                f"{_regs('dx', 4)}, {_regs('a', 4)}, {_regs('b', 2)}, {_regs('x', 4)}, {{sfa:b32}}, "
                "{0, 0}, {sfb:b32}, {0, 0};",
                False,
            )
        )
    # sparse
    for shape, types, a, b, cd in (
        ("m16n8k16", "f32.f16.f16.f32", 2, 2, 4),
        ("m16n8k32", "f32.f16.f16.f32", 4, 4, 4),
        ("m16n8k16", "f32.bf16.bf16.f32", 2, 2, 4),
        ("m16n8k32", "f32.bf16.bf16.f32", 4, 4, 4),
        ("m16n8k8", "f32.tf32.tf32.f32", 2, 2, 4),
        ("m16n8k16", "f32.tf32.tf32.f32", 4, 4, 4),
        ("m16n8k32", "s32.s8.s8.s32", 2, 2, 4),
        ("m16n8k64", "s32.s8.s8.s32", 4, 4, 4),
        ("m16n8k64", "f32.e4m3.e4m3.f32", 4, 4, 4),
    ):
        for sp in ("sp", "sp::ordered_metadata"):
            sat = ".satfinite" if types.startswith("s32") else ""
            out.append(
                Variant(
                    f"mma.{sp}.sync.aligned.{shape}.row.col{sat}.{types}",
                    "mma.sp",
                    f"mma.{sp}.sync.aligned.{shape}.row.col{sat}.{types} {_regs('dx', cd)}, "
                    f"{_regs('a', a)}, {_regs('b', b)}, {_regs('x', cd)}, {{e:b32}}, 0x0;",
                    False,
                )
            )
    # wmma
    for shape, ty, na, nb, nc, acc in (
        ("m16n16k16", "f16", 8, 8, 8, "f32"),
        ("m32n8k16", "f16", 8, 8, 8, "f32"),
        ("m8n32k16", "f16", 8, 8, 8, "f32"),
        ("m16n16k16", "bf16", 4, 4, 8, "f32"),
        ("m16n16k8", "tf32", 4, 4, 8, "f32"),
        ("m16n16k16", "s8", 2, 2, 8, "s32"),
        ("m8n8k4", "f64", 1, 1, 2, "f64"),
    ):
        cls = "b64" if ty == "f64" else "b32"
        out.append(
            Variant(
                f"wmma.load.a.sync.aligned.row.{shape}.{ty}",
                "wmma",
                f"wmma.load.a.sync.aligned.row.{shape}.global.{ty} "
                + "{"
                + ", ".join(f"{{da{i}:{cls}}}" for i in range(na))
                + "}, [{ga_}];",
                False,
            )
        )
        out.append(
            Variant(
                f"wmma.load.b.sync.aligned.col.{shape}.{ty}",
                "wmma",
                f"wmma.load.b.sync.aligned.col.{shape}.global.{ty} "
                + "{"
                + ", ".join(f"{{db{i}:{cls}}}" for i in range(nb))
                + "}, [{ga_}];",
                False,
            )
        )
        out.append(
            Variant(
                f"wmma.store.d.sync.aligned.row.{shape}.{acc}",
                "wmma",
                f"wmma.store.d.sync.aligned.row.{shape}.global.{acc} [{{ga_}}], "
                + "{"
                + ", ".join(f"{{c{i}:{cls}}}" for i in range(nc))
                + "};",
                False,
            )
        )
        typestr = f"{acc}.{acc}" if ty in ("f16",) else f"{acc}.{ty}.{ty}.{acc}" if ty != "f64" else "f64.f64.f64.f64"
        if ty == "s8":
            typestr = "s32.s8.s8.s32"
        out.append(
            Variant(
                f"wmma.mma.sync.aligned.row.col.{shape}.{typestr}",
                "wmma",
                f"wmma.mma.sync.aligned.row.col.{shape}.{typestr} "
                + "{"
                + ", ".join(f"{{d{i}:{cls}}}" for i in range(nc))
                + "}, "
                + "{"
                + ", ".join(f"{{a{i}:{cls}}}" for i in range(na))
                + "}, "
                + "{"
                + ", ".join(f"{{b{i}:{cls}}}" for i in range(nb))
                + "}, "
                + "{"
                + ", ".join(f"{{c{i}:{cls}}}" for i in range(nc))
                + "};",
                False,
            )
        )
    # ldmatrix / stmatrix / movmatrix
    for n in (1, 2, 4):
        for tr in ("", ".trans"):
            regs = _regs("d", n)
            out.append(
                Variant(
                    f"ldmatrix.sync.aligned.m8n8.x{n}{tr}.shared.b16",
                    "ldmatrix",
                    f"ldmatrix.sync.aligned.m8n8.x{n}{tr}.shared.b16 {regs}, [{{sa_}}];",
                    False,
                )
            )
            out.append(
                Variant(
                    f"stmatrix.sync.aligned.m8n8.x{n}{tr}.shared.b16",
                    "ldmatrix",
                    f"stmatrix.sync.aligned.m8n8.x{n}{tr}.shared.b16 [{{sa_}}], {_regs('a', n)};",
                    False,
                )
            )
        out.append(
            Variant(
                f"ldmatrix.sync.aligned.m16n16.x{n}.trans.shared.b8",
                "ldmatrix",
                f"ldmatrix.sync.aligned.m16n16.x{n}.trans.shared.b8 {_regs('d', 2 * n)}, [{{sa_}}];",
                False,
            )
        )
        out.append(
            Variant(
                f"ldmatrix.sync.aligned.m8n16.x{n}.shared.b8x16.b6x16_p32",
                "ldmatrix",
                f"ldmatrix.sync.aligned.m8n16.x{n}.shared.b8x16.b6x16_p32 {_regs('d', n)}, [{{sa_}}];",
                False,
            )
        )
        out.append(
            Variant(
                f"stmatrix.sync.aligned.m16n8.x{n}.trans.shared.b8",
                "ldmatrix",
                f"stmatrix.sync.aligned.m16n8.x{n}.trans.shared.b8 [{{sa_}}], {_regs('a', n)};",
                False,
            )
        )
    out.append(
        Variant(
            "movmatrix.sync.aligned.m8n8.trans.b16",
            "ldmatrix",
            "movmatrix.sync.aligned.m8n8.trans.b16 {d:b32}, {a:b32};",
        )
    )
    return out


def _wgmma() -> list[Variant]:
    out = []
    for n in range(8, 257, 8):
        for ty, k, dt in (
            ("f16.f16", 16, "f32"),
            ("bf16.bf16", 16, "f32"),
            ("tf32.tf32", 8, "f32"),
            ("e4m3.e4m3", 32, "f32"),
            ("e5m2.e4m3", 32, "f32"),
            ("f16.f16", 16, "f16"),
        ):
            if n % 16 and ty not in ("f16.f16", "bf16.bf16"):
                continue  # keep the table smaller: odd multiples of 8 only for the 16-bit types
            regs = n // 2 if dt == "f32" else n // 4
            acc = "{" + ", ".join(f"{{dx{i}:b32}}" for i in range(regs)) + "}"
            scale = ", 1, 1"  # imm-scale-a/b: every floating-point wgmma takes them (PTX ISA 9.7.15.5.2)
            trans = ", 0, 0" if ty in ("f16.f16", "bf16.bf16") else ""
            out.append(
                Variant(
                    f"wgmma.mma_async.sync.aligned.m64n{n}k{k}.{dt}.{ty}",
                    "wgmma",
                    f"wgmma.mma_async.sync.aligned.m64n{n}k{k}.{dt}.{ty} {acc}, {{da:b64}}, {{db:b64}}, "
                    f"{{p:pred}}{scale}{trans};",
                    False,
                )
            )
        if n % 8 == 0 and n in (8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256):
            acc = "{" + ", ".join(f"{{dx{i}:b32}}" for i in range(n // 2)) + "}"
            out.append(
                Variant(
                    f"wgmma.mma_async.sync.aligned.m64n{n}k32.s32.s8.s8",
                    "wgmma",
                    f"wgmma.mma_async.sync.aligned.m64n{n}k32.s32.s8.s8 {acc}, {{da:b64}}, {{db:b64}}, {{p:pred}};",
                    False,
                )
            )
    for t in ("fence", "commit_group", "wait_group 0"):
        out.append(
            Variant(
                f"wgmma.{t.split()[0]}.sync.aligned",
                "wgmma",
                f"wgmma.{t}.sync.aligned;".replace("wait_group 0.sync.aligned", "wait_group.sync.aligned 0"),
                False,
            )
        )
    return out


def _tcgen05() -> list[Variant]:
    out = []
    for g in ("1", "2"):
        cg = f".cta_group::{g}"
        out.append(
            Variant(
                f"tcgen05.alloc{cg}.sync.aligned.shared::cta.b32",
                "tcgen05",
                f"tcgen05.alloc{cg}.sync.aligned.shared::cta.b32 [{{sa_}}], 32;",
                False,
            )
        )
        out.append(
            Variant(
                f"tcgen05.dealloc{cg}.sync.aligned.b32",
                "tcgen05",
                f"tcgen05.dealloc{cg}.sync.aligned.b32 {{a:b32}}, 32;",
                False,
            )
        )
        out.append(
            Variant(
                f"tcgen05.relinquish_alloc_permit{cg}.sync.aligned",
                "tcgen05",
                f"tcgen05.relinquish_alloc_permit{cg}.sync.aligned;",
                False,
            )
        )
        out.append(
            Variant(
                f"tcgen05.commit{cg}.mbarrier::arrive::one.shared::cluster.b64",
                "tcgen05",
                f"tcgen05.commit{cg}.mbarrier::arrive::one.shared::cluster.b64 [{{sa_}}];",
                False,
            )
        )
        for kind in ("f16", "tf32", "f8f6f4", "i8"):
            out.append(
                Variant(
                    f"tcgen05.mma{cg}.kind::{kind}",
                    "tcgen05",
                    f"tcgen05.mma{cg}.kind::{kind} [{{a:b32}}], {{da:b64}}, {{db:b64}}, {{e:b32}}, {{p:pred}};",
                    False,
                )
            )
        for kind in ("mxf8f6f4", "mxf4"):
            out.append(
                Variant(
                    f"tcgen05.mma{cg}.kind::{kind}.block_scale",
                    "tcgen05",
                    f"tcgen05.mma{cg}.kind::{kind}.block_scale [{{a:b32}}], {{da:b64}}, {{db:b64}}, "
                    "{e:b32}, [{s1:b32}], [{s2:b32}], {p:pred};",
                    False,
                )
            )
        for shape in ("128x256b", "4x256b", "128x128b", "64x128b.warpx2::02_13"):
            out.append(
                Variant(f"tcgen05.cp{cg}.{shape}", "tcgen05", f"tcgen05.cp{cg}.{shape} [{{a:b32}}], {{da:b64}};", False)
            )
        out.append(Variant(f"tcgen05.shift{cg}.down", "tcgen05", f"tcgen05.shift{cg}.down [{{a:b32}}];", False))
    for shape, nums in (
        ("32x32b", (1, 2, 4, 8, 16, 32, 64, 128)),
        ("16x64b", (1, 2, 4, 8, 16, 32, 64, 128)),
        ("16x128b", (1, 2, 4, 8, 16, 32, 64)),
        ("16x256b", (1, 2, 4, 8, 16, 32)),
    ):
        per = {"32x32b": 1, "16x64b": 1, "16x128b": 2, "16x256b": 4}[shape]
        for num in nums:
            regs = "{" + ", ".join(f"{{dx{i}:b32}}" for i in range(num * per)) + "}"
            out.append(
                Variant(
                    f"tcgen05.ld.sync.aligned.{shape}.x{num}.b32",
                    "tcgen05",
                    f"tcgen05.ld.sync.aligned.{shape}.x{num}.b32 {regs}, [{{a:b32}}];",
                    False,
                )
            )
            sregs = regs.replace("{dx", "{x")
            out.append(
                Variant(
                    f"tcgen05.st.sync.aligned.{shape}.x{num}.b32",
                    "tcgen05",
                    f"tcgen05.st.sync.aligned.{shape}.x{num}.b32 [{{a:b32}}], {sregs};",
                    False,
                )
            )
    for t in ("wait::ld", "wait::st"):
        out.append(Variant(f"tcgen05.{t}.sync.aligned", "tcgen05", f"tcgen05.{t}.sync.aligned;", False))
    for t in ("before_thread_sync", "after_thread_sync"):
        out.append(Variant(f"tcgen05.fence::{t}", "tcgen05", f"tcgen05.fence::{t};", False))
    return out


def _dynamic_aliases() -> list[Variant]:
    """Variants for the steps of the dynamic instruction probes that are not one grammar variant (a setp + selp,
    an atomic under a short name, a reduction with a move, a bar.sync with an add, an mma chained through its
    accumulator): rows of probes/static/instruction_table.py name them as their `key`."""
    out = [
        Variant(
            "setp.lt.u32",
            "setp",
            "{ setp.lt.u32 {dp:pred}, {a:b32}, {b:b32}; selp.b32 {d:b32}, {b:b32}, {c:b32}, {dp:pred}; }",
            True,
            note="setp + selp, as the dynamic step",
        )
    ]
    for space, addr in (("shared", "{sa_}"), ("global", "{ga_}")):
        out.append(Variant(f"atom.{space}.add", "atom", f"atom.{space}.add.u32 {{d:b32}}, [{addr}], {{a:b32}};"))
        out.append(Variant(f"atom.{space}.min", "atom", f"atom.{space}.min.u32 {{d:b32}}, [{addr}], {{a:b32}};"))
        out.append(
            Variant(f"atom.{space}.cas", "atom", f"atom.{space}.cas.b32 {{d:b32}}, [{addr}], {{a:b32}}, {{a:b32}};")
        )
        out.append(
            Variant(
                f"red.{space}.add",
                "red",
                f"{{ red.{space}.add.u32 [{addr}], {{b:b32}}; mov.b32 {{d:b32}}, {{a:b32}}; }}",
                True,
            )
        )
    return out


@functools.cache
def _async_hint_rows() -> list[Variant]:
    """Hint qualifiers of cp.async, cp.async.bulk, cp.async.bulk.tensor and cp.reduce.async.bulk that the rows
    above leave out (issue 24 section 3: every cache qualifier incl. .L2::cache_hint, with the prefetch sizes), and
    the instructions of the hand-written PTX kernels (ptx/atlas-instructions.csv) that no row had."""
    out = []
    for cop, sizes in (("ca", (4, 8, 16)), ("cg", (16,))):
        for n in sizes:
            for pf in (".L2::64B", ".L2::128B", ".L2::256B"):
                q = f".L2::cache_hint{pf}"
                out.append(
                    Variant(
                        f"cp.async.{cop}.shared.global{q} [{n}]",
                        "cp.async",
                        f"cp.async.{cop}.shared.global{q} [{{sa_}}], [{{ga_}}], {n}, {{pol:b64}};",
                        False,
                    )
                )
        out.append(
            Variant(
                f"cp.async.{cop}.shared.global.L2::cache_hint [src-size]",
                "cp.async",
                f"cp.async.{cop}.shared.global.L2::cache_hint [{{sa_}}], [{{ga_}}], 16, {{a:b32}}, {{pol:b64}};",
                False,
            )
        )
    mc = "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
    out.append(Variant(mc, "cp.async.bulk", f"{mc} [{{sa_}}], [{{ga_}}], 256, [{{sb_}}], {{m:b16}};", False))
    out.append(
        Variant(
            mc + ".L2::cache_hint",
            "cp.async.bulk",
            f"{mc}.L2::cache_hint [{{sa_}}], [{{ga_}}], 256, [{{sb_}}], {{m:b16}}, {{pol:b64}};",
            False,
        )
    )
    for op, ty in (("add", "u32"), ("add", "f32"), ("min", "u32"), ("max", "s32"), ("and", "b32")):
        name = f"cp.reduce.async.bulk.global.shared::cta.bulk_group.L2::cache_hint.{op}.{ty}"
        out.append(Variant(name, "cp.async.bulk", f"{name} [{{ga_}}], [{{sa_}}], 256, {{pol:b64}};", False))
    coords = ["{a:b32}", "{b:b32}", "{c:b32}", "{e:b32}", "{f:b32}"]
    for dim in range(1, 6):
        c = ", ".join(coords[:dim])
        st = f"cp.async.bulk.tensor.{dim}d.global.shared::cta.tile.bulk_group.L2::cache_hint"
        out.append(Variant(st, "cp.async.bulk.tensor", f"{st} [{{ga_}}, {{{c}}}], [{{sa_}}], {{pol:b64}};", False))
        pf = f"cp.async.bulk.prefetch.tensor.{dim}d.L2.global.tile.L2::cache_hint"
        out.append(Variant(pf, "cp.async.bulk.tensor", f"{pf} [{{ga_}}, {{{c}}}], {{pol:b64}};", False))
    for t in (
        "barrier.cluster.arrive.release",
        "barrier.cluster.arrive.release.aligned",
        "barrier.cluster.arrive.relaxed.aligned",
        "barrier.cluster.wait.acquire",
        "barrier.cluster.wait.acquire.aligned",
        "barrier.cluster.wait.aligned",
    ):
        out.append(Variant(t, "barrier", t + ";", False))
    out.append(Variant("ld.shared::cluster.u32", "ld", "ld.shared::cluster.u32 {d:b32}, [{sa_}];", False))
    out.append(Variant("ld.shared::cluster.v4.u32", "ld", "ld.shared::cluster.v4.u32 {d:b32*4}, [{sa_}];", False))
    out.append(Variant("st.shared::cluster.u32", "st", "st.shared::cluster.u32 [{sa_}], {a:b32};", False))
    for name, tpl in (
        ("mbarrier.init.shared::cta.b64", "[{sa_}], {a:b32}"),
        ("mbarrier.arrive.shared::cta.b64", "{d:b64}, [{sa_}]"),
        ("mbarrier.complete_tx.shared::cta.b64", "[{sa_}], {a:b32}"),
        ("mbarrier.test_wait.parity.shared::cta.b64", "{dp:pred}, [{sa_}], {a:b32}"),
    ):
        out.append(Variant(name, "mbarrier", f"{name} {tpl};", False))
    for n in range(16, 257, 16):
        acc = "{" + ", ".join(f"{{dx{i}:b32}}" for i in range(n // 2)) + "}"
        for ty in ("e5m2.e5m2", "e4m3.e5m2"):
            name = f"wgmma.mma_async.sync.aligned.m64n{n}k32.f32.{ty}"
            out.append(Variant(name, "wgmma", f"{name} {acc}, {{da:b64}}, {{db:b64}}, {{p:pred}}, 1, 1;", False))
    return out


def table() -> tuple[Variant, ...]:
    """Every variant, in report order; names are unique (the first of two identical names wins)."""
    # rows of the instruction table that bring their own `template` (none needs one today), after the grammar's
    from . import instruction_table

    rows = [
        *_dynamic_aliases(),
        *_integer(),
        *_float(),
        *_setp(),
        *_cvt(),
        *_memory(),
        *_sync(),
        *_video(),
        *_mma_rows(),
        *_wgmma(),
        *_tcgen05(),
        *_async_hint_rows(),
        *(Variant(name, group, template) for name, group, template in instruction_table.templates()),
    ]
    seen: dict[str, Variant] = {}
    for v in rows:
        seen.setdefault(v.name, v)
    return tuple(seen.values())


@functools.cache
def by_name() -> dict[str, Variant]:
    return {v.name: v for v in table()}


_DECL = re.compile(r"^\.(reg|shared|local)\b")


def _main_opcode(ptx: str) -> str:
    """The opcode of the first instruction of a PTX snippet that is not a declaration or a move."""
    for part in re.split(r"[;{}]", ptx):
        toks = part.strip().split()
        if not toks or _DECL.match(toks[0]):
            continue
        if toks[0].startswith("@"):
            toks = toks[1:]
        if toks and not toks[0].startswith(("mov.", "selp.")):
            return toks[0]
    return ""


def lookup(key: str) -> Variant | None:
    """The variant of a name ('setp.lt.u32', 'atom.shared.add'), of one PTX instruction ('add.rn.f32 $0, $1, $2;')
    or of a dynamic op's PTX snippet ('{ .reg .pred p; setp.lt.u32 p, $1, $2; selp.b32 $0, $2, $3, p; }').
    Exact names first, then the snippet's main opcode, then the first variant whose name extends the key."""
    names = by_name()
    key = key.strip()
    if key in names:
        return names[key]
    op = _main_opcode(key)
    if op in names:
        return names[op]
    for cand in (key, op):
        if not cand:
            continue
        hits = [v for n, v in names.items() if n.startswith(cand + ".") or n.startswith(cand + " ")]
        if hits:
            return hits[0]
    return None
