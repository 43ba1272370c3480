"""gpu-probes: microbenchmarks for what NVIDIA does not document about its GPUs."""

__version__ = "0.1.0"
