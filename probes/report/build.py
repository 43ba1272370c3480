"""Reports from stored results only (no CUDA): per-GPU README.md and the cross-GPU comparison.

Simulator results are refused for reports/: a simulated number is never published.
"""
from __future__ import annotations

from pathlib import Path

from probes.results import io
from probes.results.schema import ResultsError


class PublishError(ResultsError):
    pass


def gpu_folders(reports: Path) -> list[Path]:
    return sorted(p.parent for p in Path(reports).glob("*/data") if p.is_dir() and p.parent.name != "static")


def load_published(data_dir: Path) -> list[dict]:
    docs = io.load_dir(data_dir)
    for doc in docs:
        if doc["backend"] != "gpu":
            raise PublishError(f"{data_dir}: a {doc['backend']} result ({doc['probe']['name']}) cannot be published; "
                               "simulated numbers are test output, not measurements")
    return docs


def published_section(entries, heading: str = "## Published by other projects") -> list[str]:
    """Values other projects report, each with source and method: shown beside ours, never merged or as ours."""
    if not entries:
        return []
    L = [heading, "", "Not measured by gpu-probes. Each row is *published by* its source, with the source's method.",
         "", "| GPU | level | quantity | value | method | source |", "|---|---|---|---|---|---|"]
    for p in entries:
        value = f"{p.value:.10g}" + (f"–{p.value_high:.10g}" if p.value_high is not None else "") + f" {p.unit}"
        L.append(f"| {p.gpu} | {p.level} | {p.quantity} | {value} | {p.method} | {p.source} |")
    return L + [""]


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.4g}"


def gpu_report(folder: Path) -> str:
    docs = load_published(folder / "data")
    env = docs[0]["environment"] if docs else {}
    L = [f"# {env.get('gpu_name', folder.name)}", ""]
    for doc in docs:
        probe = doc["probe"]
        L += [f"## {probe['name']} ({doc['outcome']})", "", probe["method"], "",
              f"| point | median [{probe['unit']}] | 95 % CI | n | stopped because |", "|---|---|---|---|---|"]
        for pt in doc["points"]:
            s = pt["summary"] or {}
            axes = ", ".join(f"{k}={v}" for k, v in pt["axes"].items())
            L.append(f"| {axes} | {_fmt(s.get('median'))} | {_fmt(s.get('ci_low'))}–{_fmt(s.get('ci_high'))} | "
                     f"{s.get('n', 0)} | {s.get('stop_reason', '')} |")
        L.append("")
    from probes.analysis.published import for_gpu
    L += published_section(for_gpu(env.get("gpu_name", folder.name)), "## Published by other projects for this GPU")
    L += ["## Provenance", ""]
    for key in ("gpu_name", "compute_capability", "driver_version", "cuda_driver_version", "sm_count"):
        if key in env:
            L.append(f"- {key}: {env[key]}")
    for name, v in sorted(env.get("versions", {}).items()):
        L.append(f"- {name}: {v}")
    L += ["- reproduce: `make campaign` then `make report` on the same GPU", ""]
    return "\n".join(L)


def build_reports(reports: Path, gpu: str | None = None) -> list[Path]:
    folders = gpu_folders(reports)
    if gpu:
        folders = [f for f in folders if f.name == gpu]
        if not folders:
            raise ResultsError(f"no published data for GPU {gpu!r} under {reports}/{gpu}/data/")
    written = []
    for folder in folders:
        io.write_atomic(folder / "README.md", gpu_report(folder))
        written.append(folder / "README.md")
    return written


def build_comparison(reports: Path) -> Path:
    folders = gpu_folders(reports)
    L = ["# gpu-probes reports", "",
         "- [Static atlases](static/README.md): how ptxas lowers every PTX cache qualifier and instruction, per "
         "architecture (no GPU needed).",
         "- [Validation](validation/README.md): our ladder analysis run on ladders *published by other projects*, "
         "scored against what each source reports.", "", "## GPUs measured by gpu-probes", ""]
    if not folders:
        L += ["None yet: no campaign has been run on a GPU and committed. Run `make campaign` on a GPU, then "
              "commit `reports/<gpu>/data/`.", ""]
    else:
        L += ["| GPU | probes | report |", "|---|---|---|"]
        for f in folders:
            n = len(list((f / "data").glob("*.json")))
            L.append(f"| {f.name} | {n} | [{f.name}/README.md]({f.name}/README.md) |")
        L.append("")
    from probes.analysis.published import PUBLISHED
    L += published_section(PUBLISHED)
    out = Path(reports) / "README.md"
    io.write_atomic(out, "\n".join(L))
    return out
