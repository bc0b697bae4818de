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
