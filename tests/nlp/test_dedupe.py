import pandas as pd

from nlp.dedupe import cross_file_duplicates, dedup_key


def frame(rows):
    return pd.DataFrame(rows, columns=["answer_id", "file_rank", "file_hash", "dedup_key", "row_order"])


def test_key_ignores_case_and_spacing_but_not_source_or_question():
    assert dedup_key("public", "q", "More  GPs ") == dedup_key("public", "q", "more gps")
    assert dedup_key("public", "q", "More GPs") != dedup_key("staff", "q", "More GPs")
    assert dedup_key("public", "q1", "More GPs") != dedup_key("public", "q2", "More GPs")


def test_copy_in_a_second_file_counts_once_and_the_preferred_file_wins():
    df = frame([("w1", 0, "wide", "k1", 0), ("l1", 1, "long", "k1", 0), ("l2", 1, "long", "k2", 1)])
    dup = cross_file_duplicates(df)
    assert dup.tolist() == [None, "w1", None]


def test_same_words_from_different_people_are_a_multiset():
    # Two people wrote "no comment" in the export; the copy has both, plus a third person only there.
    df = frame([("w1", 0, "wide", "nc", 0), ("w2", 0, "wide", "nc", 5),
                ("l1", 1, "long", "nc", 0), ("l2", 1, "long", "nc", 1), ("l3", 1, "long", "nc", 2)])
    dup = cross_file_duplicates(df)
    assert dup.tolist() == [None, None, "w1", "w2", None]


def test_same_words_within_one_file_are_kept():
    df = frame([("a", 0, "f", "k", 0), ("b", 0, "f", "k", 1)])
    assert cross_file_duplicates(df).isna().all()


def test_a_few_shared_words_do_not_make_another_survey_a_copy():
    # Wave 2 shares one short answer with wave 1 and nothing else: two people, both counted.
    df = frame([("a1", 0, "wave1", "thanks", 0), ("a2", 0, "wave1", "k2", 1), ("a3", 0, "wave1", "k3", 2),
                ("b1", 0, "wave2", "thanks", 0), ("b2", 0, "wave2", "k5", 1), ("b3", 0, "wave2", "k6", 2)])
    assert cross_file_duplicates(df).isna().all()
    # A coded copy of answers from both waves is a copy of each, though most of it is in neither alone.
    copy = frame([("c1", 1, "copy", "k2", 0), ("c2", 1, "copy", "k5", 1), ("c3", 1, "copy", "k6", 2)])
    dup = cross_file_duplicates(pd.concat([df, copy], ignore_index=True))
    assert dup.tolist()[-3:] == ["a2", "b2", "b3"] and dup.tolist()[:6] == [None] * 6


def test_a_file_mixing_a_copy_with_new_answers_is_a_copy_for_the_copied_source():
    # The labelled file: the public answers of the export again, and staff answers found nowhere else.
    export = [("p1", 0, "export", "public", "k1", 0), ("p2", 0, "export", "public", "k2", 1)]
    labelled = [("l1", 1, "labelled", "public", "k1", 0), ("l2", 1, "labelled", "public", "k2", 1)] + \
        [(f"s{i}", 1, "labelled", "staff", f"s{i}", i + 2) for i in range(5)]
    df = pd.DataFrame(export + labelled, columns=["answer_id", "file_rank", "file_hash", "source", "dedup_key",
                                                  "row_order"])
    assert cross_file_duplicates(df).tolist() == [None, None, "p1", "p2"] + [None] * 5
