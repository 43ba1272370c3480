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
