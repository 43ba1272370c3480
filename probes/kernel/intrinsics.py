"""In-kernel primitives Numba lacks: %clock64, %globaltimer, %smid and hinted/raw loads, as volatile inline PTX.

Why inline asm and not NVVM's intrinsics: libNVVM treats `llvm.nvvm.read.ptx.sreg.clock64` as pure, CSEs both reads
and folds `t1 - t0` to 0 (../shared/notes/cpu-toolchain.md §1). `side_effect=True` makes the asm volatile.

Under the simulator (NUMBA_ENABLE_CUDASIM=1, fixed at import) every primitive is a plain Python function: the clock
is a deterministic *test clock* (+4 per read, `globaltimer` +2 per read), so simulated timings are not measurements
and results carry backend "simulator".
"""

from __future__ import annotations

import itertools

from numba import config

SIMULATOR = bool(config.ENABLE_CUDASIM)

if SIMULATOR:
    _clock = itertools.count(0, 4)
    _timer = itertools.count(0, 2)

    def clock64():
        return next(_clock)

    def globaltimer():
        return next(_timer)

    def smid():
        return 0

    def ld_u64_addr(memory, index):
        """Simulator chase step: memory holds element indices instead of absolute addresses."""
        return memory[index]

    def ld_hinted_u32(qualifier):
        def load(arr, i):
            return arr[i]

        return load

    def ld_u64_addr_hinted(qualifier):
        return ld_u64_addr

else:
    from llvmlite import ir
    from numba import types
    from numba.cuda.extending import intrinsic

    def _special_register(name: str, bits: int):
        ty = types.uint64 if bits == 64 else types.uint32

        @intrinsic
        def read(typingctx):
            def codegen(context, builder, sig, args):
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(bits), []),
                    f"mov.u{bits} $0, %{name};",
                    "=l" if bits == 64 else "=r",
                    side_effect=True,
                )
                return builder.call(asm, [])

            return ty(), codegen

        return read

    def element_pointer(context, builder, arr_type, arr, index_type, index):
        """LLVM pointer to arr[index] (one integer index) for inline PTX that takes an address.

        numba-cuda's own helper (`numba.cuda.cache_hints._get_element_pointer`, private, whose argument order has
        been index-first since 0.30) is used where present; elsewhere the same pointer is built from the public
        array model and `cgutils.get_item_pointer`, so an older or newer numba-cuda still compiles our kernels."""
        try:
            from numba.cuda.cache_hints import _get_element_pointer
        except ImportError:
            _get_element_pointer = None
        if _get_element_pointer is not None:
            return _get_element_pointer(context, builder, index_type, index, arr_type, arr)
        try:
            from numba.cuda import cgutils
        except ImportError:  # numba-cuda before it vendored numba.core
            from numba.core import cgutils
        index = context.cast(builder, index, index_type, types.intp)
        array = context.make_array(arr_type)(context, builder, value=arr)
        return cgutils.get_item_pointer(context, builder, arr_type, array, [index], wraparound=True)

    def element_address(context, builder, arr_type, arr, index_type, index):
        """`element_pointer` as a u64 value, the operand form of `ld`/`st`/`cvta` in inline PTX."""
        return builder.ptrtoint(element_pointer(context, builder, arr_type, arr, index_type, index), ir.IntType(64))

    clock64 = _special_register("clock64", 64)
    globaltimer = _special_register("globaltimer", 64)
    smid = _special_register("smid", 32)

    _HINTED: dict = {}

    def ld_hinted_u32(qualifier: str):
        """An intrinsic `load(arr, i)` issuing `ld.global<qualifier>.u32` on &arr[i] (e.g. '.nc.L1::no_allocate')."""
        if qualifier in _HINTED:
            return _HINTED[qualifier]

        @intrinsic
        def load(typingctx, arr, index):
            def codegen(context, builder, sig, args):
                address = element_address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(32), [ir.IntType(64)]),
                    f"ld.global{qualifier}.u32 $0, [$1];",
                    "=r,l",
                    side_effect=True,
                )
                return builder.call(asm, [address])

            return types.uint32(arr, index), codegen

        _HINTED[qualifier] = load
        return load

    _HINTED_CHASE: dict = {}

    def ld_u64_addr_hinted(qualifier: str):
        """`ld_u64_addr` with a cache qualifier: `step(memory, address)` issues `ld.global<qualifier>.u64`
        (e.g. '.ca', '.cg', '.nc.L1::no_allocate'). One intrinsic per qualifier, cached."""
        if qualifier in _HINTED_CHASE:
            return _HINTED_CHASE[qualifier]

        @intrinsic
        def step(typingctx, memory, address):
            def codegen(context, builder, sig, args):
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(64), [ir.IntType(64)]),
                    f"ld.global{qualifier}.u64 $0, [$1];",
                    "=l,l",
                    side_effect=True,
                )
                return builder.call(asm, [args[1]])

            return types.uint64(memory, types.uint64), codegen

        _HINTED_CHASE[qualifier] = step
        return step

    # One pointer-chase step: memory holds absolute addresses, so the chain has no address arithmetic.
    # `memory` is only there so kernel source is the same under the simulator (where it is indexed).
    ld_u64_addr = ld_u64_addr_hinted("")
