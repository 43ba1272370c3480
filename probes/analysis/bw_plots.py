"""Bandwidth ladder plot: points, plateaus with their CIs, where each level ends (shaded); log2 working-set axis.

Byte-for-byte reproducible for a given matplotlib version: Agg backend, no software metadata, fixed size and dpi,
written atomically (probes.results.io.write_atomic).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from probes.results.io import write_atomic  # noqa: E402


def bytes_label(x: float, _pos=None, fmt: str = "g") -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:{fmt}} {unit}"
    return f"{x:{fmt}} B"


def draw_levels(ax, levels, colours) -> None:
    for lv, c in zip(levels, colours):
        ax.hlines(lv.bandwidth_GBps, lv.zone_bytes_low, lv.zone_bytes_high, colors=[c], lw=1, ls=":")
        ax.hlines(
            lv.bandwidth_GBps,
            lv.plateau_bytes_low,
            lv.plateau_bytes_high,
            colors=[c],
            lw=2.2,
            zorder=4,
            label=f"{lv.name}: {lv.bandwidth_GBps:.0f} [{lv.bandwidth_ci_low:.0f}, {lv.bandwidth_ci_high:.0f}]"
            f" GB/s, {lv.n_points} points",
        )
        ax.fill_between(
            [lv.plateau_bytes_low, lv.plateau_bytes_high],
            lv.bandwidth_ci_low,
            lv.bandwidth_ci_high,
            color=c,
            alpha=0.25,
            lw=0,
        )
        if lv.end_bytes_low is not None:
            ax.axvspan(lv.end_bytes_low, lv.end_bytes_high, color=c, alpha=0.15, lw=0)
            ax.annotate(
                f"{lv.name} ends\n{bytes_label(lv.end_bytes_low, fmt='.1f')} - "
                f"{bytes_label(lv.end_bytes_high, fmt='.1f')}",
                (np.sqrt(lv.end_bytes_low * lv.end_bytes_high), lv.bandwidth_GBps),
                xytext=(4, -24),
                textcoords="offset points",
                fontsize=7,
                color=c,
            )


def plot_bandwidth(working_set, bandwidth, levels, out_path, title: str = "", reference=None) -> Path:
    """`reference`: optional [(label, value, (x0, x1))] hand readings drawn as grey dashes."""
    import seaborn as sns

    ws = np.asarray(working_set, dtype=float)
    bw = np.asarray(bandwidth, dtype=float)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
        ax.plot(ws, bw, "o", ms=3.5, color="0.25", label="data points", zorder=3)
        draw_levels(ax, levels, sns.color_palette("deep", max(len(levels), 1)))
        for label, value, (x0, x1) in reference or []:
            ax.hlines(value, x0, x1, colors=["0.45"], lw=1, ls="--")
            ax.annotate(label, (x0, value), xytext=(2, 4), textcoords="offset points", fontsize=6, color="0.35")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(bytes_label))
        ax.set_xlabel("working set (bytes, log scale)")
        ax.set_ylabel("bandwidth (GB/s)")
        ax.set_ylim(bottom=0)
        ax.set_title(title or "bandwidth ladder", fontsize=9)
        ax.legend(loc="upper right", fontsize=7, frameon=True)
        fig.tight_layout()
        buf = io.BytesIO()
        try:
            fig.savefig(buf, format="png", metadata={"Software": None})
        finally:
            plt.close(fig)
    out = Path(out_path)
    write_atomic(out, buf.getvalue())
    return out
