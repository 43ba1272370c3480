"""Results: the versioned schema and atomic, validated I/O. No CUDA."""

from probes.results.io import load, load_dir, save, write_atomic  # noqa: F401
from probes.results.schema import SCHEMA_VERSION, NewerSchemaError, ResultsError  # noqa: F401
