import numpy as np
import pandas as pd
import pytest

from nlp.embed import embed
from nlp.summarise import (MAX_WORDS, MIN_WORDS, candidate_clauses, clean_clause, select_quotes, summarise_theme,
                           to_collective_voice, trim_quote, words)
from nlp.themes import CategoryThemer

PARKING = ["Car parking at the Cumberland Infirmary is a nightmare, I drove round for 40 minutes.",
           "Parking at the hospital costs a fortune and there are never any spaces.",
           "Free parking for patients and visitors at the hospitals please.",
           "I missed my appointment because I could not find a parking space at the hospital."]
GP = ["I can never get a GP appointment, the phone is engaged at 8am every morning.",
      "Getting through to my surgery on the phone is impossible.",
      "We need more GP appointments and less waiting for a call back from the surgery.",
      "Three weeks to see a doctor at the practice is too long."]
FOOD = ["The hospital food was cold and inedible on the ward.",
        "Patients on the ward were left hungry, meals were awful and nobody helped my mum eat."]


@pytest.fixture(scope="module")
def small():
    texts = PARKING + GP + FOOD
    return texts, embed(texts)


def test_small_category_falls_back_to_clusters_and_separates_topics(small):
    texts, emb = small
    t = CategoryThemer().fit(texts, emb)
    assert t.method_ == "clusters"
    park = {int(t.labels_[i]) for i in range(4)}
    gp = {int(t.labels_[i]) for i in range(4, 8)}
    assert len(park) == 1 and len(gp) == 1 and park != gp
    assert any("parking" in " ".join(th.keywords) for th in t.themes_)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_tiny_categories_do_not_crash(small, n):
    texts, emb = small
    t = CategoryThemer().fit(texts[:n], emb[:n])
    assert len(t.labels_) == n and len(t.themes_) == (1 if n else 0)


def test_bertopic_on_a_real_sized_category(labelled_csv):
    df = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False)
    texts = df[df["labels"].str.contains("AIM3")]["text"].tolist()[:150]
    emb = embed(texts)
    t = CategoryThemer(random_state=0).fit(texts, emb)
    assert t.method_ == "bertopic"
    assert 2 <= len(t.themes_) <= 8
    assert (t.labels_ >= 0).mean() > 0.7  # most segments land in a theme
    sizes = [len(th.members) for th in t.themes_]
    assert sizes == sorted(sizes, reverse=True)


def test_statements_are_short_phrases_in_the_collective_voice(small):
    texts, emb = small
    seg = pd.DataFrame({"text": PARKING, "source": ["public", "public", "staff", "public"],
                        "source_file": "a.csv", "respondent_id": ["1", "2", "3", "1"],
                        "question": "Q"})
    st = summarise_theme(0, seg, emb[:4], ["parking", "hospital", "spaces"], embed)
    assert MIN_WORDS <= len(words(st.text)) <= MAX_WORDS
    assert "parking" in st.text.lower() and "_" not in st.text
    assert st.n == 3 and st.by_source == {"public": 2, "staff": 1}  # people, not segments
    assert 2 <= len(st.quotes) <= 3 and len({(q["source_file"], q["respondent_id"]) for q in st.quotes}) == len(st.quotes)
    assert {"source_file", "respondent_id", "question"} == set(st.answers[0])
    assert len(st.answers) == 3  # two segments of one answer are one answer


def test_clause_cleaning():
    assert clean_clause("and I think my GP is great!!!") == "Our GP is great"
    assert clean_clause("No, we need more nurses") == "We need more nurses"  # "No," answers; "No one" is a subject
    assert clean_clause("No one even knows our names.").startswith("No one even knows our names")
    assert to_collective_voice("I want my records") == "we want our records"
    assert candidate_clauses("Call me on [PHONE] about the car parking at the hospital.") == []


def test_quotes_are_trimmed_with_an_ellipsis_and_diverse():
    long = " ".join(["This sentence has exactly seven words here."] * 10)
    q = trim_quote(long, max_words=20)
    assert q.endswith("…") and len(q.split()) <= 21
    emb = np.array([[1, 0], [1, 0], [0.8, 0.6]], dtype=np.float32)
    chosen = select_quotes(["one two three", "one two three", "four five six"], emb, np.array([1.0, 0.0]),
                           ["a", "b", "c"], n=2)
    assert chosen == [0, 2]  # the exact duplicate is skipped


