"""TMA tensor-map descriptors (CUtensorMap) for `cp.async.bulk.tensor`: the fields computed and checked on the host,
the 128-byte descriptor encoded by the driver (cuTensorMapEncodeTiled) on a GPU.

`tiled_fields(shape, dtype, box)` takes a row-major (numpy-order) tensor and box and returns the driver's view:
dimensions innermost first, strides in bytes of every dimension but the innermost, box and element strides, with
the constraints the driver documents for cuTensorMapEncodeTiled (CUDA Driver API, "Tensor Map Object Management"):
rank 1..5; every global dimension 1..2^32; every stride a multiple of 16 B below 2^40; box dimensions 1..256 with
the inner box a multiple of 16 B (no interleave); element strides 1..8; with a swizzle, the inner box at most the
swizzle span (32/64/128 B). A violation is one `TensorMapError` line naming the field, before any driver call.
Used by the tma2d mode of bandwidth.bulk (probes/catalogue/bandwidth_bulk.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from probes.spec import ProbeSpecError

# numpy dtype -> CUtensorMapDataType member name
DATA_TYPES = {
    "uint8": "UINT8",
    "uint16": "UINT16",
    "uint32": "UINT32",
    "int32": "INT32",
    "uint64": "UINT64",
    "int64": "INT64",
    "float16": "FLOAT16",
    "float32": "FLOAT32",
    "float64": "FLOAT64",
    "bfloat16": "BFLOAT16",
}
SWIZZLE_BYTES = {"none": 0, "32B": 32, "64B": 64, "128B": 128}
MAX_RANK, MAX_BOX, MAX_ELEMENT_STRIDE = 5, 256, 8


class TensorMapError(ProbeSpecError):
    """A tensor map the driver would refuse."""


@dataclass(frozen=True)
class TiledFields:
    data_type: str  # CUtensorMapDataType member, e.g. "FLOAT16"
    element_bytes: int
    global_dims: tuple[int, ...]  # innermost first
    global_strides: tuple[int, ...]  # bytes, dimensions 1..rank-1
    box_dims: tuple[int, ...]  # innermost first
    element_strides: tuple[int, ...]
    swizzle: str = "none"

    @property
    def rank(self) -> int:
        return len(self.global_dims)

    @property
    def box_bytes(self) -> int:
        """Bytes one copy of the box writes to shared memory (what expect_tx must announce)."""
        return int(np.prod(self.box_dims)) * self.element_bytes


def tiled_fields(
    shape: tuple[int, ...],
    dtype: str,
    box: tuple[int, ...],
    element_strides: tuple[int, ...] = (),
    row_pitch_bytes: tuple[int, ...] = (),
    swizzle: str = "none",
) -> TiledFields:
    """Driver fields for a row-major tensor `shape` of `dtype`, copied in boxes `box` (both numpy order).
    `row_pitch_bytes` (numpy order, one per outer dimension) overrides the dense strides (padded rows)."""
    if dtype not in DATA_TYPES:
        raise TensorMapError(f"dtype {dtype!r}: the TMA unit copies {', '.join(DATA_TYPES)}")
    if swizzle not in SWIZZLE_BYTES:
        raise TensorMapError(f"swizzle {swizzle!r}: one of {', '.join(SWIZZLE_BYTES)}")
    rank = len(shape)
    if not 1 <= rank <= MAX_RANK or len(box) != rank:
        raise TensorMapError(f"rank {rank} with a box of rank {len(box)}: need equal ranks 1..{MAX_RANK}")
    esize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    dims = tuple(int(d) for d in reversed(shape))
    boxd = tuple(int(b) for b in reversed(box))
    estr = tuple(int(e) for e in reversed(element_strides)) if element_strides else (1,) * rank
    if row_pitch_bytes:
        if len(row_pitch_bytes) != rank - 1:
            raise TensorMapError(f"row_pitch_bytes needs {rank - 1} values (one per outer dimension)")
        strides = tuple(int(s) for s in reversed(row_pitch_bytes))
    else:
        strides = tuple(int(np.prod(dims[: i + 1])) * esize for i in range(rank - 1))
    for i, d in enumerate(dims):
        if not 1 <= d <= 1 << 32:
            raise TensorMapError(f"globalDim[{i}] = {d}: must be 1..2^32")
    for i, s in enumerate(strides):
        if s % 16 or not 0 < s < 1 << 40:
            raise TensorMapError(f"globalStrides[{i}] = {s} B: must be a multiple of 16 below 2^40")
        if s < dims[i] * (strides[i - 1] if i else esize):
            raise TensorMapError(f"globalStrides[{i}] = {s} B is smaller than the dimension it steps over")
    for i, (b, d) in enumerate(zip(boxd, dims)):
        if not 1 <= b <= MAX_BOX:
            raise TensorMapError(f"boxDim[{i}] = {b}: must be 1..{MAX_BOX}")
        if b > d:
            raise TensorMapError(f"boxDim[{i}] = {b} exceeds globalDim[{i}] = {d}")
    if (boxd[0] * esize) % 16:
        raise TensorMapError(f"inner box {boxd[0]} x {esize} B = {boxd[0] * esize} B: must be a multiple of 16 B")
    span = SWIZZLE_BYTES[swizzle]
    if span and boxd[0] * esize > span:
        raise TensorMapError(f"inner box {boxd[0] * esize} B exceeds the {swizzle} swizzle span")
    if len(estr) != rank or any(not 1 <= e <= MAX_ELEMENT_STRIDE for e in estr):
        raise TensorMapError(f"elementStrides {estr}: one per dimension, each 1..{MAX_ELEMENT_STRIDE}")
    return TiledFields(DATA_TYPES[dtype], esize, dims, strides, boxd, estr, swizzle)


def encode_tiled(fields: TiledFields, global_address: int) -> bytes:
    """The 128-byte CUtensorMap for `fields` at `global_address` (driver call: needs a GPU)."""
    if global_address % 16:
        raise TensorMapError(f"global address {global_address:#x}: must be 16-byte aligned")
    from cuda.bindings import driver as d

    swz = {"none": "NONE", "32B": "32B", "64B": "64B", "128B": "128B"}[fields.swizzle]
    err, tmap = d.cuTensorMapEncodeTiled(
        getattr(d.CUtensorMapDataType, f"CU_TENSOR_MAP_DATA_TYPE_{fields.data_type}"),
        fields.rank,
        global_address,
        list(fields.global_dims),
        list(fields.global_strides),
        list(fields.box_dims),
        list(fields.element_strides),
        d.CUtensorMapInterleave.CU_TENSOR_MAP_INTERLEAVE_NONE,
        getattr(d.CUtensorMapSwizzle, f"CU_TENSOR_MAP_SWIZZLE_{swz}"),
        d.CUtensorMapL2promotion.CU_TENSOR_MAP_L2_PROMOTION_NONE,
        d.CUtensorMapFloatOOBfill.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
    )
    if err != d.CUresult.CUDA_SUCCESS:
        raise TensorMapError(f"cuTensorMapEncodeTiled refused the map: {err.name}")
    return np.asarray(tmap.opaque, dtype=np.uint64).tobytes()
