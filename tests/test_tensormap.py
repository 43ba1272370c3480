"""TMA tensor-map fields on the CPU: the driver's innermost-first view of a row-major tensor and every documented
constraint refused in one line before any driver call. Encoding itself (cuTensorMapEncodeTiled) needs a GPU."""

import pytest

from probes.kernel.tensormap import TensorMapError, encode_tiled, tiled_fields


def test_row_major_2d_tensor_becomes_innermost_first_with_byte_strides():
    f = tiled_fields((1024, 4096), "float16", (64, 64))
    assert f.global_dims == (4096, 1024) and f.global_strides == (8192,) and f.box_dims == (64, 64)
    assert f.element_strides == (1, 1) and f.data_type == "FLOAT16" and f.box_bytes == 64 * 64 * 2


def test_three_d_padded_rows_and_bf16():
    f = tiled_fields((8, 100, 40), "bfloat16", (2, 16, 8), row_pitch_bytes=(100 * 128, 128))
    assert f.global_dims == (40, 100, 8) and f.global_strides == (128, 12800) and f.element_bytes == 2
    assert f.box_dims == (8, 16, 2) and f.box_bytes == 8 * 16 * 2 * 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shape=(64, 4004), dtype="float16", box=(8, 8)), "globalStrides[0] = 8008 B: must be a multiple of 16"),
        (dict(shape=(64, 64), dtype="float16", box=(8, 4)), "inner box 4 x 2 B = 8 B: must be a multiple of 16 B"),
        (dict(shape=(512, 512), dtype="float32", box=(512, 8)), "boxDim[1] = 512: must be 1..256"),
        (dict(shape=(16, 16), dtype="float32", box=(8, 32)), "boxDim[0] = 32 exceeds globalDim[0] = 16"),
        (dict(shape=(64, 256), dtype="float16", box=(8, 128), swizzle="128B"), "exceeds the 128B swizzle span"),
        (dict(shape=(64, 64), dtype="float16", box=(8, 8), element_strides=(1, 9)), "each 1..8"),
        (dict(shape=(2,) * 6, dtype="uint8", box=(1,) * 6), "need equal ranks 1..5"),
        (dict(shape=(64, 64), dtype="complex64", box=(8, 8)), "dtype 'complex64'"),
        (dict(shape=(64, 64), dtype="float16", box=(8, 8), row_pitch_bytes=(64,)), "smaller than the dimension"),
    ],
)
def test_tensor_maps_the_driver_would_refuse_are_refused_in_one_line(kwargs, message):
    with pytest.raises(TensorMapError) as err:
        tiled_fields(**kwargs)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_unaligned_global_address_is_refused_before_the_driver():
    with pytest.raises(TensorMapError, match="16-byte aligned"):
        encode_tiled(tiled_fields((64, 64), "float16", (8, 8)), 0x1008)
