"""Reports from stored results only (no CUDA): per-GPU README.md + index.html, and the cross-GPU comparison.

    reports/<gpu>/data/*.json  ->  reports/<gpu>/README.md, index.html, <figure>.png    (build_reports)
    reports/*/data/            ->  reports/README.md, reports/compare/<figure>.png       (build_comparison)

Each family module in probes/report/sections turns its stored results into findings and blocks; this module orders
them, renders the same blocks to Markdown (render.py) and to one self-contained HTML file (html.py), and adds the
documentation-gap summary, the "published by other projects" block and the provenance. Output is deterministic:
same data in, byte-identical files out (no date but the campaign's, figures with fixed metadata).

Simulator results are refused: a simulated number is never published. `allow_simulated=True` lets tests render them
into a temporary folder, and is itself refused for the repository's own reports/ folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from probes.analysis.published import PUBLISHED, for_gpu
from probes.report import compare, figures, html, provenance, sections
from probes.report.render import (
    Bullets,
    Code,
    Em,
    FigureRef,
    Grid,
    Heading,
    Image,
    Link,
    Strong,
    Text,
    fmt_number,
    fmt_quantity,
    grid_from_frame,
    markdown,
    text_with_code,
)
from probes.results import io
from probes.results.schema import ResultsError

REPO_REPORTS = Path(__file__).resolve().parents[2] / "reports"
SUMMARY_TITLE = "What the documentation does not tell you about this GPU"
NOT_MEASURED = "Not measured on this GPU."
SIMULATED = "Simulated results: test output, not measurements. Never published."


class PublishError(ResultsError):
    pass


class ReportError(ValueError):
    """A report section broke the contract of probes/report/sections (one-line message naming the section)."""


# ---- loading -----------------------------------------------------------------------------------------------------


def gpu_folders(reports: Path) -> list[Path]:
    return sorted(p.parent for p in Path(reports).glob("*/data") if p.is_dir() and p.parent.name != "static")


def _refuse_simulated_into_repo(target: Path, allow_simulated: bool) -> None:
    if not allow_simulated:
        return
    target, repo = Path(target).resolve(), REPO_REPORTS.resolve()
    if target == repo or repo in target.parents:
        raise PublishError(
            f"{target}: allow_simulated is for test output in a temporary folder; the repository's "
            "reports/ publishes measurements only"
        )


def load_published(data_dir: Path, allow_simulated: bool = False, problems: list | None = None) -> list[dict]:
    """Every results file of one GPU's data folder, each with `_file` (its path relative to the report folder).
    With `problems` (a list), an unreadable or unpublishable file is appended there as one line and left out;
    without it, the first such file raises."""
    from probes.results.publish import PublishRefused, refuse_unless_measured

    _refuse_simulated_into_repo(data_dir, allow_simulated)
    data_dir = Path(data_dir)
    docs = []
    for path in sorted(data_dir.rglob("*.json")):
        try:
            doc = io.load(path)
            if not allow_simulated:
                try:
                    refuse_unless_measured(doc, path)
                except PublishRefused as err:
                    raise PublishError(str(err)) from None
        except ResultsError as err:
            if problems is None:
                raise
            problems.append(str(err))
            continue
        doc["_file"] = path.relative_to(data_dir.parent).as_posix()
        docs.append(doc)
    names = sorted({str(d["environment"].get("gpu_name")) for d in docs})
    if len(names) > 1:
        err = PublishError(f"{data_dir}: results from several GPUs ({', '.join(names)}); keep one folder per GPU")
        if problems is None:
            raise err
        problems.append(str(err))
    return docs


class UnreadableData(PublishError):
    """Some data files could not be read or published: every report that could be built was; `problems` holds one
    line per file (the first is also in the message)."""

    def __init__(self, problems: list[str], skipped: list[str], written: list[Path]):
        self.problems, self.skipped, self.written = problems, skipped, written
        super().__init__(
            f"{len(problems)} data file(s) unreadable or not publishable (first: {problems[0]}); "
            f"left as it was: {', '.join(skipped)}"
        )


# ---- sections ----------------------------------------------------------------------------------------------------


@dataclass
class FamilyResult:
    family: str
    title: str
    order: float
    section: sections.Section | None  # None: not measured on this GPU
    note: str = ""  # why not, when there were runs without data


def _not_measured(docs) -> str:
    runs = [
        f"{d['probe']['name']} ({d['outcome']}"
        + (f": {d['error'].get('reason') or d['error'].get('message')}" if isinstance(d.get("error"), dict) else "")
        + ")"
        for d in docs
    ]
    return NOT_MEASURED + (" Stored runs without data: " + "; ".join(runs) + "." if runs else "")


def _check_section(sec, folder: Path, where: str) -> None:
    if not isinstance(sec, sections.Section):
        raise ReportError(f"{where}: section() returned {type(sec).__name__}, not a Section")
    names = [b.name for b in sec.blocks if isinstance(b, sections.Figure)]
    for name in names:
        figures.check_name(name)
    for f in sec.findings:
        if not isinstance(f, sections.Finding):
            raise ReportError(f"{where}: findings must be Finding objects, got {type(f).__name__}")
        if f.figure is not None and f.figure not in names:
            raise ReportError(f"{where}: finding {f.title!r} names figure {f.figure!r}, which the section lacks")
        for rel in f.data:
            Link(rel, rel)  # relative, inside the report folder
            if not (folder / rel).is_file():
                raise ReportError(f"{where}: finding {f.title!r} cites {rel}, which is not a file under {folder}")


def run_sections(docs: list[dict], folder: Path) -> list[FamilyResult]:
    """Each family in ORDER: its Section, or None when this GPU has no measured points for it."""
    out = []
    for mod in sections.families():
        where = f"report section {mod.FAMILY!r} on {folder.name}"
        mine = sections.docs_for(mod, docs)
        measured = [d for d in mine if d["points"]]
        title = getattr(mod, "TITLE", mod.FAMILY)
        if not measured:
            out.append(FamilyResult(mod.FAMILY, title, getattr(mod, "ORDER", 100), None, _not_measured(mine)))
            continue
        try:
            with figures.style():
                sec = mod.section(measured)
        except Exception as err:  # re-raised as one line naming the section; the cause stays chained
            raise ReportError(f"{where} failed: {type(err).__name__}: {err}") from err
        _check_section(sec, folder, where)
        # a finding that names no raw data links to every results file its section read
        sec.findings = [f if f.data else replace(f, data=tuple(d["_file"] for d in measured)) for f in sec.findings]
        out.append(FamilyResult(mod.FAMILY, sec.title or title, getattr(mod, "ORDER", 100), sec))
    return out


def _claimed(docs) -> set[str]:
    return {d["_file"] for mod in sections.families() for d in sections.docs_for(mod, docs)}


# ---- blocks ------------------------------------------------------------------------------------------------------


def published_blocks(entries, heading: str = "Published by other projects") -> list:
    """Values other projects report, each with source and method: shown beside ours, never merged or as ours."""
    if not entries:
        return []
    rows = []
    for p in entries:
        value = f"{p.value:.10g}" + (f"–{p.value_high:.10g}" if p.value_high is not None else "") + f" {p.unit}"
        rows.append(tuple((x,) for x in (p.gpu, p.level, p.quantity, value, p.method, p.source)))
    return [
        Heading(2, heading, "published"),
        Text(
            ("Not measured by gpu-probes. Each row is ", Em("published by"), " its source, with the source's method.")
        ),
        Grid(("GPU", "level", "quantity", "value", "method", "source"), tuple(rows)),
    ]


def _ci_text(f) -> str:
    return f"{fmt_number(f.ci[0])} – {fmt_number(f.ci[1])}" if f.ci else "no CI"


def _data_links(files) -> tuple:
    parts = []
    for rel in files:
        parts += [", "] if parts else []
        parts.append(Link(Path(rel).name, rel))
    return tuple(parts)


def summary_blocks(results: list[FamilyResult]) -> list:
    order = {r.family: i for i, r in enumerate(results)}
    found = [f for r in results if r.section for f in r.section.findings]
    found.sort(key=lambda f: (f.label == "documented & matches", -f.surprise, order.get(f.family, 0), f.title))
    blocks = [Heading(2, SUMMARY_TITLE, "summary")]
    if not found:
        return blocks + [Text(("No findings yet: no section below has measured data to report on.",))]
    blocks.append(
        Text(
            (
                "Every finding of the sections below: ",
                Em("undocumented"),
                " and ",
                Em("documented & differs"),
                " first, most surprising first. Value: the median; "
                "95 % CI: its confidence interval; raw data: the stored results it comes from.",
            )
        )
    )
    rows = []
    for i, f in enumerate(found, 1):
        rows.append(
            (
                (str(i),),
                (f.title,),
                (fmt_quantity(f.value, f.unit),),
                (_ci_text(f),),
                (f.label,),
                (f.documented or "–",),
                (f.evidence,),
                (FigureRef(f.figure),) if f.figure else ("–",),
                _data_links(f.data),
            )
        )
    blocks.append(
        Grid(
            ("#", "finding", "value", "95 % CI", "verdict", "documented", "evidence", "figure", "raw data"), tuple(rows)
        )
    )
    return blocks


def _section_blocks(blocks, images: dict, folder_prefix: str = "") -> list:
    out = []
    for b in blocks:
        if isinstance(b, sections.Paragraph):
            out.append(Text(text_with_code(b.text)))
        elif isinstance(b, sections.Table):
            out.append(grid_from_frame(b.frame, b.caption))
        elif isinstance(b, sections.Figure):
            name = figures.check_name(b.name)
            if name in images:
                raise ReportError(f"figure name {name!r} is used twice in one report; names must be unique")
            png, svg = figures.render(b.figure)
            images[name] = png
            out.append(Image(folder_prefix + name, svg, b.caption))
        else:
            raise ReportError(f"a section block must be Paragraph, Table or Figure, not {type(b).__name__}")
    return out


def _raw_table(doc) -> list:
    probe = doc["probe"]
    rows = []
    for pt in doc["points"]:
        s = pt["summary"] or {}
        rows.append(
            (
                (", ".join(f"{k}={v}" for k, v in pt["axes"].items()),),
                (fmt_number(s.get("median")),),
                (f"{fmt_number(s.get('ci_low'))} – {fmt_number(s.get('ci_high'))}",),
                (fmt_number(s.get("n", 0)),),
                (str(s.get("stop_reason", "")),),
            )
        )
    return [
        Heading(3, f"{probe['name']} ({doc['outcome']})"),
        Text(text_with_code(probe["method"]) + (" Raw data: ", Link(Path(doc["_file"]).name, doc["_file"]))),
        Grid(("point", f"median [{probe['unit']}]", "95 % CI", "n", "stopped because"), tuple(rows)),
    ]


@dataclass
class Page:
    title: str
    blocks: list
    images: dict = field(default_factory=dict)  # figure name -> PNG bytes


def gpu_page(folder: Path, allow_simulated: bool = False, docs: list[dict] | None = None) -> Page:
    folder = Path(folder)
    docs = load_published(folder / "data", allow_simulated) if docs is None else docs
    env = docs[0]["environment"] if docs else {}
    name = str(env.get("gpu_name") or folder.name)
    results = run_sections(docs, folder)
    images: dict = {}
    cc = env.get("compute_capability")
    blocks = [
        Heading(1, name, "top"),
        Text(
            (
                f"Compute capability {'.'.join(map(str, cc)) if cc else 'unknown'}, "
                f"{env.get('sm_count', 'unknown')} SMs; campaign {provenance.campaign_dates(docs)}. "
                "Measured by gpu-probes from the results under ",
                Code("data/"),
                "; values published by other projects are shown apart, with their sources.",
            )
        ),
    ]
    if any(d["backend"] != "gpu" for d in docs):
        blocks.append(Text((Strong(SIMULATED),)))
    blocks += _fleet_note(docs, folder)
    blocks += summary_blocks(results)
    for r in results:
        blocks.append(Heading(2, r.title, r.family))
        blocks += _section_blocks(r.section.blocks, images) if r.section else [Text((r.note,))]
    claimed = _claimed(docs)
    others = [d for d in docs if d["_file"] not in claimed]
    if others:
        blocks += [
            Heading(2, "Other measurements", "other"),
            Text(("Probes without a report section yet: their stored points as measured.",)),
        ]
        for doc in others:
            blocks += _raw_table(doc)
    blocks += published_blocks(for_gpu(name), "Published by other projects for this GPU")
    blocks += provenance.block(docs)
    return Page(name, blocks, images)


def _fleet_note(docs: list[dict], folder: Path) -> list:
    """Results merged from a fleet come from several cards: say so, and point at the per-node flags."""
    nodes = sorted(
        {
            f"{d['fleet'].get('node')}/{d['fleet'].get('gpu_uuid') or d['fleet'].get('gpu_id')}"
            for d in docs
            if isinstance(d.get("fleet"), dict)
        }
    )
    if not nodes:
        return []
    parts = [
        f"Measured on {len(nodes)} card(s) by a fleet campaign; results of different cards are kept apart "
        "(one file each under ",
        Code("data/"),
        "), never averaged.",
    ]
    if (folder / "fleet-nodes.md").is_file():
        parts += [" Throttled or busy cards are flagged in ", Link("fleet-nodes.md", "fleet-nodes.md"), "."]
    return [Text(tuple(parts))]


def gpu_report(folder: Path, allow_simulated: bool = False) -> str:
    """The Markdown of one GPU's report (figures rendered but not written)."""
    return markdown(gpu_page(folder, allow_simulated).blocks)


