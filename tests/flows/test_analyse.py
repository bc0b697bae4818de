"""The analyse flow's pure helpers: a person's stance over their segments, and when a category's
last topic-model fit may carry it."""
from __future__ import annotations

import pandas as pd

from flows.analyse import THEME_REFIT_SHARE, keep_last_fit, person_sentiment


def test_a_person_is_mixed_when_they_praise_and_criticise_and_counted_by_their_own_rows_only():
    person = pd.Series(["a", "a", "b", "b", "c", "d", "d", "e", "f"])
    sentiment = pd.Series(["negative", "positive", "neutral", "negative", "mixed", "neutral", "", "", None])
    got = person_sentiment(person, sentiment).tolist()
    assert got == ["mixed", "mixed", "negative", "negative", "mixed", "neutral", "neutral", "", ""]


def _state(n_fitted: int, new: int, removed: int) -> tuple[dict, pd.DataFrame]:
    kept = n_fitted - removed
    cur = pd.DataFrame({"known": [True] * kept + [False] * new, "fitted": [True] * kept + [False] * new,
                        "theme_id": ["AIM1-1"] * kept + [None] * new})
    fit = {"seed": 0, "model_version": "m1", "method": "bertopic", "n_fitted": n_fitted, "fitted_on": n_fitted,
           "still_fitted": kept}
    return fit, cur


def test_last_fit_is_kept_only_for_the_same_seed_and_model_and_a_small_change():
    ids = {"AIM1-1"}
    small = int(THEME_REFIT_SHARE * 1000) - 1
    assert keep_last_fit(*_state(1000, small, 0), ids, 0, "m1", refit=False)
    assert keep_last_fit(*_state(1000, 0, small), ids, 0, "m1", refit=False)
    assert not keep_last_fit(*_state(1000, small, 2), ids, 0, "m1", refit=False)  # added + removed count together
    assert not keep_last_fit(*_state(1000, 0, 0), ids, 1, "m1", refit=False)  # another seed
    assert not keep_last_fit(*_state(1000, 0, 0), ids, 0, "m2", refit=False)  # another classifier
    assert not keep_last_fit(*_state(1000, 0, 0), ids, 0, "m1", refit=True)
    assert not keep_last_fit(*_state(1000, 0, 0), {"AIM1-2"}, 0, "m1", refit=False)  # that theme is gone
    assert not keep_last_fit(None, _state(10, 0, 0)[1], ids, 0, "m1", refit=False)


def test_run_says_which_categories_kept_their_themes_and_which_were_refitted():
    from flows.cli import themes_summary

    line = themes_summary({"AIM1": {"segments": 40, "refitted": True}, "AIM2": {"segments": 90, "refitted": False},
                           "ENC": {"segments": 0, "themes": 0}})
    assert line.startswith("themes: refitted in AIM1; kept from their last fit in AIM2")
    assert "--refit-themes" in line and "ENC" not in line
    assert themes_summary({"ENC": {"segments": 0}}) == "themes: no category has segments yet"
