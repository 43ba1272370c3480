"""cache-hints.staleness: a producer block writes a flag repeatedly; consumer blocks poll it with each hint and count
stale reads (a litmus test: counts only, nothing claimed beyond what was observed)."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import REQ, check, hint_axes, hints_param, method_text
from probes.catalogue.cache_hints.kernels import check_sass, kernels_for, marker, staleness_kernel
from probes.spec import KernelCheckError, Param, Probe, positive


def litmus_counts(obs: np.ndarray, otime: np.ndarray, wtime: np.ndarray) -> dict:
    """Stale reads and time-to-visibility of one consumer's poll log.

    A poll is stale when it returns a value older than the newest write the producer had issued (its %globaltimer
    stamp after the store) before the consumer's previous poll returned; a regression is a poll returning less than
    the one before it. Visibility of value i: the first poll stamp that returned >= i, minus the write's stamp.
    """
    obs = np.asarray(obs, dtype=np.int64)
    otime = np.asarray(otime, dtype=np.int64)
    w = np.asarray(wtime, dtype=np.int64)[1:]  # w[i-1]: stamp of the write of value i
    issued = np.searchsorted(w, otime[:-1], side="left")  # writes stamped strictly before the previous poll returned
    stale = int(np.sum(obs[1:] < issued))
    regressions = int(np.sum(np.diff(obs) < 0))
    vis = []
    for i in range(1, len(w) + 1):
        seen = np.nonzero(obs >= i)[0]
        if len(seen):
            vis.append(int(otime[seen[0]] - w[i - 1]))
    fraction = stale / max(1, len(obs) - 1)
    return {
        "stale_reads": stale,
        "polls": len(obs),
        "stale_fraction": fraction,
        "fresh_fraction": 1 - fraction,
        "regressions": regressions,
        "visibility_ns": float(np.median(vis)) if vis else None,
        "last_seen": int(obs.max()) if len(obs) else 0,
    }


def measure_staleness(ctx, point: dict, params: dict) -> dict:
    hint = point["hint"]
    writes, polls = params["writes"], params["polls"]
    consumers = params["consumers"] or max(1, min(4, int(ctx.env.get("sm_count") or 2) - 1))
    flag = ctx.to_device(np.zeros(1, dtype=np.uint32))
    wtime = ctx.to_device(np.zeros(writes + 1, dtype=np.uint64))
    obs = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint32))
    otime = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint64))
    sm = ctx.to_device(np.zeros(consumers + 1, dtype=np.uint32))
    ctx.kernel(("staleness", hint), staleness_kernel(hint))[consumers + 1, 1](
        flag, np.int64(writes), np.uint64(params["gap_cycles"]), np.int64(polls), wtime, obs, otime, sm, np.int64(0)
    )
    ctx.synchronize()
    check("producer's final flag", flag.copy_to_host()[0], writes)
    w = wtime.copy_to_host()
    check("staleness hint marker", w[0], marker("staleness", hint))
    if np.any(np.diff(w[1:].astype(np.int64)) < 0):
        raise KernelCheckError("producer write stamps go backwards: %globaltimer misread")
    o, ot, s = (
        obs.copy_to_host().reshape(consumers, polls),
        otime.copy_to_host().reshape(consumers, polls),
        sm.copy_to_host(),
    )
    if o.max(initial=0) > writes:
        raise KernelCheckError(f"a consumer read {int(o.max())}, but the producer wrote only 1..{writes}")
    rows = {
        key: []
        for key in (
            "stale_reads",
            "polls",
            "stale_fraction",
            "fresh_fraction",
            "regressions",
            "visibility_ns",
            "last_seen",
            "same_sm_as_producer",
            "consumer",
        )
    }
    for c in range(consumers):
        counts = litmus_counts(o[c], ot[c], w)
        for key, value in counts.items():
            rows[key].append(value)
        rows["same_sm_as_producer"].append(bool(s[c + 1] == s[0]))
        rows["consumer"].append(c)
    return rows


PROBE = Probe(
    name="cache-hints.staleness",
    summary="producer block writes a flag repeatedly; consumer blocks poll it with each hint: stale reads",
    measure=measure_staleness,
    axes=hint_axes("staleness"),
    unit="fraction of polls not stale",
    value_key="fresh_fraction",  # not stale_fraction: a median of 0 never satisfies a relative-CI stopping rule
    method=method_text("""Block 0 writes 1..writes to a flag with st.relaxed.gpu, `gap_cycles` apart, stamping each
        write with %globaltimer; consumer blocks (other SMs when co-resident; `same_sm_as_producer` says) poll
        it `polls` times with the hinted load, stamping each poll. A poll is stale when it returns a value older
        than the newest write stamped before the previous poll returned; visibility = first poll seeing a value
        minus its write stamp. Counts only: nothing is claimed beyond what was observed."""),
    params=(
        hints_param("staleness"),
        Param("consumers", int, 0, "consumer blocks (0: min(4, SMs - 1))"),
        Param("writes", int, 64, "values the producer writes", positive),
        Param("gap_cycles", int, 2000, "cycles between writes", positive),
        Param("polls", int, 16384, "polls per consumer", positive),
    ),
    requires=REQ,
    kernels=kernels_for("staleness"),
    check_sass=check_sass,
    smoke=("hints=none,volatile", "consumers=1", "writes=4", "gap_cycles=8", "polls=16"),
)
