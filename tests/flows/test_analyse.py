"""The analyse flow's helpers: which segments are a category's evidence, a person's stance over
their segments, and when a category's last topic-model fit may carry it."""
from __future__ import annotations

import pandas as pd

from flows.analyse import THEME_REFIT_SHARE, category_segments, keep_last_fit, person_sentiment
from flows.store import connect


def _aim2_evidence(db, segments: dict[str, list[str]], score) -> pd.DataFrame:
    """category_segments on a store where every answer is AIM2 and segment i scores score(i)."""
    with connect(db) as con:
        for answer_id, texts in segments.items():
            con.execute("INSERT INTO answers (answer_id, source_file, respondent_id, question, source, text, is_empty) "
                        "VALUES (?, 'x.csv', ?, 'Q', 'public', ?, false)", [answer_id, answer_id, " ".join(texts)])
            con.execute("INSERT INTO predictions VALUES ('tax', ?, 'AIM2', 0.9, true, 'm')", [answer_id])
            for i, text in enumerate(texts):
                con.execute("INSERT INTO segments (answer_id, seg_index, text) VALUES (?, ?, ?)", [answer_id, i, text])
                con.execute("INSERT INTO segment_scores VALUES ('tax', ?, ?, 'AIM2', ?)", [answer_id, i, score(i)])
        return category_segments(con, "tax", "AIM2", threshold=0.5)


def test_a_sentence_that_only_leaves_contact_details_is_no_theme_s_evidence(tmp_path):
    segments = {"a1": ["Keep services in rural communities and involve parish councils early.",
                       "Contact: [NAME], Parish Clerk, [PHONE], [EMAIL]"],
                "a2": ["Call me on [PHONE] about the GP closure"]}
    # The contact line scores highest: it must still not stand for its answer.
    got = _aim2_evidence(tmp_path / "engage.duckdb", segments, lambda i: 0.5 + i / 2)
    assert got["text"].tolist() == ["Keep services in rural communities and involve parish councils early.",
                                    "Call me on [PHONE] about the GP closure"]


def test_a_remark_on_another_sentence_is_evidence_only_when_nothing_else_of_its_answer_is(tmp_path):
    segments = {"a1": ["The community hospital in Keswick must stay open.", "Please don't let that happen."],
                "a2": ["Please don't let that happen."]}
    got = _aim2_evidence(tmp_path / "engage.duckdb", segments, lambda i: 0.9)
    assert list(zip(got["answer_id"], got["text"])) == [("a1", "The community hospital in Keswick must stay open."),
                                                        ("a2", "Please don't let that happen.")]


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


def test_a_theme_keeps_its_own_wording_rather_than_one_of_its_few():
    """User test 6: five of six people wrote "Baby weigh clinics were cut", which another category's
    theme also printed; the group was headed with the sixth's "Long COVID clinic was shut"."""
    from types import SimpleNamespace

    import numpy as np

    from flows.analyse import _keep_own_wording
    from nlp.embed import embed
    from nlp.summarise import distinct_statements

    weigh, covid = "Baby weigh clinics were cut, bring them back", "Long COVID clinic was shut and there is nothing"
    texts = [weigh] * 5 + [covid]
    seg = pd.DataFrame({"text": texts, "source_file": "w.csv", "respondent_id": [str(i) for i in range(6)]})
    st = SimpleNamespace(text=weigh, alternatives=[(weigh, 1.0), (covid, 0.8)], n=6)
    other = SimpleNamespace(text=weigh, alternatives=[(weigh, 1.1)], n=6)
    idx = np.arange(6)
    pending = [("START", seg, embed(texts), None, [(None, idx, other, None)], None),
               ("AGE", seg, embed(texts), None, [(None, idx, st, None)], None)]
    chosen = distinct_statements([other.alternatives, st.alternatives], [6, 6])
    assert chosen == [weigh, covid]  # one wording per theme across the report…
    assert _keep_own_wording(pending, chosen, embed) == [weigh, weigh]  # …but not one of the sixth's
    # Within one category two themes still get two wordings.
    same = [("AGE", seg, embed(texts), None, [(None, idx, other, None), (None, idx, st, None)], None)]
    assert _keep_own_wording(same, chosen, embed) == chosen
