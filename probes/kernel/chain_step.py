"""A chain step as a kernel-callable: an instruction table op's inline PTX, or under the simulator its host model.

`step_function(op)` maps the chain value x and two operands (b, c) to the next x (memory ops also take the u64
address of their chain's word, from `word_address(space)`). On a GPU the step is an `@intrinsic` whose body is the
op's PTX (volatile `ir.InlineAsm`, as in probes/kernel/intrinsics.py); under the simulator (NUMBA_ENABLE_CUDASIM=1,
fixed at import) it is the op's host function (probes/static/instruction_table.py), so a simulated chain computes
exactly what the host expects, and `clock64` is a test clock that counts executed steps. Part of the kernel toolkit
the generated instruction kernels call (probes/catalogue/instructions.py).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import config

SIMULATOR = bool(config.ENABLE_CUDASIM)
M32 = (1 << 32) - 1


_STEPS: dict = {}

if SIMULATOR:
    _local = threading.local()

    def clock64():
        """Test clock: 4 per executed step of this (simulated) thread, +1 per read. Not a measurement."""
        _local.reads = getattr(_local, "reads", 0) + 1
        return 4 * getattr(_local, "steps", 0) + _local.reads

    def smid():
        return 0

    _MEMORY_LOCK = threading.Lock()  # simulated threads are Python threads: make each memory op atomic

    def step_function(op):
        if op.memop is not None:

            def memory_step(x, b, c, word):
                _local.steps = getattr(_local, "steps", 0) + 1
                arr, i = word
                with _MEMORY_LOCK:
                    new, nxt = op.memop(int(arr[i]), int(x), int(b), int(c))
                    arr[i] = new & M32
                return np.uint32(nxt & M32)

            return memory_step

        def step(x, b, c):
            _local.steps = getattr(_local, "steps", 0) + 1
            if op.group == "sync":
                threading.current_thread().syncthreads()  # the simulator's block barrier (BlockThread)
            return op.host(x, b, c)

        return step

    def word_address(space: str):
        def address(arr, i):
            return arr, i  # the simulated step operates on the array element itself

        return address

else:
    from probes.kernel.intrinsics import clock64, smid  # noqa: F401  (re-exported for the generated kernels)

    def step_function(op):
        """An intrinsic `step(x, b, c)` whose body is the op's PTX (volatile: never CSE'd, hoisted or removed)."""
        if op.name in _STEPS:
            return _STEPS[op.name]
        from llvmlite import ir
        from numba import types
        from numba.cuda.extending import intrinsic

        nb, llty, letter = {
            "f32": (types.float32, ir.FloatType(), "f"),
            "f64": (types.float64, ir.DoubleType(), "d"),
            "u32": (types.uint32, ir.IntType(32), "r"),
            "u64": (types.uint64, ir.IntType(64), "l"),
        }[op.kind]

        if op.memory:

            @intrinsic
            def step(typingctx, x, b, c, address):
                def codegen(context, builder, sig, args):
                    asm = ir.InlineAsm(
                        ir.FunctionType(llty, [llty] * 3 + [ir.IntType(64)]),
                        op.ptx,
                        f"={letter},{letter},{letter},{letter},l",
                        side_effect=True,
                    )
                    return builder.call(asm, list(args))

                return nb(nb, nb, nb, types.uint64), codegen
        else:

            @intrinsic
            def step(typingctx, x, b, c):
                def codegen(context, builder, sig, args):
                    asm = ir.InlineAsm(
                        ir.FunctionType(llty, [llty] * 3),
                        op.ptx,
                        f"={letter},{letter},{letter},{letter}",
                        side_effect=True,
                    )
                    return builder.call(asm, list(args))

                return nb(nb, nb, nb), codegen

        _STEPS[op.name] = step
        return step

    _ADDRESSES: dict = {}

    def word_address(space: str):
        """An intrinsic `address(arr, i)`: the `space` ("shared"/"global") address of arr[i], as u64 for $4."""
        if space in _ADDRESSES:
            return _ADDRESSES[space]
        from llvmlite import ir
        from numba import types
        from numba.cuda.extending import intrinsic

        from probes.kernel.intrinsics import element_address

        @intrinsic
        def address(typingctx, arr, index):
            def codegen(context, builder, sig, args):
                generic = element_address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(64), [ir.IntType(64)]), f"cvta.to.{space}.u64 $0, $1;", "=l,l"
                )
                return builder.call(asm, [generic])

            return types.uint64(arr, index), codegen

        _ADDRESSES[space] = address
        return address
