"""The one closed vocabulary of verdicts: what a finding says about a measured value, a hint or a level.

Every verdict the analysis writes (hints, instructions, levels, TLB reach, bandwidth, peer validation, the static
atlas) is one of the strings below; `check()` refuses anything else, so a new word cannot slip into a report
unnoticed. The strings are the stored and printed form (CSV, JSON, Markdown): changing one is a schema change of
every stored finding. README's vocabulary table is `markdown_table()` (tests/test_verdicts.py keeps them equal).

Ambiguous cases stay ambiguous: where the data cannot decide (no plateau, a CI that straddles the threshold, nothing
to compare with), the verdict is `INCONCLUSIVE` with a reason beside it, never the nearer of two answers.
"""

from __future__ import annotations

# --- a value against a documented figure (CUDA Programming Guide, datasheet) -----------------------------------------
DOCUMENTED_MATCHES = "documented & matches"  # the documented value lies in our CI (widened by the stated tolerance)
DOCUMENTED_DIFFERS = "documented & differs"  # it lies outside; the signed difference is reported beside it
UNDOCUMENTED = "undocumented"  # nothing documented to compare with: the number is new

# --- a value against a peer's published figure ------------------------------------------------------------------------
MATCHES = "matches"  # the published value is within the stated tolerance of ours
DIFFERS = "differs"  # it is not
WITHIN_GRADUAL_SPAN = "within gradual span"  # a gradual transition: the published size lies inside its span

# --- what a cache hint or qualifier does ------------------------------------------------------------------------------
DROPPED = "dropped at compile time"  # ptxas emits the same SASS as the plain access
NO_EFFECT = "kept in SASS but no measurable effect"  # in SASS, but no measurement tells it from plain
EFFECT = "measurable effect"  # in SASS and a measurement differs from plain
NOT_MEASURED = "not measured"  # in SASS, and no result for it yet
REFERENCE = "reference (plain access)"  # the plain access the others are compared with

# --- a swept ladder: does it cross a level boundary (TLB reach) ---------------------------------------------------
NO_TRANSITION = "no transition"  # one plateau over the whole sweep
TRANSITIONS = "transitions"  # at least one level boundary; the count is stated beside it

# --- a check of our analysis on a peer's published data (peer validation) ---------------------------------------------
PASS = "pass"  # the check (or every check of a dataset) holds within its tolerance
FAIL = "FAIL"  # it does not (upper case: a failure must stand out in a table)
NOT_APPLICABLE = "n/a"  # the check does not apply (the path has no such level)

# --- either kind --------------------------------------------------------------------------------------------------
INCONCLUSIVE = "inconclusive"  # the data cannot decide; the reason is stated beside it

MEANING = {
    DOCUMENTED_MATCHES: "a documented value exists and lies within our confidence interval (widened by the tolerance)",
    DOCUMENTED_DIFFERS: "a documented value exists and lies outside our confidence interval",
    UNDOCUMENTED: "no documented value to compare with",
    MATCHES: "a peer's published value agrees with ours within the stated tolerance",
    DIFFERS: "a peer's published value disagrees with ours beyond the stated tolerance",
    WITHIN_GRADUAL_SPAN: "a gradual transition whose span contains the published or known size",
    DROPPED: "the compiler lowers the qualified access to the same SASS as the plain one",
    NO_EFFECT: "the qualifier survives into SASS, but no measurement distinguishes it from the plain access",
    EFFECT: "the qualifier survives into SASS and at least one measurement differs from the plain access",
    NOT_MEASURED: "the qualifier survives into SASS and has not been measured yet",
    REFERENCE: "the plain access every qualifier is compared with",
    NO_TRANSITION: "one plateau over the whole sweep: no level boundary within the swept range",
    TRANSITIONS: "the sweep crosses at least one level boundary (how many is stated beside the verdict)",
    PASS: "a check of our analysis against a peer's published data holds within its stated tolerance",
    FAIL: "a check of our analysis against a peer's published data fails its stated tolerance",
    NOT_APPLICABLE: "the check does not apply to this case (the reason is stated beside it)",
    INCONCLUSIVE: "the data cannot decide (the reason is stated beside the verdict)",
}
VOCABULARY = frozenset(MEANING)
HINT_VERDICTS = (DROPPED, NO_EFFECT, EFFECT, NOT_MEASURED, REFERENCE)
DOCUMENTED_VERDICTS = (DOCUMENTED_MATCHES, DOCUMENTED_DIFFERS, UNDOCUMENTED, INCONCLUSIVE)
PEER_VERDICTS = (MATCHES, DIFFERS, WITHIN_GRADUAL_SPAN, INCONCLUSIVE)
LADDER_VERDICTS = (NO_TRANSITION, TRANSITIONS, INCONCLUSIVE)
CHECK_VERDICTS = (PASS, FAIL, NOT_APPLICABLE)


def check(verdict: str) -> str:
    """`verdict` itself when it belongs to the vocabulary; ValueError naming the vocabulary otherwise."""
    if verdict not in VOCABULARY:
        raise ValueError(f"{verdict!r} is not a verdict; the vocabulary is: {', '.join(sorted(VOCABULARY))}")
    return verdict


def against_documented(documented: float | None, ci_low: float, ci_high: float, rel_tol: float) -> str:
    """DOCUMENTED_MATCHES when `documented` lies in [ci_low, ci_high] widened by rel_tol of it, DOCUMENTED_DIFFERS
    when outside, UNDOCUMENTED without a documented value, INCONCLUSIVE without a finite CI."""
    if documented is None:
        return UNDOCUMENTED
    if not (ci_low == ci_low and ci_high == ci_high) or ci_low > ci_high:  # NaN or an empty interval
        return INCONCLUSIVE
    slack = rel_tol * abs(documented)
    return DOCUMENTED_MATCHES if ci_low - slack <= documented <= ci_high + slack else DOCUMENTED_DIFFERS


def markdown_table() -> str:
    """The vocabulary as a Markdown table (verdict, meaning), in MEANING's order: the README's table is this text."""
    rows = ["| verdict | meaning |", "|---|---|"]
    rows += [f"| `{verdict}` | {meaning} |" for verdict, meaning in MEANING.items()]
    return "\n".join(rows)
