import numpy as np

from nlp.stability import ThemeState, change_log, match_themes


def state(vec, members, n, id=None, statement=None):
    return ThemeState(np.asarray(vec, dtype=float), frozenset(members), n, id, statement)


def test_a_theme_that_still_exists_keeps_its_id_and_statement():
    prev = [state([1, 0, 0], "abcd", 4, "AIM2-1", "More GP appointments"),
            state([0, 1, 0], "efg", 3, "AIM2-2", "Keep the community hospitals")]
    new = [state([0.05, 1, 0], "efgh", 4), state([1, 0.1, 0], "abcde", 5), state([0, 0, 1], "xyz", 3)]
    m = match_themes(prev, new)
    assert [x.previous_id for x in m] == ["AIM2-2", "AIM2-1", None]
    assert all(x.keep_statement for x in m[:2])


def test_material_change_in_membership_rewrites_the_statement_but_keeps_the_id():
    prev = [state([1, 0], "abcd", 4, "T-1", "old words")]
    (m,) = match_themes(prev, [state([1, 0.1], "wxyz", 4)])
    assert m.previous_id == "T-1" and not m.keep_statement


def test_change_log_reports_new_grown_shrunk_vanished():
    prev = [state([1, 0], "a", 10, "T-1", "s1"), state([0, 1], "b", 10, "T-2", "s2"),
            state([1, 1], "c", 10, "T-3", "s3"), state([1, 2], "d", 10, "T-4", "s4")]
    cur = [state([1, 0], "a", 15, "T-1", "s1"), state([0, 1], "b", 5, "T-2", "s2"),
           state([1, 1], "c", 10, "T-3", "s3"), state([2, 1], "e", 4, "T-5", "s5")]
    changes = {e["theme_id"]: e["change"] for e in change_log(prev, cur)}
    assert changes == {"T-1": "grown", "T-2": "shrunk", "T-3": "unchanged", "T-5": "new", "T-4": "vanished"}


def test_a_theme_whose_centre_moved_but_whose_answers_stayed_keeps_its_id():
    prev = [state([1, 0], "abcdefgh", 8, "T-1", "Keep the community hospitals")]
    (m,) = match_themes(prev, [state([0.6, 0.8], "abcdefgi", 8)])  # cosine 0.6, 7 of 9 answers shared
    assert m.previous_id == "T-1" and m.keep_statement


def test_a_new_theme_says_where_its_answers_were_and_a_vanished_one_where_they_went():
    prev = [state([1, 0], "abcdef", 6, "T-1", "Carers need a break"), state([0, 1], "uvwxyz", 6, "T-2", "Dentists")]
    # T-1 split: half of it stayed (now T-1), half became T-3 with two answers from T-2's people.
    cur = [state([1, 0], "abc", 3, "T-1", "Carers need a break"), state([1, 1], "defuv", 5, "T-3", "Respite care"),
           state([0, 2], "wxyz", 4, "T-4", "NHS dentists taking on patients")]
    by_id = {e["theme_id"]: e for e in change_log(prev, cur)}
    assert by_id["T-3"]["change"] == "new"
    assert by_id["T-3"]["from_themes"] == [{"theme_id": "T-1", "statement": "Carers need a break", "share": 0.6},
                                           {"theme_id": "T-2", "statement": "Dentists", "share": 0.4}]
    assert by_id["T-2"]["change"] == "vanished"
    assert [t["theme_id"] for t in by_id["T-2"]["to_themes"]] == ["T-4", "T-3"]
    assert "from_themes" not in by_id["T-1"] and "to_themes" not in by_id["T-1"]


def test_shares_of_a_vanished_theme_add_up_to_at_most_all_of_it():
    """Members are sentences ('answer#segment'); an answer whose sentences went to two themes is
    counted once in each by its sentences, not wholly in both (a user saw 60+60+36+28%)."""
    from nlp.stability import where_members_are
    gone = frozenset({"a#0", "a#1", "b#0", "c#0"})
    now = [ThemeState(np.ones(2), frozenset({"a#0", "b#0"}), 2, "X-1", "x"),
           ThemeState(np.ones(2), frozenset({"a#1", "c#0", "d#0"}), 3, "X-2", "y")]
    shares = where_members_are(gone, now)
    assert [s["share"] for s in shares] == [0.5, 0.5] and sum(s["share"] for s in shares) <= 1
