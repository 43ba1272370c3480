"""Hinted memory operations of the cache-hint kernels, as volatile inline PTX, with simulator fallbacks.

Each operation takes a hint name (the probes' `hint` axis) and spells its PTX from the one qualifier table
(probes/static/qualifiers.py), so the dynamic and static halves test the same text. Loads whose qualifier goes after
`ld.global` use the frozen intrinsics of probes/kernel/intrinsics.py; the others (`ld.volatile.global`,
`ld.relaxed.gpu.global`, `ld.acquire.gpu.global`, `.L2::cache_hint` with its createpolicy operand) and every store /
16-byte load are built here the same way: one `ir.InlineAsm(side_effect=True)` per spelling, cached, so ptxas can
neither hoist nor merge them.

numba.cuda is imported only when an operation is first built. Under the simulator (NUMBA_ENABLE_CUDASIM=1) each
operation is a plain Python function with the same arguments; there, chains hold element indices instead of addresses.
"""

from __future__ import annotations

from numba import config

from probes.static.qualifiers import POLICY, row

_POLICY = POLICY.replace("%rd9", "%hpol")  # scoped names that cannot shadow the operand registers
SIMULATOR = bool(config.ENABLE_CUDASIM)


def load_prefix(hint: str) -> tuple[str, bool]:
    """(PTX opcode up to the type, needs an L2 cache-policy operand) of a load hint."""
    q = row("ld", hint)
    return q.prefix, q.policy


def store_prefix(hint: str) -> tuple[str, bool]:
    q = row("st", hint)
    return q.prefix, q.policy


def _policy_asm(instr: str) -> str:
    """Wrap `instr` (whose policy operand is %hpol) with the atlas's createpolicy, in a scoped register block."""
    return "{ .reg .b64 %hpol; " + _POLICY + " " + instr + " }"


# ---- operations: each factory returns a function usable inside a kernel (an intrinsic, or Python in the simulator)


def _sim_chase(memory, index):
    """Simulator chase step. It reads the simulator's test clock once (+4 "cycles", the one simulated clock of
    probes/kernel/intrinsics.py), so a timed section of n loads reads 4n more than an empty one and
    (t(2n) - t(n)) / n is exactly 4: the overhead cancellation is testable without a GPU (the value is a test
    artefact, never a measurement)."""
    from probes.kernel.intrinsics import clock64

    clock64()
    return memory[index]


def _sim_load(arr, i):
    return arr[i]


def _sim_load_v4_sum(arr, i):
    return (int(arr[i]) + int(arr[i + 1]) + int(arr[i + 2]) + int(arr[i + 3])) & 0xFFFFFFFF


def _sim_store(memory, index, value):
    memory[index] = value


_CACHE: dict = {}


def _cached(key, build):
    if key not in _CACHE:
        _CACHE[key] = build()
    return _CACHE[key]


def _asm(text: str, ret_bits: int | None, arg_bits: tuple[int, ...], constraints: str):
    from llvmlite import ir

    return ir.InlineAsm(
        ir.FunctionType(ir.IntType(ret_bits) if ret_bits else ir.VoidType(), [ir.IntType(b) for b in arg_bits]),
        text,
        constraints,
        side_effect=True,
    )


def _element_address(context, builder, arr_type, arr, index_type, index):
    from probes.kernel.intrinsics import element_address

    return element_address(context, builder, arr_type, arr, index_type, index)


def _hinted_text(prefix: str, policy: bool, operands: str) -> str:
    instr = f"{prefix}{operands}" + (", %hpol;" if policy else ";")
    return _policy_asm(instr) if policy else instr


def chase_step(hint: str):
    """step(memory, address) -> *(u64*)address with the load hint (memory holds absolute addresses; it is only
    indexed under the simulator, where it holds element indices)."""
    if SIMULATOR:
        return _sim_chase
    prefix, policy = load_prefix(hint)
    if prefix.startswith("ld.global") and not policy:
        from probes.kernel import intrinsics as X

        return X.ld_u64_addr_hinted(prefix[len("ld.global") :])

    def build():
        from numba import types
        from numba.cuda.extending import intrinsic

        text = _hinted_text(prefix, policy, ".u64 $0, [$1]")

        @intrinsic
        def step(typingctx, memory, address):
            def codegen(context, builder, sig, args):
                return builder.call(_asm(text, 64, (64,), "=l,l"), [args[1]])

            return types.uint64(memory, types.uint64), codegen

        return step

    return _cached(("chase", hint), build)


def load_u32(hint: str):
    """load(arr, i) -> arr[i] through one hinted 4-byte load."""
    if SIMULATOR:
        return _sim_load
    prefix, policy = load_prefix(hint)
    if prefix.startswith("ld.global") and not policy:
        from probes.kernel import intrinsics as X

        return X.ld_hinted_u32(prefix[len("ld.global") :])

    return _cached(("u32", hint), lambda: _u32_from_address(_hinted_text(prefix, policy, ".u32 $0, [$1]")))


def load_v4_sum(hint: str):
    """load(arr, i) -> arr[i] + ... + arr[i+3] (mod 2**32) from one hinted 16-byte `.v4.u32` load (i % 4 == 0)."""
    if SIMULATOR:
        return _sim_load_v4_sum
    prefix, policy = load_prefix(hint)

    text = (
        "{ .reg .b32 %hq1, %hq2, %hq3, %hq4; "
        + _hinted_text(prefix, policy, ".v4.u32 {%hq1, %hq2, %hq3, %hq4}, [$1]")
        + " add.u32 %hq1, %hq1, %hq2; add.u32 %hq3, %hq3, %hq4; add.u32 $0, %hq1, %hq3; }"
    )
    return _cached(("v4", hint), lambda: _u32_from_address(text))


def _u32_from_address(text: str):
    """An intrinsic `load(arr, i)` -> u32 running the inline PTX `text` ($0: the u32 result, $1: &arr[i])."""
    from numba import types
    from numba.cuda.extending import intrinsic

    @intrinsic
    def load(typingctx, arr, index):
        def codegen(context, builder, sig, args):
            addr = _element_address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
            return builder.call(_asm(text, 32, (64,), "=r,l"), [addr])

        return types.uint32(arr, index), codegen

    return load


def store_u64(hint: str):
    """store(memory, address, value): one hinted 8-byte store to an absolute address (an index in the simulator)."""
    if SIMULATOR:
        return _sim_store
    prefix, policy = store_prefix(hint)

    def build():
        from numba import types
        from numba.cuda.extending import intrinsic

        text = _hinted_text(prefix, policy, ".u64 [$0], $1")

        @intrinsic
        def store(typingctx, memory, address, value):
            def codegen(context, builder, sig, args):
                builder.call(_asm(text, None, (64, 64), "l,l"), [args[1], args[2]])
                return context.get_dummy_value()

            return types.void(memory, types.uint64, types.uint64), codegen

        return store

    return _cached(("st64", hint), build)


def store_u32(hint: str):
    """store(arr, i, value): arr[i] = value through one hinted 4-byte store."""
    if SIMULATOR:
        return _sim_store
    prefix, policy = store_prefix(hint)

    def build():
        from numba import types
        from numba.cuda.extending import intrinsic

        text = _hinted_text(prefix, policy, ".u32 [$0], $1")

        @intrinsic
        def store(typingctx, arr, index, value):
            def codegen(context, builder, sig, args):
                addr = _element_address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                builder.call(_asm(text, None, (64, 32), "l,r"), [addr, args[2]])
                return context.get_dummy_value()

            return types.void(arr, index, types.uint32), codegen

        return store

    return _cached(("st32", hint), build)
