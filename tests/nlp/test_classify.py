import numpy as np
import pandas as pd
import pytest

from flows.settings import resolve_taxonomy
from nlp.classify import (Segments, TaxonomyClassifier, best_threshold, labels_to_matrix, neighbour_votes,
                          raise_towards_segments)
from nlp.preprocess import preprocess
from nlp.embed import embed


@pytest.fixture(scope="module")
def sample(labelled_csv):
    df = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False).sample(360, random_state=1)
    tax = resolve_taxonomy("north-cumbria-2019-2024")
    texts = df["text"].tolist()
    return tax, texts, labels_to_matrix([l.split(";") for l in df["labels"]], tax.codes), embed(texts)


@pytest.fixture(scope="module")
def fitted(sample):
    tax, texts, Y, emb = sample
    return TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:300], Y[:300], embeddings=emb[:300])


def test_best_threshold_separates_a_clean_split():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    t = best_threshold(y, s)
    assert 0.3 < t < 0.7


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="not in the taxonomy"):
        labels_to_matrix([["AIM9"]], ["AIM1"])


def test_thresholds_are_applied_per_label(fitted):
    k = len(fitted.codes)
    scores = np.tile(fitted.thresholds_ - 0.01, (1, 1))
    scores[0, 2] = fitted.thresholds_[2] + 0.01
    assert fitted.decide(scores)[0].tolist() == [int(i == 2) for i in range(k)]


def test_every_answer_gets_a_label_and_other_is_exclusive(fitted):
    o = fitted.codes.index("OTHER")
    scores = np.zeros((2, len(fitted.codes)))
    scores[0, 1] = 0.01                    # nothing passes: best label wins
    scores[1, :] = 0.99                    # everything passes: OTHER is dropped
    P = fitted.decide(scores)
    assert P[0].tolist() == [int(i == 1) for i in range(len(fitted.codes))]
    assert P[1, o] == 0 and P[1].sum() == len(fitted.codes) - 1


def test_probabilities_and_obvious_cases(fitted):
    texts = ["I can never get a GP appointment at my surgery, the phone lines are always engaged",
             "Staff are exhausted, underpaid and nobody listens to us. Rotas are impossible.",
             "no comment"]
    P = fitted.predict_proba(texts)
    assert P.shape == (3, len(fitted.codes)) and ((P >= 0) & (P <= 1)).all()
    pred = fitted.predict(texts)
    c = fitted.codes
    assert pred[0, c.index("AIM2")] == 1
    assert pred[1, c.index("ENA")] == 1
    assert pred[2, c.index("OTHER")] == 1


def test_held_out_answers_are_mostly_right(sample, fitted):
    _, texts, Y, emb = sample
    P = fitted.predict(texts[300:], embeddings=emb[300:])
    assert (P == Y[300:]).mean() > 0.8


def test_too_little_data_is_a_clear_error(sample):
    tax, texts, Y, emb = sample
    with pytest.raises(ValueError, match="at least 10"):
        TaxonomyClassifier(codes=tax.codes).fit(texts[:5], Y[:5], embeddings=emb[:5])


def test_probabilities_are_calibrated_and_monotone_in_the_raw_score(fitted):
    raw = np.linspace(-3, 3, 61)[:, None].repeat(len(fitted.codes), axis=1)
    P = fitted._probabilities(raw)
    assert ((P > 0) & (P < 1)).all()
    assert (np.diff(P, axis=0) >= 0).all()
    assert (fitted.platt_a_ > 0).all()


def test_the_same_labels_give_the_same_model_bit_for_bit(sample):
    """liblinear shuffles the examples with one process-wide generator: unseeded, or with labels
    fitted in threads at once, two fits differ in the last digits and the thresholds tuned on them move."""
    tax, texts, Y, emb = sample
    np.random.seed(1)
    a = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:300], Y[:300], embeddings=emb[:300])
    np.random.seed(2)
    b = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:300], Y[:300], embeddings=emb[:300])
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)
    np.testing.assert_array_equal(a.predict_proba(texts[300:], embeddings=emb[300:]),
                                  b.predict_proba(texts[300:], embeddings=emb[300:]))


def test_thresholds_are_tuned_then_shrunk_towards_one_half(sample):
    tax, texts, Y, emb = sample
    common = dict(codes=tax.codes, other_code=tax.other_code)
    tuned = TaxonomyClassifier(**common, threshold_shrinkage=0.0).fit(texts[:300], Y[:300], embeddings=emb[:300])
    half = TaxonomyClassifier(**common, threshold_shrinkage=1.0).fit(texts[:300], Y[:300], embeddings=emb[:300])
    shrunk = TaxonomyClassifier(**common).fit(texts[:300], Y[:300], embeddings=emb[:300])
    assert np.allclose(half.thresholds_, 0.5)
    assert np.allclose(shrunk.thresholds_, (tuned.thresholds_ + 0.5) / 2)
    # The tuned cut-offs are the F1-optimal ones on the out-of-fold probabilities they were tuned on.
    j = tax.codes.index("ENA")
    assert tuned.thresholds_[j] == pytest.approx(best_threshold(Y[:300, j], tuned.oof_scores_[:, j]))


