"""What a probe's `measure` gets: the backend, the environment, and helpers that hide GPU/simulator differences."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Context:
    backend: str            # "gpu" or "simulator"
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
        """A generator seeded from the run seed and a key (e.g. the point), so every run builds the same chains."""
        return np.random.default_rng([self.seed, *[hash(str(k)) & 0xFFFFFFFF for k in key]])

    def kernel(self, key, func):
        """JIT-compile `func` once per key (Numba dispatcher; the simulator interprets it)."""
        if key not in self._kernels:
            from numba import cuda
            self._kernels[key] = cuda.jit(func)
        return self._kernels[key]

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
