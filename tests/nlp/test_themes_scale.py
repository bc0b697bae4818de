"""Themes at scale: fit on a sample, every other segment takes its nearest fitted segment's theme."""
from __future__ import annotations

import numpy as np

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