def test_out_of_fold_scores_are_honest(sample, fitted):
    _, texts, Y, emb = sample
    oof = fitted.oof_scores_
    train = fitted.predict_proba(texts[:300], embeddings=emb[:300])
    assert oof.shape == Y[:300].shape
    # A model scores its own training answers more confidently than answers it did not see.
    assert (train * Y[:300]).sum() > (oof * Y[:300]).sum()


def test_a_label_without_examples_is_never_assigned_by_threshold(sample):
    tax, texts, Y, emb = sample
    Y = Y[:200].copy()
    Y[:, tax.codes.index("ENC")] = 0
    clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:200], Y, embeddings=emb[:200])
    P = clf.predict(texts[200:], embeddings=emb[200:])
    assert P[:, tax.codes.index("ENC")].sum() == 0


def test_variants_fit_and_model_pickles_without_the_encoder(sample, tmp_path):
    import joblib

    tax, texts, Y, emb = sample
    for params in (dict(model="logreg", C=4.0, char_ngrams=False, calibrate=False, threshold_shrinkage=0.0),
                   dict(co_occurrence=True), dict(embedding_weight=0.0)):
        clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code, **params)
        clf.fit(texts[:200], Y[:200], embeddings=emb[:200], groups=np.arange(200) // 2)
        P = clf.predict_proba(texts[200:], embeddings=emb[200:])
        assert P.shape == (len(texts) - 200, len(tax.codes)) and ((P >= 0) & (P <= 1)).all()
    joblib.dump(clf, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    assert np.allclose(again.predict_proba(texts[200:], embeddings=emb[200:]), P)
    assert (tmp_path / "m.joblib").stat().st_size < 20_000_000


def test_an_uncalibrated_svm_is_refused(sample):
    tax, texts, Y, emb = sample
    with pytest.raises(ValueError, match="calibrate"):
        TaxonomyClassifier(codes=tax.codes, calibrate=False).fit(texts[:50], Y[:50], embeddings=emb[:50])


def test_context_is_optional_and_used_when_given(sample):
    tax, texts, Y, emb = sample
    ena = tax.codes.index("ENA")
    # A question that only workforce answers were given: its indicator should pull towards ENA.
    ctx = [{"question": "What would make this a better place to work?" if y[ena] else "What matters to you?",
            "source": "survey"} for y in Y]
    clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code)
    clf.fit(texts[:200], Y[:200], embeddings=emb[:200], context=ctx[:200])
    rest = texts[200:], emb[200:]
    words_only = clf.predict_proba(*rest)  # texts-only calls still work
    unseen = clf.predict_proba(*rest, context=[{"question": "never asked", "source": ""}] * len(rest[0]))
    assert np.allclose(words_only, unseen)  # an unseen context adds nothing
    work = clf.predict_proba(*rest, context=[{"question": " what would make this a BETTER place to work? "}] * len(rest[0]))
    assert (work[:, ena] > words_only[:, ena]).all()
    assert clf.predict(*rest, context=ctx[200:]).shape == (len(rest[0]), len(tax.codes))
    with pytest.raises(ValueError, match="contexts"):
        clf.predict_proba(*rest, context=ctx[:3])
    # A model fitted without context ignores one given at prediction.
    plain = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:200], Y[:200], embeddings=emb[:200])
    assert np.allclose(plain.predict_proba(*rest), plain.predict_proba(*rest, context=ctx[200:]))


def test_segments_lift_an_answer_half_way_to_its_best_segment_and_never_lower_it():
    raw = np.array([[0.0, 1.0], [-1.0, -1.0], [2.0, 0.0]])
    seg_raw = np.array([[-2.0, 3.0], [1.0, -3.0], [0.0, 5.0], [4.0, 0.0]])
    owner = np.array([1, 0, 0, 1])  # any order; answer 2 has no segments
    lifted = raise_towards_segments(raw, seg_raw, owner, 0.5)
    np.testing.assert_allclose(lifted, [[0.5, 3.0], [1.5, 1.0], [2.0, 0.0]])
    np.testing.assert_array_equal(raise_towards_segments(raw, seg_raw, owner, 0.0), raw)
    assert (raise_towards_segments(raw, seg_raw, owner, 1.0) >= raw).all()


def test_segments_of_some_answers_are_renumbered_to_their_place():
    s = Segments.from_lists([["a1", "a2"], [], ["c1"], ["d1", "d2"]], embeddings=np.arange(5.0)[:, None])
    sub = s.of(np.array([3, 0]))
    assert sub.texts == ["a1", "a2", "d1", "d2"] and sub.owner.tolist() == [1, 1, 0, 0]
    assert sub.embeddings[:, 0].tolist() == [0.0, 1.0, 3.0, 4.0]
    assert s.of(np.array([1])).texts == []


