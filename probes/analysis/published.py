"""Published measurements by other projects and papers, each with its source, method and units.

Shown beside our numbers as "published by ...", never merged with them and never presented as ours. Values are
re-tabulated from the sources (repository@commit:path, or paper and table) as collected in
../shared/peer-data/README.md and reported_levels.csv; the peer data files themselves stay out of this repository.
`how` says whether the source measured the value, quoted it, or took it from a device property.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

MT4G = "caps-tum/mt4g@4cc55662a9541a40e91909c61d543c524ae04fcb"
GPU_BENCHES_README = "RRZE-HPC/gpu-benches@1c36d509ee717dca9215c27135fa1e611bb03ed1:README.md"
GPU_BENCHES_LATENCY = "RRZE-HPC/gpu-benches@a7dc559cc5a1d09e62b6b0fbb99ee165039acba4:gpu-latency/"
HOPPER_REPRO = (
    "Johnsonms/NVIDIA-Hopper-Benchmark@2af634c24b0696808b7116c528ffef1e7cbb8055:reproduction/H100-dapperdingo/"
)
HOPPER_BENCH = "HPMLL/NVIDIA-Hopper-Benchmark@ded6f5765ad1b6e58573abb7cfe9c9b10a1719a7:RegularUnits/random_latency/"
LUO_2025 = "Luo et al., arXiv:2501.12084, Tables III/IV (as quoted in " + HOPPER_REPRO + "summary.md)"
ACCEL_SIM = (
    "accel-sim/accel-sim-framework@2260456ea5e6a1420f5734f145a4b7d8ab1d4737:util/tuner/GPU_Microbenchmark/output.file"
)

M_MT4G_L1 = (
    "mt4g p-chase: 1 thread, %clock around each ld.global.ca + st.shared, sequential 32 B stride; p50 of 255 loads"
)
M_MT4G_L2 = (
    "mt4g p-chase: 1 thread, %clock around each ld.global.cg + st.shared, sequential 32 B stride; p50 of 255 loads"
)
M_MT4G_MAIN = "mt4g p-chase: 1 thread, %clock per load, randomised chase; p50 of 2047 loads"
M_MT4G_SIZE = "mt4g size window: binary search then 256 B (L1) / 4 KiB (L2 segment) steps, sequential chase"
M_GB = "gpu-benches gpu-latency: 1 block x 64 threads on one random cycle, 64 B stride, host timer, min of 7"
M_REPRO_L1 = "sequential 8 B-stride chase in 32 KB, ld.global.ca, 1 thread, mean of 10"
M_REPRO_L2 = "same 32 KB chain with ld.global.cg, mean of 10"
M_REPRO_MEM = "sequential 32 B-stride chase, 1 thread, arrays >= 64 MB"


@dataclass(frozen=True)
class Published:
    gpu: str
    level: str  # L1, L2, L2-segment, DRAM, shared
    quantity: str  # latency, capacity, transition
    value: float
    unit: str  # cycles, bytes
    source: str  # repository@commit:path, or paper and table
    method: str  # stride, timer, chase kind
    how: str = "measured by the source"
    value_high: float | None = None  # for ranges (near..far L2)
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _mt4g(
    gpu: str, file: str, l1: float, l1_size: float, l2: float, l2_mean: float, seg: float, main: float, main_mean: float
) -> list[Published]:
    src = f"{MT4G}:sample_results/{file}"
    return [
        Published(gpu, "L1", "latency", l1, "cycles", src, M_MT4G_L1),
        Published(gpu, "L1", "capacity", l1_size, "bytes", src, M_MT4G_SIZE),
        Published(gpu, "L2", "latency", l2, "cycles", src, M_MT4G_L2, note=f"mean {l2_mean}"),
        Published(gpu, "L2-segment", "capacity", seg, "bytes", src, M_MT4G_SIZE),
        Published(gpu, "DRAM", "latency", main, "cycles", src, M_MT4G_MAIN, note=f"mean {main_mean}"),
    ]


PUBLISHED: tuple[Published, ...] = (
    *_mt4g("H100 SXM5 80GB HBM3", "NVIDIA H100 80GB HBM3.json", 38.0, 238848, 222.0, 219.3, 26214400, 864.0, 834.5),
    *_mt4g("H100 NVL", "NVIDIA H100 NVL.json", 38.0, 255232, 227.0, 237.8, 31457280, 802.0, 803.0),
    *_mt4g("A100-PCIE-40GB", "NVIDIA A100-PCIE-40GB.json", 68.0, 176128, 169.0, 221.0, 20971520, 671.0, 640.1),
    *_mt4g("Tesla V100-PCIE-16GB", "Tesla V100-PCIE-16GB.json", 30.0, 117760, 219.0, 214.5, 6291456, 395.0, 407.9),
    Published(
        "H100 SXM5 80GB HBM3",
        "shared",
        "latency",
        30.0,
        "cycles",
        f"{MT4G}:sample_results/NVIDIA H100 80GB HBM3.json",
        "mt4g p-chase in shared memory; p50",
    ),
    Published("H100 SXM5", "L1", "latency", 41.118, "cycles", HOPPER_REPRO + "raw/stats.txt", M_REPRO_L1),
    Published("H100 SXM5", "L2", "latency", 272.342, "cycles", HOPPER_REPRO + "raw/stats.txt", M_REPRO_L2),
    Published(
        "H100 SXM5",
        "DRAM",
        "latency",
        484.0,
        "cycles",
        HOPPER_REPRO + "summary.md",
        M_REPRO_MEM,
        note="source: stable at ~484 cycles for arrays >= 64 MB",
    ),
    Published(
        "H100 SXM5", "shared", "latency", 29.015, "cycles", HOPPER_REPRO + "raw/stats.txt", "shared_lat, mean of 10"
    ),
    Published("H800 PCIe", "L1", "latency", 32.0, "cycles", LUO_2025, "pointer chase (paper)", how="quoted"),
    Published(
        "H800 PCIe",
        "L2",
        "latency",
        264.5,
        "cycles",
        LUO_2025,
        "pointer chase (paper)",
        how="quoted",
        value_high=502.0,
        note="near..far L2",
    ),
    Published("H800 PCIe", "DRAM", "latency", 656.0, "cycles", LUO_2025, "pointer chase (paper)", how="quoted"),
    Published("H800 PCIe", "shared", "latency", 29.0, "cycles", LUO_2025, "pointer chase (paper)", how="quoted"),
    Published(
        "Tesla V100",
        "L1",
        "transition",
        128 * 1024,
        "bytes",
        GPU_BENCHES_README,
        M_GB,
        how="read from the ladder by the source",
    ),
    Published(
        "A100 (40/80GB)",
        "L1",
        "transition",
        192 * 1024,
        "bytes",
        GPU_BENCHES_README,
        M_GB,
        how="read from the ladder by the source",
    ),
    Published(
        "H100 PCIe",
        "L1",
        "transition",
        256 * 1024,
        "bytes",
        GPU_BENCHES_README,
        M_GB,
        how="read from the ladder by the source",
    ),
    Published(
        "Tesla V100", "L2", "capacity", 6 * 2**20, "bytes", GPU_BENCHES_README, M_GB, how="stated (MB as printed)"
    ),
    Published(
        "A100 (40/80GB)",
        "L2-segment",
        "capacity",
        20 * 2**20,
        "bytes",
        GPU_BENCHES_README,
        M_GB,
        how="stated (MB as printed)",
        note="segmented L2 '2x20MB'",
    ),
    Published(
        "H100 PCIe",
        "L2-segment",
        "capacity",
        25 * 2**20,
        "bytes",
        GPU_BENCHES_README,
        M_GB,
        how="stated (MB as printed)",
        note="segmented L2 '2x25MB'",
    ),
    Published("TITAN V", "L1", "latency", 33.7331, "cycles", ACCEL_SIM, "l1_lat: sequential chase in 32 KB, 1 thread"),
    Published("TITAN V", "L2", "latency", 211.072, "cycles", ACCEL_SIM, "l2_lat: chase with ld.global.cg"),
    Published("TITAN V", "DRAM", "latency", 313.463, "cycles", ACCEL_SIM, "mem_lat (the tool's own method)"),
    Published("TITAN V", "shared", "latency", 27.010254, "cycles", ACCEL_SIM, "shared_lat"),
)


_FORM_FACTORS = ("sxm", "pcie", "nvl")


def _gpu_key(name: str) -> tuple[str | None, str | None, frozenset]:
    """(model, form factor, memory sizes in GB) of a GPU name as drivers and papers spell it:
    'NVIDIA H100 80GB HBM3' -> ('h100', None, {80}); 'H100 SXM5 80GB HBM3' -> ('h100', 'sxm', {80});
    'A100 (40/80GB)' -> ('a100', None, {40, 80}); 'Tesla V100-PCIE-16GB' -> ('v100', 'pcie', {16})."""
    text = name.lower().replace("-", " ").replace("(", " ").replace(")", " ")
    words = [w for w in text.split() if w not in ("nvidia", "tesla", "geforce", "rtx")]
    plain = [w for w in words if not re.fullmatch(r"[\d/]+gb|hbm\w*|(sxm|pcie|nvl)\w*", w)]
    model = next((w for w in plain if re.fullmatch(r"[a-z]+\d+[a-z]?", w)), " ".join(plain) or None)
    form = next((f for w in words for f in _FORM_FACTORS if w.startswith(f)), None)
    sizes = frozenset(int(g) for m in re.finditer(r"(\d+)(?:/(\d+))?gb", text) for g in m.groups() if g)
    return model, form, sizes


def for_gpu(name: str) -> list[Published]:
    """Entries for the same GPU model: the model must match ('H100' never matches 'H800'), and form factor and
    memory size must agree where both names state them; a name without a form factor is the SXM part (an
    'H100 NVL' or 'H100 PCIe' entry is not shown for the driver's 'NVIDIA H100 80GB HBM3', 'H100 SXM5' is)."""
    model, form, sizes = _gpu_key(name)
    if model is None:
        return []
    out = []
    for p in PUBLISHED:
        m, f, sz = _gpu_key(p.gpu)
        # A name without a form factor is the default (SXM) part: drivers call the H100 SXM5 'H100 80GB HBM3'.
        if m != model or (form or "sxm") != (f or "sxm") or (sizes and sz and not sizes & sz):
            continue
        out.append(p)
    return out
