"""Ladder plot: measured points, fitted plateaus with their CIs, capacity intervals shaded (log x axis, units on both).

Output is byte-for-byte reproducible for a given matplotlib version: Agg backend, no software/date metadata, fixed
size and dpi, written atomically (probes.results.io.write_atomic).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from probes.analysis.levels import Level  # noqa: E402
from probes.results.io import write_atomic  # noqa: E402


def _bytes_label(x: float, _pos=None, fmt: str = "g") -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:{fmt}} {unit}"
    return f"{x:{fmt}} B"


def plot_ladder(
    footprint_bytes,
    latency,
    levels: list[Level],
    out_path,
    title: str = "",
    unit: str = "cycles",
    published: list | None = None,
) -> Path:
    """Write the plot to `out_path` (PNG) atomically and return the path."""
    fp = np.asarray(footprint_bytes, dtype=float)
    lat = np.asarray(latency, dtype=float)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.9):
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
        ax.plot(fp, lat, "o", ms=3.5, color="0.25", label="measured points", zorder=3)
        colours = sns.color_palette("deep", max(len(levels), 1))
        for lv, colour in zip(levels, colours):
            # solid over the core the latency comes from, dotted over the rest of the level's zone
            ax.hlines(lv.latency_cycles, lv.zone_bytes_low, lv.zone_bytes_high, colors=[colour], lw=1, ls=":")
            x0, x1 = lv.plateau_bytes_low, lv.plateau_bytes_high
            ax.hlines(
                lv.latency_cycles,
                x0,
                x1,
                colors=[colour],
                lw=2.2,
                zorder=4,
                label=f"{lv.name}: {lv.latency_cycles:.1f} [{lv.latency_ci_low:.1f}, {lv.latency_ci_high:.1f}]"
                f" {unit}, {lv.n_points} points",
            )
            ax.fill_between([x0, x1], lv.latency_ci_low, lv.latency_ci_high, color=colour, alpha=0.25, lw=0)
            if lv.capacity_bytes_low is not None:
                ax.axvspan(lv.capacity_bytes_low, lv.capacity_bytes_high, color=colour, alpha=0.15, lw=0)
                ax.annotate(
                    f"{lv.name} capacity\n{_bytes_label(lv.capacity_bytes_low, fmt='.1f')} - "
                    f"{_bytes_label(lv.capacity_bytes_high, fmt='.1f')}",
                    (np.sqrt(lv.capacity_bytes_low * lv.capacity_bytes_high), lv.latency_cycles),
                    xytext=(4, 6),
                    textcoords="offset points",
                    fontsize=7,
                    color=colour,
                )
        for pub in published or []:
            ax.axhline(pub["value"], color="0.5", ls=":", lw=1)
            ax.annotate(
                f"published by {pub['source']}: {pub['label']}",
                (fp.min() if fp.size else 1, pub["value"]),
                xytext=(2, 2),
                textcoords="offset points",
                fontsize=6,
                color="0.4",
            )
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_bytes_label))
        ax.set_xlabel("footprint (bytes, log scale)")
        ax.set_ylabel(f"latency ({unit} per load)")
        ax.set_title(title or "latency ladder")
        ax.legend(loc="upper left", fontsize=7, frameon=True)
        fig.tight_layout()
        return _save(fig, Path(out_path))


def _save(fig, out: Path) -> Path:
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    write_atomic(out, buf.getvalue())
    return out
