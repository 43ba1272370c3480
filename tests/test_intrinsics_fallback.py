"""Our inline-PTX loads take element addresses from numba-cuda's private helper where it exists and build them
from the public array model where it does not (issue 22: fall back where older releases differ). Both must give
the same PTX."""

import re

import numba.cuda.cache_hints as ch
import pytest
from numba import types

from probes.kernel import intrinsics as X
from probes.kernel.compile import kernel_ptx

if X.SIMULATOR:
    pytest.skip("compiles PTX: not under the simulator", allow_module_level=True)


def _ptx() -> str:
    load = X.ld_hinted_u32(".cg")  # a fresh intrinsic is built per qualifier; clear the cache between builds
    X._HINTED.clear()

    def k(a, out, i):
        out[0] = load(a, i)

    return kernel_ptx(k, (types.uint32[::1], types.uint32[::1], types.int64), (9, 0))


def _body(ptx: str) -> str:
    body = re.sub(r"^//.*$", "", ptx.split(".entry", 1)[1], flags=re.M)
    return re.sub(r"_ZN\w+", "KERNEL", body)  # the mangled name counts the closures built so far


def test_element_address_fallback_gives_the_same_ptx(monkeypatch):
    with_helper = _ptx()
    assert "ld.global.cg.u32" in with_helper
    monkeypatch.delattr(ch, "_get_element_pointer")
    without = _ptx()
    assert _body(without) == _body(with_helper)