def build_reports(reports: Path, gpu: str | None = None, allow_simulated: bool = False) -> list[Path]:
    """Write README.md, index.html and the figures' PNGs of every GPU folder (or one); return the pages written."""
    _refuse_simulated_into_repo(reports, allow_simulated)
    folders = gpu_folders(reports)
    if gpu:
        folders = [f for f in folders if f.name == gpu]
        if not folders:
            raise ResultsError(f"no published data for GPU {gpu!r} under {reports}/{gpu}/data/")
    written, problems, skipped = [], [], []
    for folder in folders:  # one bad file costs its own GPU's report (left as it was), never the others
        mine: list[str] = []
        docs = load_published(folder / "data", allow_simulated, problems=mine)
        if mine:
            problems += mine
            skipped.append(str(folder / "README.md"))
            continue
        page = gpu_page(folder, allow_simulated, docs)
        for name, png in sorted(page.images.items()):
            io.write_atomic(folder / f"{name}.png", png)
        io.write_atomic(folder / "README.md", markdown(page.blocks))
        io.write_atomic(folder / "index.html", html.html(page.title, page.blocks))
        written += [folder / "README.md", folder / "index.html"]
    if problems:
        raise UnreadableData(problems, skipped, written)
    return written


# ---- comparison --------------------------------------------------------------------------------------------------


