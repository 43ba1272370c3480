"""A stream's CUstream address from every release's spelling (issue 22: fall back where older releases differ):
numba-cuda and cuda.core >= 0.2 (`__cuda_stream__()`), cuda.core < 0.2 (`__cuda_stream__` attribute), Numba's
ctypes binding (`.handle` a `ctypes.c_void_p`, which cuda-bindings rejects), a bare cuda-bindings `CUstream`.
No driver needed: the fakes stand for the streams, and the persisting window is driven against a fake driver."""

import ctypes

import pytest

from probes.kernel.context import stream_handle


class NumbaCuda:  # numba-cuda >= 0.30: handle is a CUstream, plus the protocol method
    def __init__(self, address):
        from cuda.bindings import driver

        self.handle = driver.CUstream(address)

    def __cuda_stream__(self):
        return (0, int(self.handle))


class CoreBefore02:  # cuda.core 0.1: the protocol was an attribute, not a method
    def __init__(self, address):
        self.__cuda_stream__ = (0, address)


class NumbaCtypes:  # numba.cuda with the ctypes binding: no protocol, a c_void_p handle
    def __init__(self, address):
        self.handle = ctypes.c_void_p(address)


@pytest.mark.parametrize("make", [NumbaCuda, CoreBefore02, NumbaCtypes])
def test_every_spelling_gives_the_address(make):
    assert stream_handle(make(0x7F00_1234_5000)) == 0x7F00_1234_5000


def test_default_stream_and_bare_handles():
    from cuda.bindings import driver

    assert stream_handle(NumbaCtypes(None)) == 0  # c_void_p(0).value is None
    assert stream_handle(driver.CUstream(0x5000)) == 0x5000
    assert stream_handle(0x6000) == 0x6000
    with pytest.raises(TypeError, match="not a CUDA stream: object"):
        stream_handle(object())


def test_the_persisting_window_hands_cuda_bindings_an_int(monkeypatch):
    """cache-hints.persisting sets its access-policy window on a Numba stream; an old Numba's ctypes handle went
    to cuStreamSetAttribute as is, and cuda-bindings raised `TypeError: an integer is required`."""
    from cuda.bindings import driver

    from probes.catalogue.cache_hints import persisting

    seen = []

    def set_attribute(stream, attr, value):
        seen.append(int(driver.CUstream(stream)))  # the conversion cuda-bindings itself does
        return (driver.CUresult.CUDA_SUCCESS,)

    def ok(*args):
        return (driver.CUresult.CUDA_SUCCESS,)

    monkeypatch.setattr(driver, "cuStreamSetAttribute", set_attribute)
    monkeypatch.setattr(driver, "cuCtxSetLimit", ok)
    monkeypatch.setattr(driver, "cuCtxResetPersistingL2Cache", ok)

    class FakeCuda:
        @staticmethod
        def stream():
            return NumbaCtypes(0xABC000)

    class Buffer:
        device_ctypes_pointer = ctypes.c_void_p(0x1000)

    monkeypatch.setattr(persisting, "cuda", FakeCuda)
    window = persisting.PersistingWindow()
    assert isinstance(window(Buffer(), 4096), NumbaCtypes)
    window.reset()
    assert seen == [0xABC000, 0xABC000]
