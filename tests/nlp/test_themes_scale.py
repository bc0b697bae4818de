"""Themes at scale: fit on a sample, every other segment takes its nearest fitted segment's theme."""
from __future__ import annotations

import numpy as np
import pytest

from nlp.themes import CategoryThemer, fit_sampled

WORDS = ("parking at the hospital costs too much", "waiting weeks for a GP appointment",
         "mental health support for young people")


def clusters(n_per: int, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Three tight, well-separated groups of unit vectors, with texts that name their group."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16, dtype=np.float32)
    truth = np.repeat(np.arange(3), n_per)
    emb = centres[truth] + rng.normal(0, 0.05, (len(truth), 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    texts = [f"{WORDS[t]} number {i}" for i, t in enumerate(truth)]
    return texts, emb, truth


def themer() -> CategoryThemer:
    return CategoryThemer(min_docs_for_topic_model=10**6)  # agglomerative clusters: fast and deterministic


def test_a_sample_finds_the_themes_and_every_segment_gets_its_nearest_fitted_segments_theme():
    texts, emb, truth = clusters(300)
    t = fit_sampled(themer(), texts, emb, max_fit=90, seed=1)
    assert len(t.sample_) == 90 and len(t.labels_) == 900
    others = np.setdiff1d(np.arange(900), t.sample_)
    nearest = t.sample_[np.argmax(emb[others] @ emb[t.sample_].T, axis=1)]
    assert (t.labels_[others] == t.labels_[nearest]).all()
    assert sorted(i for th in t.themes_ for i in th.members) == np.flatnonzero(t.labels_ >= 0).tolist()
    assert (t.labels_ >= 0).mean() > 0.9
    for theme in t.themes_:  # themes never mix the true groups, and speak of their own group
        assert len(set(truth[theme.members])) == 1
        assert np.isclose(np.linalg.norm(theme.centroid), 1.0)
        assert any(w in " ".join(theme.keywords) for w in WORDS[truth[theme.members[0]]].split()[:2])


def test_small_categories_are_fitted_whole_and_the_sample_is_seeded():
    texts, emb, _ = clusters(20)
    whole = fit_sampled(themer(), texts, emb, max_fit=100)
    direct = themer().fit(texts, emb)
    assert whole.labels_.tolist() == direct.labels_.tolist() and len(whole.sample_) == 60
    texts, emb, _ = clusters(200)
    a, b = fit_sampled(themer(), texts, emb, 50, seed=3), fit_sampled(themer(), texts, emb, 50, seed=3)
    assert a.sample_.tolist() == b.sample_.tolist() and a.labels_.tolist() == b.labels_.tolist()


def test_exact_neighbours_match_a_brute_force_search_and_put_each_point_first():
    from sklearn.neighbors import NearestNeighbors

    from nlp.themes import exact_knn

    _, emb, _ = clusters(400, seed=3)
    emb = np.vstack([emb, emb[:5]])  # exact duplicates: each copy must still list itself first
    idx, dist = exact_knn(emb, 15, block=128)  # several blocks
    assert idx.shape == dist.shape == (len(emb), 15)
    assert (idx[:, 0] == np.arange(len(emb))).all() and np.allclose(dist[:, 0], 0, atol=1e-6)
    assert (np.diff(dist, axis=1) >= -1e-6).all()
    ref_dist, _ = NearestNeighbors(n_neighbors=15, metric="cosine").fit(emb).kneighbors(emb)
    assert np.allclose(dist, ref_dist, atol=1e-5)
    small_idx, _ = exact_knn(emb[:4], 15)  # fewer points than neighbours asked for
    assert small_idx.shape == (4, 4) and (small_idx[:, 0] == np.arange(4)).all()


def test_kept_themes_carry_old_segments_and_new_ones_join_the_nearest_old_segments_theme():
    from nlp.themes import KeptThemes

    texts, emb, truth = clusters(50, seed=4)
    previous = truth.copy()
    previous[:5] = -1  # in no theme last run: stays so
    new = [10, 60, 110]
    previous[new] = KeptThemes.NEW  # one new segment in each group
    k = KeptThemes(method="bertopic").fit(texts, emb, previous)
    assert k.method_ == "bertopic"
    assert (k.labels_[:5] == -1).all()
    old = previous != KeptThemes.NEW
    assert (k.labels_[old] == previous[old]).all()
    nearest = np.flatnonzero(old)[np.argmax(emb[new] @ emb[old].T, axis=1)]
    assert k.labels_[new].tolist() == previous[nearest].tolist()
    assert k.labels_[[60, 110]].tolist() == [1, 2]
    assert sorted(i for t in k.themes_ for i in t.members) == np.flatnonzero(k.labels_ >= 0).tolist()
    with pytest.raises(ValueError, match="afresh"):
        KeptThemes().fit(texts[:3], emb[:3], np.full(3, KeptThemes.NEW))


def test_class_tfidf_is_bertopics_with_frequent_words_reduced():
    from bertopic.vectorizers import ClassTfidfTransformer
    from scipy import sparse

    from nlp.themes import class_tfidf

    dense = np.random.default_rng(0).poisson(0.7, (6, 40))
    dense[:, 3] = 0
    dense[0, 3] = 2  # a word only one theme uses
    counts = sparse.csr_matrix(dense)
    expected = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(counts.copy()).toarray()
    assert np.allclose(class_tfidf(counts), expected)
