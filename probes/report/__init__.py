"""Report builder: reads stored results only, imports no CUDA."""
