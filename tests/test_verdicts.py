import math

import pytest

from probes import verdicts as V


def test_every_verdict_has_a_meaning_and_check_refuses_other_words():
    assert V.VOCABULARY == set(V.MEANING) and all(V.MEANING.values())
    assert V.check(V.INCONCLUSIVE) == "inconclusive"
    with pytest.raises(ValueError, match="not a verdict"):
        V.check("looks fine")


def test_against_documented_keeps_ambiguous_cases_inconclusive():
    assert V.against_documented(None, 1, 2, 0.0) == V.UNDOCUMENTED
    assert V.against_documented(4.0, 3.9, 4.1, 0.0) == V.DOCUMENTED_MATCHES
    assert V.against_documented(4.0, 3.0, 3.5, 0.0) == V.DOCUMENTED_DIFFERS
    assert V.against_documented(4.0, 3.0, 3.5, 0.2) == V.DOCUMENTED_MATCHES  # 3.5 + 0.8 reaches 4
    assert V.against_documented(4.0, math.nan, 3.5, 0.0) == V.INCONCLUSIVE


def test_readme_vocabulary_table_is_the_generated_one():
    """README's verdict table is `markdown_table()` between its markers; after editing MEANING, paste the output of
    `python -c "from probes import verdicts; print(verdicts.markdown_table())"` there."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = text.split("<!-- verdicts:begin -->\n", 1)[1].split("\n<!-- verdicts:end -->", 1)[0]
    assert table == V.markdown_table()
    assert all(f"| `{v}` |" in table for v in V.VOCABULARY)


def test_every_family_writes_only_vocabulary_words():
    from probes.analysis import bandwidth, hints, tlb
    from probes.analysis.bandwidth import BandwidthLevel
    from probes.report.sections import LABELS
    from probes.spec import MiB

    assert set(hints.VERDICTS) <= V.VOCABULARY and set(LABELS) <= V.VOCABULARY
    assert hints.classify(100.0, {}) == V.INCONCLUSIVE
    assert {
        hints.verdict(None, [], True, "none"),
        hints.verdict(True, [], True, "cg"),
        hints.verdict(False, [], False, "cg"),
        hints.verdict(False, ["residency"], True, "cg"),
        hints.verdict(False, [], True, "cg"),
    } == set(V.HINT_VERDICTS)
    flat = tlb.analyse_tlb([2**k * MiB for k in range(12)], [400.0] * 12, 2 * MiB)
    assert flat.verdict == V.NO_TRANSITION and tlb.analyse_tlb([], [], 2 * MiB).verdict == V.INCONCLUSIVE
    assert bandwidth.peak_verdict(None, 3000.0)[0] == V.INCONCLUSIVE
    fields = {f: None for f in BandwidthLevel.__dataclass_fields__}
    level = BandwidthLevel(
        **{**fields, "bandwidth_GBps": 2900.0, "bandwidth_ci_low": 2850.0, "bandwidth_ci_high": 2950.0}
    )
    assert bandwidth.peak_verdict(level, 3000.0)[0] == V.DOCUMENTED_MATCHES
    assert bandwidth.peak_verdict(level, 5000.0)[0] == V.DOCUMENTED_DIFFERS
