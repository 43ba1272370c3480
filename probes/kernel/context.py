"""What a probe's `measure` gets: the backend, the environment, and helpers that hide GPU/simulator differences."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


class PointSkipped(Exception):
    """A point that cannot be measured as planned on this device (its blocks cannot be co-resident, its kernel
    does not compile): the engine records it with the reason and goes on with the other points."""


def stable_hash(key) -> int:
    """A 32-bit digest of str(key), the same in every process and on every machine."""
    return int.from_bytes(hashlib.blake2b(str(key).encode(), digest_size=4).digest(), "little")


def stream_handle(stream) -> int:
    """The CUstream address of a Numba or cuda.core stream, as the int every cuda-bindings release accepts.

    Releases spell it differently (issue 22): numba-cuda and cuda.core >= 0.2 have a `__cuda_stream__()` method
    returning (version, address); cuda.core < 0.2 had it as an attribute; Numba's ctypes binding (numba.cuda
    before numba-cuda, or NUMBA_CUDA_USE_NVIDIA_BINDING=0) keeps a `ctypes.c_void_p` in `.handle`, whose `.value` is
    None for the default stream, and which cuda-bindings rejects ("an integer is required"); numba-cuda's own
    `.handle` is a cuda-bindings `CUstream`, which `int()` converts."""
    import ctypes

    protocol = getattr(stream, "__cuda_stream__", None)
    if protocol is not None:
        _, address = protocol() if callable(protocol) else protocol
        return int(address)
    handle = getattr(stream, "handle", stream)
    if isinstance(handle, ctypes.c_void_p):
        return int(handle.value or 0)
    try:
        return int(handle)
    except (TypeError, ValueError):
        raise TypeError(
            f"not a CUDA stream: {type(stream).__name__} has no __cuda_stream__ and its handle "
            f"({type(handle).__name__}) is no stream address"
        ) from None


@dataclass
class Context:
    backend: str  # "gpu" or "simulator"
    env: dict
    seed: int = 12345
    _kernels: dict = field(default_factory=dict)

    @property
    def simulator(self) -> bool:
        return self.backend == "simulator"

    @property
    def cc(self) -> tuple[int, int]:
        return tuple(self.env["compute_capability"])

    def rng(self, *key) -> np.random.Generator:
        """A generator seeded from the run seed and a key (e.g. the point), so every run builds the same chains.
        The key is hashed with a stable digest: Python's `hash(str)` is salted per process (PYTHONHASHSEED), so it
        gave every worker different chains."""
        return np.random.default_rng([self.seed, *[stable_hash(k) for k in key]])

    def kernel(self, key, func):
        """JIT-compile `func` once per key (Numba dispatcher; the simulator interprets it)."""
        if key not in self._kernels:
            from numba import cuda

            self._kernels[key] = cuda.jit(func)
        return self._kernels[key]

    def compiled(self, key, func, signature):
        """`kernel(key, func)` compiled now for `signature` (the declared argument types): a compile error of this
        one kernel skips its point (PointSkipped), not the probe's other kernels. The simulator compiles nothing."""
        kernel = self.kernel(key, func)
        if not self.simulator:
            try:
                kernel.compile(tuple(signature))
            except Exception as err:
                text = str(err).strip().splitlines()
                raise PointSkipped(
                    f"kernel {key} does not compile: {type(err).__name__}: {text[0][:200] if text else ''}"
                ) from None
        return kernel

    def resources(self, key, signature) -> dict | None:
        """{registers, shared_bytes} per thread/block of a compiled kernel from the driver, or None."""
        kernel = self._kernels.get(key)
        if kernel is None or self.simulator:
            return None
        try:
            sig = tuple(signature)
            return {
                "registers": int(kernel.get_regs_per_thread(sig)),
                "shared_bytes": int(kernel.get_shared_mem_per_block(sig)),
            }
        except Exception:
            return None

    def prefer_l1(self, key) -> str:
        """Set the preferred shared-memory carve-out of kernel `key` to 0 % (the most L1 the SM allows) on every
        compiled overload, and say what was done (recorded in each sample). The driver applies it from the next
        launch, so the first (warm-up) launch of a point may run with the default split; never raises."""
        if self.simulator:
            return "not applicable (simulator)"
        kernel = self._kernels.get(key)
        overloads = list(getattr(kernel, "overloads", {}).values()) if kernel is not None else []
        if not overloads:
            return "not set: kernel not compiled yet"
        try:
            for cres in overloads:
                cres.library.get_cufunc().set_shared_memory_carveout(0)
        except Exception as err:  # an old driver or binding: the run goes on, the sample says so
            return f"not set: {type(err).__name__}: {str(err).splitlines()[0][:120] if str(err) else ''}"
        return "preferred carve-out 0 % shared (max L1)"

    def launched(self) -> dict:
        """{key: compiled kernel} of every kernel this context compiled (and so launched), in first-use order."""
        return dict(self._kernels)

    def to_device(self, host):
        from numba import cuda

        return cuda.to_device(host)

    def device_array(self, n, dtype):
        from numba import cuda

        return cuda.device_array(n, dtype=dtype)

    def address_of(self, device_array) -> int:
        """Base address of a device array (0 in the simulator, where chains hold indices instead of addresses)."""
        if self.simulator:
            return 0
        return int(device_array.device_ctypes_pointer.value)

    def synchronize(self) -> None:
        from numba import cuda

        cuda.synchronize()
