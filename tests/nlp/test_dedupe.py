import json

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


def people(rows):
    """(answer_id, file_rank, file, respondent, question, text, metadata) rows, keyed as ingest keys them."""
    return pd.DataFrame([{"answer_id": a, "file_rank": r, "file_hash": f, "respondent_id": p, "source": "public",
                          "dedup_key": dedup_key("public", q, t), "row_order": i, "text": t,
                          "metadata": json.dumps(m)} for i, (a, r, f, p, q, t, m) in enumerate(rows)])


WAVE1 = [("a1", 0, "w1", "1", "q", "Dentists", {"Timestamp": "01/03/2025 10:00:01", "Age": "25-34"}),
         ("a2", 0, "w1", "2", "q", "More GP appointments in the evening", {"Timestamp": "01/03/2025 11:00:00"}),
         ("a3", 0, "w1", "3", "q", "Buses to the hospital", {"Timestamp": "02/03/2025 09:30:00"})]


def test_the_same_words_at_another_time_are_someone_else_s():
    """User test 6: a third wave of two new people, both of whose answers were in wave 1, was taken for a
    copy, and the new "Dentists" respondent was not counted."""
    wave3 = [("c1", 0, "w3", "1", "q", "Dentists", {"Timestamp": "20/03/2025 16:12:40", "Age": "45-54"}),
             ("c2", 0, "w3", "2", "q", "More GP appointments in the evening", {"Timestamp": "21/03/2025 08:02:11"})]
    assert cross_file_duplicates(people(WAVE1 + wave3)).isna().all()
    # The same rows exported again, dates typed another way, are copies.
    again = [("d1", 1, "w1b", "1", "q", "dentists", {"Timestamp": "2025-03-01 10:00:01", "Age": "25-34"}),
             ("d2", 1, "w1b", "2", "q", "More GP appointments in the evening", {"Timestamp": "01/03/2025 11:00"})]
    assert cross_file_duplicates(people(WAVE1 + again)).tolist() == [None] * 3 + ["a1", "a2"]


def test_a_re_export_with_a_renamed_question_or_an_overlap_counts_its_old_rows_once():
    """User test 6: wave 2 renamed its question, and its 5 rows repeated from wave 1 (same timestamp,
    every cell the same) were counted again."""
    wave2 = [("b1", 0, "w2", "7", "q renamed", "Dentists", {"Submitted": "01/03/2025 10:00:01", "Age": "25-34"}),
             ("b2", 0, "w2", "8", "q renamed", "Buses to the hospital", {"Submitted": "02/03/2025 09:30:00"}),
             ("b3", 0, "w2", "9", "q renamed", "Dentists", {"Submitted": "22/03/2025 10:00:01", "Age": "25-34"})]
    wave2 += [(f"n{i}", 0, "w2", str(10 + i), "q renamed", f"New answer number {i}", {"Submitted": f"2{i}/03/2025 12:00:00"})
              for i in range(6)]
    dup = cross_file_duplicates(people(WAVE1 + wave2)).tolist()
    assert dup[3:6] == ["a1", "a3", None] and dup[:3] + dup[6:] == [None] * 9
    # Without a time, only a long answer is taken for the same person's.
    bare = [("x1", 0, "v1", "1", "q", "Dentists", {}), ("x2", 0, "v1", "2", "q", LONG, {}),
            ("y1", 0, "v2", "1", "q2", "Dentists", {}), ("y2", 0, "v2", "2", "q2", LONG, {})]
    assert cross_file_duplicates(people(bare)).tolist() == [None, None, None, "x2"]


LONG = "The bus to the Infirmary stops before my clinic ends, so I pay for a taxi every single week"


def test_a_re_exported_respondent_with_a_question_now_kept_as_metadata_counts_once():
    """User test 7: two of five re-exported respondents were counted twice: their "Anything else?"
    answers were a question in wave 1 and metadata in wave 2, so their answers were no longer the same."""
    wave1 = [("a1", 0, "w1", "1", "q1", "Shorter waits for the crisis team", {"Time": "01/03/2025 10:00:01"}),
             ("a2", 0, "w1", "1", "q2", "Nothing else, thank you for asking", {"Time": "01/03/2025 10:00:01"})]
    wave2 = [("b1", 0, "w2", "1", "q1", "Shorter waits for the crisis team",
              {"Time": "01/03/2025 10:00:01", "Anything else?": "Nothing else, thank you for asking"}),
             ("b2", 0, "w2", "2", "q1", "Shorter waits for the crisis team", {"Time": "09/03/2025 17:45:00"})]
    assert cross_file_duplicates(people(wave1 + wave2)).tolist() == [None, None, "a1", None]
