"""Fine-grained chase: kernel SASS times each dependent load on its own; geometry inference on simulated caches."""

import numpy as np
import pytest

from probes.analysis import finegrained as fg

HIT, MISS = 30.0, 200.0


class SectoredCache:
    """Set-associative sectored cache with sequential set mapping: a miss allocates the line (evicting by the
    policy) and fetches only the missed sector. policy 'lru' or 'random'."""

    def __init__(self, size, line, sector, ways, policy="lru", seed=0):
        self.line, self.sector, self.ways, self.policy = line, sector, ways, policy
        self.sets = size // line // ways
        self.lines = [dict() for _ in range(self.sets)]  # tag -> (last use, set of sectors)
        self.clock, self.rng = 0, np.random.default_rng(seed)

    def access(self, addr) -> bool:
        self.clock += 1
        tag, sec = addr // self.line, addr % self.line // self.sector
        s = self.lines[tag % self.sets]
        if tag in s:
            use, sectors = s[tag]
            hit = sec in sectors
            sectors.add(sec)
            s[tag] = (self.clock if self.policy == "lru" else use, sectors)
            return hit
        if len(s) >= self.ways:
            victim = min(s, key=lambda k: s[k][0]) if self.policy == "lru" else list(s)[self.rng.integers(len(s))]
            del s[victim]
        s[tag] = (self.clock, {sec})
        return False


