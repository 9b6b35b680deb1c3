"""Table 1's level codes of yes/no columns, read without hashing, are those of the same
values read one by one as text; its quartiles are np.percentile's."""
import numpy as np
import pandas as pd
import pytest

from crlm.stats import baseline_table as bt

CASES = {
    "both": pd.Series(np.random.default_rng(1).random(50) < 0.5),
    "all yes": pd.Series(np.ones(5, bool)),
    "all no": pd.Series(np.zeros(5, bool)),
    "nullable": pd.Series(pd.array([True, None, False, True], dtype="boolean")),
    "all missing": pd.Series(pd.array([None, None], dtype="boolean")),
    "yes or missing": pd.Series(pd.array([True, None], dtype="boolean")),
    "no or missing": pd.Series(pd.array([False, None, False], dtype="boolean")),
    "empty": pd.Series(np.array([], bool)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_yes_no_codes_equal_the_text_reading(name):
    s = CASES[name]
    codes, levels = bt._level_codes(s)
    slow_codes, slow_levels = bt._level_codes(s.astype(object))   # one value at a time
    assert levels == slow_levels
    assert np.array_equal(codes, slow_codes)


def test_yes_no_table_rows():
    frame = pd.DataFrame({"x": pd.array([True, None, False, True], dtype="boolean"),
                          "g": ["a", "b", "a", "b"]})
    table = bt.baseline_table(frame, [("x", "X", "categorical")], by="g").table
    rows = table[table["variable"] == "X"].set_index("level")
    assert rows.loc["yes", "Overall"] == "2 (66.7%)"
    assert rows.loc["no", "a"] == "1 (50.0%)"
    assert rows.loc["missing", "Overall"] == "1"


def test_quartiles_are_numpys():
    x = np.round(np.random.default_rng(3).normal(60, 10, 1001), 1)
    med, q1, q3 = bt._quartiles(x)
    assert (q1, med, q3) == tuple(np.percentile(x, [25, 50, 75]))