def _with_segments(texts: list[str], per_answer: list[list[str]]) -> Segments:
    flat = [t for ss in per_answer for t in ss]
    return Segments.from_lists(per_answer, embed(flat) if flat else np.zeros((0, 384), np.float32))


def test_a_long_answer_counts_towards_what_its_one_sentence_plainly_says(sample):
    tax, texts, Y, emb = sample
    segs = _with_segments(texts, [[s.text for s in p.segments] for p in preprocess(texts)])
    clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(
        texts[:300], Y[:300], embeddings=emb[:300], segments=segs.of(np.arange(300)))
    plain = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code, segment_weight=0.0).fit(
        texts[:300], Y[:300], embeddings=emb[:300], segments=segs.of(np.arange(300)))
    # Two sentences on the estate and travel, one on the workforce: the whole answer's vector
    # leans away from the workforce; its sentence does not.
    long = ("The hospital buildings are old and falling apart and the car park is always full. "
            "The bus from the villages only runs twice a day so people cannot get to appointments. "
            "Nurses are exhausted and leaving because the rotas are impossible.")
    parts = [s.text for s in next(preprocess([long])).segments]
    assert len(parts) == 3
    ena = tax.codes.index("ENA")
    lifted, per_segment = clf.predict_proba_with_segments([long], segments=_with_segments([long], [parts]))
    alone = clf.predict_proba([long])
    assert per_segment.shape == (3, len(tax.codes))
    assert lifted[0, ena] > alone[0, ena]
    assert per_segment[2, ena] > lifted[0, ena]  # half-way, not all the way, to the sentence
    # Raw scores only rise, and with weight 0 the segments change nothing.
    np.testing.assert_array_equal(plain.predict_proba([long], segments=_with_segments([long], [parts])),
                                  plain.predict_proba([long]))
    # The thresholds were tuned on lifted out-of-fold scores, as prediction gives them.
    assert not np.array_equal(clf.oof_scores_, plain.oof_scores_)
    held_out = segs.of(np.arange(300, len(texts)))
    assert (clf.predict(texts[300:], embeddings=emb[300:], segments=held_out) == Y[300:]).mean() > 0.8


def test_neighbours_vote_by_similarity_cubed_and_only_the_k_nearest_count():
    emb = np.array([[1, 0], [0.8, 0.6], [0, 1], [-1, 0]], dtype=np.float32)
    Y = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
    q = np.array([[1, 0], [0, 1]], dtype=np.float32)
    # q0: neighbours 0 (cos 1) and 1 (cos 0.8); q1: neighbours 2 (cos 1) and 1 (cos 0.6).
    w = 0.8 ** 3
    np.testing.assert_allclose(neighbour_votes(q, emb, Y, k=2), [[1 / (1 + w), w / (1 + w)], [0, 1]], rtol=1e-6)
    # A dissimilar answer (cosine below 0) has no vote even among the k nearest.
    np.testing.assert_allclose(neighbour_votes(q[:1], emb, Y, k=4), [[1 / (1 + w), w / (1 + w)]], rtol=1e-6)
    # Scored in blocks, the votes are the same.
    many = np.repeat(q, 5, axis=0)
    np.testing.assert_allclose(neighbour_votes(many, emb, Y, k=2, block=3), neighbour_votes(many, emb, Y, k=2))


def test_written_examples_vote_and_the_thresholds_are_tuned_on_the_blend(sample, fitted):
    """Answers marked as written examples vote on every answer's probabilities (blended
    `knn_weight` of the way); without examples the probabilities are the linear models' own."""
    tax, texts, Y, emb = sample
    written = np.arange(300) >= 200
    voted = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code, threshold_shrinkage=0.0).fit(
        texts[:300], Y[:300], embeddings=emb[:300], examples=written)
    alone = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code, threshold_shrinkage=0.0,
                               knn_weight=0.0).fit(texts[:300], Y[:300], embeddings=emb[:300], examples=written)
    assert fitted.neighbours_ is None and alone.neighbours_ is None and voted.neighbours_[0].shape == (100, emb.shape[1])
    linear = alone.predict_proba(texts[300:], embeddings=emb[300:])
    np.testing.assert_allclose(fitted.predict_proba(texts[300:], embeddings=emb[300:]), linear, rtol=1e-6)
    votes = neighbour_votes(emb[300:], emb[200:300], Y[200:300], voted.knn_k)
    np.testing.assert_allclose(voted.predict_proba(texts[300:], embeddings=emb[300:]),
                               (1 - voted.knn_weight) * linear + voted.knn_weight * votes, rtol=1e-6)
    j = tax.codes.index("ENA")
    assert voted.thresholds_[j] == pytest.approx(best_threshold(Y[:300, j], voted.oof_scores_[:, j]))
    assert not np.allclose(voted.oof_scores_, alone.oof_scores_)
    with pytest.raises(ValueError, match="entries in `examples`"):
        TaxonomyClassifier(codes=tax.codes).fit(texts[:300], Y[:300], embeddings=emb[:300], examples=written[:10])
