"""Put this folder first on PYTHONPATH to make a bare image: the modules named in $GPU_PROBES_BLOCK_IMPORTS
(comma-separated top-level names) cannot be imported, in this process and in every worker it starts."""

import os
import sys

_BLOCKED = {n.strip() for n in os.environ.get("GPU_PROBES_BLOCK_IMPORTS", "").split(",") if n.strip()}


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/import_blocker)", name=name)
        return None


if _BLOCKED:
    sys.meta_path.insert(0, _Blocker())