def _gpu_row(folder: Path, docs) -> tuple:
    env = docs[0]["environment"] if docs else {}
    cc = env.get("compute_capability")
    return (
        (str(env.get("gpu_name") or folder.name),),
        (".".join(map(str, cc)) if cc else "–",),
        (str(len(docs)),),
        (provenance.campaign_dates(docs),),
        (Link("README.md", f"{folder.name}/README.md"), ", ", Link("HTML", f"{folder.name}/index.html")),
    )


def _close_figures(results) -> None:
    import matplotlib.pyplot as plt

    for r in results:
        for b in r.section.blocks if r.section else ():
            if isinstance(b, sections.Figure):
                plt.close(b.figure)


def comparison_page(reports: Path, allow_simulated: bool = False) -> Page:
    folders = gpu_folders(reports)
    blocks = [
        Heading(1, "gpu-probes reports"),
        Bullets(
            (
                (
                    Link("Static atlases", "static/README.md"),
                    ": how ptxas lowers every PTX cache qualifier and instruction, per architecture (no GPU needed).",
                ),
                (
                    Link("Validation", "validation/README.md"),
                    ": our ladder analysis run on ladders ",
                    Em("published by other projects"),
                    ", scored against what each source reports.",
                ),
            )
        ),
        Heading(2, "GPUs measured by gpu-probes"),
    ]
    images: dict = {}
    if not folders:
        blocks.append(
            Text(
                text_with_code(
                    "None yet: no campaign has been run on a GPU and committed. Run "
                    "`make` on a GPU (the campaign, then `make publish`), then commit `reports/<gpu>/`."
                )
            )
        )
    else:
        problems: list[str] = []
        docs_by_gpu = {f.name: load_published(f / "data", allow_simulated, problems=problems) for f in folders}
        if problems:  # a comparison missing a GPU would misstate the fleet: keep the old one, name the files
            raise UnreadableData(problems, [str(Path(reports) / "README.md")], [])
        results_by_gpu = {}
        for f in folders:
            results_by_gpu[f.name] = run_sections(docs_by_gpu[f.name], f)
            _close_figures(results_by_gpu[f.name])
        if any(d["backend"] != "gpu" for docs in docs_by_gpu.values() for d in docs):
            blocks.append(Text((Strong(SIMULATED),)))
        blocks.append(
            Grid(
                ("GPU", "compute capability", "results files", "campaign", "report"),
                tuple(_gpu_row(f, docs_by_gpu[f.name]) for f in folders),
            )
        )
        findings = {g: [x for r in rs if r.section for x in r.section.findings] for g, rs in results_by_gpu.items()}
        blocks += [
            Heading(2, "Findings side by side", "side-by-side"),
            Text(
                (
                    "Columns are the GPU folders under ",
                    Code("reports/"),
                    ". A difference is flagged only "
                    "where the GPUs' 95 % CIs do not overlap; overlapping CIs do not prove the values equal.",
                )
            ),
        ]
        for mod in sections.families():
            grid = compare.table(findings, mod.FAMILY)
            hook = getattr(mod, "compare", None)
            measured = {g: [d for d in sections.docs_for(mod, docs) if d["points"]] for g, docs in docs_by_gpu.items()}
            measured = {g: ds for g, ds in measured.items() if ds}
            with figures.style():
                extra = hook(measured) if hook and measured else []
            if grid is None and not extra:
                continue
            blocks.append(Heading(3, getattr(mod, "TITLE", mod.FAMILY), mod.FAMILY))
            blocks += ([grid] if grid else []) + _section_blocks(extra, images, "compare/")
    blocks += published_blocks(PUBLISHED)
    return Page("gpu-probes reports", blocks, images)


def build_comparison(reports: Path, allow_simulated: bool = False) -> Path:
    """Write reports/README.md (and reports/compare/<figure>.png for the families' compare() figures)."""
    _refuse_simulated_into_repo(reports, allow_simulated)
    page = comparison_page(reports, allow_simulated)
    for name, png in sorted(page.images.items()):
        io.write_atomic(Path(reports) / "compare" / f"{name}.png", png)
    out = Path(reports) / "README.md"
    io.write_atomic(out, markdown(page.blocks))
    return out
