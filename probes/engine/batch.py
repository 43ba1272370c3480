"""Several probes in one worker process: `python -m probes.engine.batch SPEC.json` (the self-test's smoke runs).

Each item is a worker command line, run by probes.engine.worker.main in this one process, so the probes share one
interpreter start, numba import and CUDA context instead of paying for one each. After each item its exit code is
appended to the status file (written atomically); a CUDA error poisons the context, so the batch stops there and
the parent (probes.engine.campaign.run_batch) runs what is left in one fresh worker each, as a campaign does.
"""

from __future__ import annotations

import json
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m probes.engine.batch SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(open(argv[0]).read())
    import os

    from probes.engine import worker as W
    from probes.results.io import write_atomic

    W.die_with_parent()  # once for the batch; its items then see no parent to arm again
    os.environ.pop(W.PARENT_ENV, None)
    codes = []
    for item in spec["items"]:
        try:
            code = W.main(item)
        except SystemExit as err:  # argparse: a bad command line is this item's error, not the batch's
            code = err.code if isinstance(err.code, int) else W.EXIT_ERROR
        codes.append(code)
        write_atomic(spec["status"], json.dumps(codes))
        if code in (W.EXIT_CUDA, W.EXIT_NO_GPU):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