def chase_trace(cache, footprint, stride, passes=3, rng=None, trace_len=4096):
    """What latency.fine.chase records: the last trace_len accesses of `passes` walks."""
    rng = rng or np.random.default_rng(1)
    slots = footprint // stride
    hops = np.arange(passes * slots)
    offsets = hops % slots * stride
    hit = np.array([cache.access(int(o)) for o in offsets])
    lat = np.where(hit, HIT, MISS) + rng.normal(0, 1.0, hit.size)
    keep = slice(max(0, hops.size - trace_len), None)
    return fg.Trace(footprint, stride, offsets[keep], (hops // slots)[keep], lat[keep])


def sweep_trace(cache, footprint, stride, count=512, rng=None):
    """What latency.fine.stride records: first-touch accesses at a stride."""
    rng = rng or np.random.default_rng(2)
    slots = footprint // stride
    n = min(count, slots)
    offsets = np.arange(n) * stride
    hit = np.array([cache.access(int(o)) for o in offsets])
    lat = np.where(hit, HIT, MISS) + rng.normal(0, 1.0, n)
    return fg.Trace(footprint, stride, offsets, np.zeros(n, dtype=np.int64), lat)


GEOMETRY = dict(size=4096, line=128, sector=32, ways=4)


def _traces(policy="lru"):
    C, L = GEOMETRY["size"], GEOMETRY["line"]
    chase = [
        chase_trace(SectoredCache(**GEOMETRY, policy=policy), fp, 32)
        for fp in (C // 2, C, C + L, C + 2 * L, C + 3 * L, 2 * C)
    ]
    sweep = [sweep_trace(SectoredCache(**GEOMETRY), 4 * C, s) for s in (4, 8, 16, 32, 64, 128, 256)]
    return chase, sweep


def _by_name(result):
    return {i.quantity: i for i in result["inferences"]}


def test_inference_recovers_sector_line_ways_capacity_and_lru_from_a_simulated_cache():
    chase, sweep = _traces("lru")
    got = _by_name(fg.infer_all(chase, sweep))
    assert got["sector size"].value == 32, got["sector size"].evidence
    assert got["line size"].value == 128, got["line size"].evidence
    assert got["associativity"].value == 4, got["associativity"].evidence
    assert got["capacity"].value == 4096, got["capacity"].evidence
    assert got["replacement"].value == "LRU", got["replacement"].evidence
    assert all(i.evidence for i in got.values())


@pytest.mark.parametrize(
    "geometry", [dict(size=8192, line=64, sector=16, ways=2), dict(size=8192, line=256, sector=64, ways=8)]
)
def test_inference_follows_the_geometry_it_is_given(geometry):
    C, L = geometry["size"], geometry["line"]
    chase = [chase_trace(SectoredCache(**geometry), fp, geometry["sector"]) for fp in (C, C + L, C + 2 * L)]
    sweep = [sweep_trace(SectoredCache(**geometry), 4 * C, s) for s in (4, 8, 16, 32, 64, 128)]
    got = _by_name(fg.infer_all(chase, sweep))
    assert got["sector size"].value == geometry["sector"]
    assert got["line size"].value == L
    assert got["associativity"].value == geometry["ways"]


def test_random_replacement_is_not_called_lru():
    chase, sweep = _traces("random")
    got = _by_name(fg.infer_all(chase, sweep))
    assert got["replacement"].value != "LRU"


def test_noise_gives_unknown_for_everything():
    rng = np.random.default_rng(3)
    chase, sweep = _traces("lru")
    noisy = [
        fg.Trace(t.footprint_bytes, t.stride_bytes, t.offset_bytes, t.pass_index, rng.normal(300, 20, t.latency.size))
        for t in chase + sweep
    ]
    result = fg.infer_all(noisy[: len(chase)], noisy[len(chase) :])
    assert result["threshold"] is None
    assert not any(i.known for i in result["inferences"])


def test_all_misses_only_bounds_the_sector():
    cache = SectoredCache(**GEOMETRY)
    sweep = [sweep_trace(cache, 4 * 4096, s) for s in (64, 128)] + [
        fg.Trace(64, 4, np.arange(16) * 4, np.zeros(16, int), np.full(16, HIT))
    ]  # gives the threshold a hit group
    sector = fg.infer_sector_size(sweep[:2], threshold=(HIT + MISS) / 2)
    assert sector.value is None and "<= 64" in sector.evidence


def test_fine_trace_kernel_times_each_dependent_load_and_the_stop_clock_waits_for_it():
    from probes import catalogue
    from probes.catalogue import latency_fine
    from probes.kernel.compile import ptx_to_sass

    probe = catalogue.get("latency.fine.chase")
    ((name, ptx),) = probe.kernels((9, 0))
    insts = next(iter(ptx_to_sass(ptx, "sm_90").values()))
    triples = latency_fine._timed_loads(insts)
    assert len(triples) >= 2  # unrolled: several timed steps
    for a, ld, b in triples:
        assert [i.base for i in insts[a + 1 : b]].count("LDG") == 1  # one load per timed step
        sb = insts[ld].control.write_barrier
        assert any(i.control.waits_on(sb) for i in insts[ld + 1 : b + 1])
    assert probe.check_sass(name, insts) == []
    from probes.kernel import fine_ops

    assert latency_fine.TRACE_LEN == fine_ops.TRACE_LEN  # host cap == shared-memory trace size
    # a stop clock hoisted above the consumer of the load is caught
    broken = insts[: triples[0][1] + 1] + [insts[triples[0][2]]] + insts[triples[0][1] + 1 : triples[0][2]]
    assert probe.check_sass(name, broken) != []


def test_chain_and_axes_follow_the_environment():
    from probes.catalogue import latency_fine as L

    chain, slots = L.build_chain(1024, 128)
    assert slots == 8 and chain[0] == 32 and chain[7 * 32] == 0
    env = {"l2_cache_bytes": 40 << 20, "shared_memory_per_sm_bytes": 228 << 10}
    sizes = L.chase_axes(env, {"footprint_bytes": (), "stride_bytes": (32,)})["footprint_bytes"]
    assert min(sizes) < 228 << 10 < max(s for s in sizes if s < 1 << 20)  # brackets L1
    assert any(s < 40 << 20 for s in sizes) and max(sizes) > 40 << 20  # brackets L2
    assert max(L.stride_axes(env, {"footprint_bytes": (), "stride_bytes": (4,)})["footprint_bytes"]) == 80 << 20
    with pytest.raises(ValueError, match="l2_cache_bytes"):
        L.chase_axes({}, {"footprint_bytes": (), "stride_bytes": (32,)})
    probe = __import__("probes.catalogue", fromlist=["get"]).get("latency.fine.stride")
    with pytest.raises(ValueError, match="multiples of 4"):
        probe.parse_params(["stride_bytes=6"])


def test_section_renders_from_synthetic_documents(tmp_path):
    from probes.report.sections import finegrained as sec

    chase, sweep = _traces("lru")
    docs = [_doc("latency.fine.chase", chase, tmp_path), _doc("latency.fine.stride", sweep, tmp_path)]
    section = sec.section(docs)
    titles = {f.title for f in section.findings}
    assert any("line size" in t for t in titles) and any("sector" in t for t in titles)
    assert all(f.label == "undocumented" for f in section.findings)
    line = next(f for f in section.findings if "line size" in f.title)
    assert line.value == 128 and line.evidence
    figures = [b for b in section.blocks if type(b).__name__ == "Figure"]
    assert len(figures) == 2
    for fig in figures:
        fig.figure.savefig(tmp_path / f"{fig.name}.png")
        assert (tmp_path / f"{fig.name}.png").stat().st_size > 0
    table = next(b for b in section.blocks if type(b).__name__ == "Table")
    assert "associativity" in set(table.frame["quantity"])


@pytest.mark.parametrize("which", ["both", "sweep only", "chase only"])
def test_section_meets_the_report_builder_contract(tmp_path, which):
    from probes.report.build import run_sections

    chase, sweep = _traces("lru")
    docs = ([_doc("latency.fine.chase", chase, tmp_path)] if which != "sweep only" else []) + (
        [_doc("latency.fine.stride", sweep, tmp_path)] if which != "chase only" else []
    )
    for d in docs:
        (tmp_path / d["_file"]).parent.mkdir(exist_ok=True)
        (tmp_path / d["_file"]).write_text("{}")
    (result,) = [r for r in run_sections(docs, tmp_path) if r.family == "fine"]
    assert result.section is not None and result.section.findings


def _doc(name, traces, tmp_path):
    points = []
    for t in traces:
        samples = [
            {
                "rep": 0,
                "index": i,
                "latency_cycles": float(v),
                "offset_bytes": int(o),
                "pass_index": int(p),
                "throttled": False,
            }
            for i, (v, o, p) in enumerate(zip(t.latency, t.offset_bytes, t.pass_index))
        ]
        points.append(
            {
                "axes": {"footprint_bytes": t.footprint_bytes, "stride_bytes": t.stride_bytes},
                "samples": samples,
                "summary": None,
            }
        )
    env = {"l2_cache_bytes": 1 << 20, "shared_memory_per_sm_bytes": 4096, "gpu_name": "synthetic"}
    return {
        "probe": {"name": name, "unit": "cycles/access"},
        "backend": "gpu",
        "environment": env,
        "points": points,
        "_file": f"data/{name}.json",
    }


def test_beyond_l2_the_threshold_comes_from_the_chase_so_l1_hits_do_not_hide_the_l2_fetch_size():
    """Sweep beyond L2 has three groups (L1 hit, L2 hit, DRAM); the chase has only L2 hit / DRAM."""
    rng = np.random.default_rng(5)
    C, L = GEOMETRY["size"], GEOMETRY["line"]
    chase = []
    for fp in (C + L, C + 2 * L, 2 * C):
        t = chase_trace(SectoredCache(**GEOMETRY), fp, 32)
        chase.append(
            fg.Trace(
                t.footprint_bytes,
                t.stride_bytes,
                t.offset_bytes,
                t.pass_index,
                np.where(t.latency > 100, 600.0, 250.0) + rng.normal(0, 2, t.latency.size),
            )
        )
    sweep = []
    for stride in (4, 8, 16, 32, 64, 128):
        off = np.arange(256) * stride
        lat = np.where(off % 64 == 0, 600.0, np.where(off % 32 == 0, 250.0, 30.0)) + rng.normal(0, 2, off.size)
        sweep.append(fg.Trace(1 << 20, stride, off, np.zeros(off.size, dtype=np.int64), lat))
    got = _by_name(fg.infer_all(chase, sweep))
    assert got["sector size"].value == 64, got["sector size"].evidence