def _blobs(sizes, dim=16, spread=0.15, seed=0):
    rng = np.random.default_rng(seed)
    pts = []
    for k, n in enumerate(sizes):
        centre = np.zeros(dim)
        centre[k] = 1.0
        pts.append(centre + spread * rng.standard_normal((n, dim)))
    emb = np.vstack(pts)
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)


def test_a_catch_all_theme_is_split_into_the_topics_it_swallowed():
    emb = _blobs([30, 30, 20])
    labels = np.array([0] * 60 + [1] * 20)  # two different topics lumped into one theme
    out = CategoryThemer()._split_loose(labels, emb)
    assert len(set(out[:30].tolist())) == 1 and len(set(out[30:60].tolist())) == 1 and out[0] != out[30]
    assert set(out[60:].tolist()) == {1}


def test_over_the_cap_the_most_alike_themes_merge_rather_than_growing_the_biggest():
    emb = _blobs([40, 6, 6, 30])
    emb[46:52] = emb[40:46] + 0.01  # themes 1 and 2 say the same thing
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    labels = np.array([0] * 40 + [1] * 6 + [2] * 6 + [3] * 30)
    out = CategoryThemer(max_themes=3)._merge_small(labels, emb)
    assert len(set(out.tolist())) == 3 and out[40] == out[46] and (out == out[0]).sum() == 40


def test_segments_that_say_nothing_on_their_own_are_left_out_of_themes(small):
    texts, emb = small
    fillers = ["That's it.", "Thank you.", "Yes."]
    t = CategoryThemer().fit(texts + fillers, np.vstack([emb, embed(fillers)]))
    assert (t.labels_[-3:] == -1).all() and (t.labels_[:-3] >= 0).all()


def test_a_one_word_priority_joins_the_theme_it_is_about(small):
    """"Parking" typed alone is too thin to shape a theme, but the person who wrote it raised it."""
    texts, emb = small
    extra = ["Parking!!", "Yes."]
    t = CategoryThemer().fit(texts + extra, np.vstack([emb, embed(extra)]))
    assert t.labels_[-2] == t.labels_[0] >= 0  # with the parking answers
    assert t.labels_[-1] == -1


def test_no_theme_swallows_a_real_category(labelled_csv):
    df = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False)
    texts = df[df["labels"].str.contains("AIM2")]["text"].tolist()
    emb = embed(texts)
    t = CategoryThemer(random_state=1).fit(texts, emb)
    assert 4 <= len(t.themes_) <= 8
    assert max(len(th.members) for th in t.themes_) <= 0.3 * len(texts)
    assert (t.labels_ >= 0).mean() > 0.8


def test_two_topics_with_no_words_in_common_do_not_break_the_topic_model():
    """BERTopic's vocabulary is built over one document per topic: two topics that share no word
    must still give themes (this crashed at 10,000 answers)."""
    rng = np.random.default_rng(0)
    a = [f"Evening GP appointments surgery {w}" for w in ("please", "needed", "urgently", "now", "soon")] * 12
    b = [f"Ambulance response rural villages {w}" for w in ("slow", "late", "dangerous", "poor", "unsafe")] * 12
    centres = rng.normal(size=(2, 384))
    emb = np.vstack([centres[0] + 0.05 * rng.normal(size=(60, 384)), centres[1] + 0.05 * rng.normal(size=(60, 384))])
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    themer = CategoryThemer(random_state=0).fit(a + b, emb)
    labels = themer.labels_
    assert len(set(labels[:60]) - {-1}) >= 1 and len(set(labels[60:]) - {-1}) >= 1
    assert not set(labels[:60]) & set(labels[60:]) - {-1}


def test_two_word_keywords_are_phrases_people_wrote():
    from nlp.themes import theme_keywords

    texts = ["Police end up taking people in mental health crisis to A&E.",
             "Police taking people in crisis to A&E is wrong.", "Police spend hours in A&E with people in crisis.",
             "More GP appointments in the evening.", "GP appointments are impossible to get."]
    kws = theme_keywords(texts, np.array([0, 0, 0, 1, 1]))
    assert "police" in kws[0] and "mental health" in kws[0]
    assert all(" " not in k or k in " ".join(texts).casefold() for k in kws[0] + kws[1])
    assert "taking mental" not in kws[0]  # "taking people in mental" with the stop words gone
