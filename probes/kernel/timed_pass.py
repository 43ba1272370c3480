"""The one timed-pass primitive every chase and instruction kernel uses: source text of a timed n / 2n section.

What every timed kernel needs, written once (issue 20, defects 2 and 3):
- **start clock after every preload is consumed**: before the first clock read, a branch tests every chained value
  (the warm pass's last pointer, each instruction chain's initial value loaded from memory). A bare clock read
  would race a cold load that the first timed step then waits for, inside t(n) but not t(2n) (FFMA read 3.3-3.7
  cycles instead of 4);
- **n and 2n steps**, per-step cost (t(2n) - t(n)) / n: the fixed cost of clock reads and loop exits cancels
  (nanoBench's two-length trick);
- **stop clock waits on the last chained result**: the same branch before each stop read;
- **an unrolled uint32 loop**: `unroll` steps per trip (16 to 32), a 32-bit counter and an unsigned compare, so
  ptxas puts no ISETP/ISETP.EX/SEL/IADD3/IMAD.X between consecutive chained loads (Numba's int64 `range()` did, and
  loop overhead, not the cache, set the short latencies). The loop step is a run-time value (`one`, = 1) where the
  caller must keep ptxas from unrolling further (the instruction kernels); chases use the literal 1.

The caller gives the loop body of one trip (already unrolled, its steps the caller's own: a chase step, an op
step), the consume test and the statement it guards (which must never run: the test is false for real data).
`probes.static.kernel_checks` verifies the outcome in SASS: clock discipline and step overhead.

A section of one and two straight-line steps (`trips=None`: no loop at all) serves kernels that time a single
access past a setup (cache-hints.prefetch-size); `loop` is the same unrolled uint32 loop for untimed warm passes;
`per_op` is the two-length arithmetic the engine applies to every sample that hands back raw t(n) and t(2n).
"""

from __future__ import annotations

UNROLL = 16  # chase steps per loop trip: a multiple of this is the length of every timed pass
CLOCKS = (("t", "clock64()"), ("g", "globaltimer()"))


def round_steps(steps: int, unroll: int = UNROLL) -> int:
    """`steps` rounded up to whole trips of `unroll` (at least one trip)."""
    return max(unroll, -(-int(steps) // unroll) * unroll)


def loop(body: list[str], count: str, step: str = "uint32(1)", indent: str = "    ") -> list[str]:
    """Source lines of `count` trips (a uint32 value) of `body` (one trip, already unrolled) on a 32-bit counter
    with an unsigned compare: the loop of every timed pass, and of untimed warm passes over the same chain."""
    return [
        f"{indent}i = uint32(0)",
        f"{indent}while i < {count}:",
        *(indent + "    " + line for line in body),
        f"{indent}    i = uint32(i + {step})",
    ]


def section(
    body: list[str],
    consume: str,
    sink: str,
    trips: str | None = "trips",
    step: str = "uint32(1)",
    warm: bool = False,
    clocks=CLOCKS,
    indent: str = "    ",
) -> list[str]:
    """Source lines of a timed section: optional warm pass of `trips` trips, then marks 0, 1, 2 around passes of
    `trips` and 2 x `trips` trips. `trips` and `step` name uint32 values; `body` lines are indented one level below
    `indent`. Defines <name>0, <name>1, <name>2 for every (name, read) in `clocks`. With `trips=None` the passes
    are `body` once and twice in straight-line code (no loop, no warm pass)."""
    guard = [f"{indent}if {consume}:", f"{indent}    {sink}"]

    def mark(k: int) -> list[str]:
        return [f"{indent}{name}{k} = {read}" for name, read in clocks]

    if trips is None:
        if warm:
            raise ValueError("a straight-line section has no warm pass: warm the chain before it")
        once = [indent + line for line in body]
        return guard + mark(0) + once + guard + mark(1) + once + once + guard + mark(2)
    out = [f"{indent}trips2 = uint32({trips} + {trips})"]
    if warm:
        out += loop(body, trips, step, indent)
    out += (
        guard
        + mark(0)
        + loop(body, trips, step, indent)
        + guard
        + mark(1)
        + loop(body, "trips2", step, indent)
        + guard
        + mark(2)
    )
    return out


def per_op(sample: dict, raw: str = "cycles", name: str | None = None, steps: str = "steps") -> dict:
    """`sample` with its per-step value `name` (default `<raw>_per_op`) = (t(2n) - t(n)) / n from the raw pass times
    `<raw>_n`, `<raw>_2n` and the step count `sample[steps]`, when the sample lacks it and has all three (scalars or
    numpy arrays); otherwise `sample` unchanged. The one place the two-length arithmetic is written."""
    name = name or f"{raw}_per_op"
    keys = (f"{raw}_n", f"{raw}_2n", steps)
    if name in sample or not all(k in sample for k in keys):
        return sample
    t_n, t_2n, n = (sample[k] for k in keys)
    return {**sample, name: (t_2n - t_n) / n}
