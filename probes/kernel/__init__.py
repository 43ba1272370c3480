"""The kernel toolkit the probes call: in-kernel intrinsics, the one timed-pass primitive, the pointer chase, the
fine-grained and bandwidth kernels, compilation to PTX/SASS, the PTX loader and launcher, tensor maps, and the
Context a probe's `measure` gets. Below the catalogue, above static/: it imports neither the catalogue nor the engine
(the engine loads probes by name; probes never import it).
"""
