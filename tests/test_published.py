"""Values published by other projects are matched to a GPU by model, form factor and memory size, never loosely."""

import pytest

from probes.analysis.published import PUBLISHED, for_gpu


@pytest.mark.parametrize(
    "driver_name, expected, excluded",
    [
        ("NVIDIA H100 80GB HBM3", {"H100 SXM5 80GB HBM3", "H100 SXM5"}, {"H100 NVL", "H100 PCIe", "H800 PCIe"}),
        ("NVIDIA H100 NVL", {"H100 NVL"}, {"H100 SXM5 80GB HBM3"}),
        ("NVIDIA A100-PCIE-40GB", {"A100-PCIE-40GB"}, {"Tesla V100-PCIE-16GB"}),
        ("NVIDIA TITAN V", {"TITAN V"}, {"Tesla V100-PCIE-16GB"}),
    ],
)
def test_driver_names_match_their_own_models_only(driver_name, expected, excluded):
    gpus = {p.gpu for p in for_gpu(driver_name)}
    assert expected <= gpus and not gpus & excluded


def test_unknown_or_simulated_devices_match_nothing():
    assert for_gpu("Numba CUDA simulator") == [] and for_gpu("NVIDIA GeForce RTX 4090") == []


def test_every_published_value_names_its_source_and_method():
    assert all(p.source and p.method and p.unit for p in PUBLISHED)
