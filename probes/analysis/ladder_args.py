"""The `analyze ladder` command line, apart from its analysis: building `python -m probes`'s parser must not import
pandas, scipy and ruptures (they cost most of a second on every command, `list` included)."""

from __future__ import annotations

import argparse

FORMAT_CHOICES = ("auto", "tidy", "gpu-benches", "mt4g", "results")


def _run(args) -> int:
    from probes.analysis.ladder_cmd import run

    return run(args)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `analyze ladder` (creating `analyze` if the caller has not)."""
    analyze = subparsers.add_parser("analyze", help="analyse stored or imported results")
    inner = analyze.add_subparsers(dest="analyze_command", required=True)
    p = inner.add_parser("ladder", help="detect cache levels and capacities in a latency ladder")
    p.add_argument(
        "file", metavar="FILE", help="tidy CSV, gpu-benches gpu-latency output, mt4g JSON/.txt, or results JSON"
    )
    p.add_argument("--format", default="auto", choices=FORMAT_CHOICES, help="input format (default: guess)")
    p.add_argument("--gpu", default=None, help="analyse only this GPU (files holding several)")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write the ladder plot here (one GPU only)")
    p.set_defaults(func=_run)
    return p
