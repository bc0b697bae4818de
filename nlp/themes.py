"""Themes inside one category: BERTopic over segment embeddings, with a simpler grouping for
categories too small for a topic model.

A topic model needs a few dozen documents before UMAP and HDBSCAN find structure; a small export
can give a category one to a dozen answers. Those are grouped by agglomerative clustering on the
same embeddings, so every category gets honest themes instead of a crash or one giant outlier bin.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

# Words that carry no theme in engagement answers (and the redaction placeholders).
_STOP = sorted(ENGLISH_STOP_WORDS | {
    "need", "needs", "want", "like", "just", "really", "think", "make", "get", "got", "would", "could",
    "should", "lot", "lots", "things", "thing", "people", "im", "ive", "dont", "doesnt", "cant", "its",
    "name", "phone", "email", "nhs_number", "postcode", "address", "dob", "said", "says", "told", "did",
    "does", "going", "way", "time", "years", "year", "better", "good", "bad", "also", "etc", "ok",
})


@dataclass
class Theme:
    id: int
    keywords: list[str]
    members: list[int] = field(default_factory=list)
    centroid: np.ndarray | None = None


def _vectoriser(n_docs: int) -> CountVectorizer:
    return CountVectorizer(stop_words=_STOP, ngram_range=(1, 2), min_df=1 if n_docs < 50 else 2,
                           token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z&']+\b")


def theme_keywords(texts: Sequence[str], labels: np.ndarray, top_n: int = 8) -> dict[int, list[str]]:
    """c-TF-IDF keywords per theme (BERTopic's class-based TF-IDF), excluding outliers (-1)."""
    from bertopic.vectorizers import ClassTfidfTransformer

    ids = sorted(int(t) for t in set(labels.tolist()) if t >= 0)
    if not ids:
        return {}
    joined = [" ".join(t for t, l in zip(texts, labels) if l == i) for i in ids]
    vec = _vectoriser(len(texts))
    try:
        counts = vec.fit_transform(joined)
    except ValueError:  # nothing but stop words
        return {i: [] for i in ids}
    weights = ClassTfidfTransformer(reduce_frequent_words=True).fit_transform(counts).toarray()
    vocab = vec.get_feature_names_out()
    out: dict[int, list[str]] = {}
    for row, i in zip(weights, ids):
        order = np.argsort(-row)
        out[i] = [str(vocab[k]) for k in order[:top_n] if row[k] > 0]
    return out


class CategoryThemer(BaseEstimator):
    """Find themes among the segments of one category.

    fit(texts, embeddings) sets `labels_` (theme id per segment, -1 for segments that fit no
    theme), `themes_` (ordered by size) and `method_` ("bertopic", "clusters" or "single").
    """

    def __init__(self, min_docs_for_topic_model: int = 40, max_themes: int = 8, min_theme_share: float = 0.03,
                 outlier_threshold: float = 0.3, random_state: int = 0):
        self.min_docs_for_topic_model = min_docs_for_topic_model
        self.max_themes = max_themes
        self.min_theme_share = min_theme_share
        self.outlier_threshold = outlier_threshold
        self.random_state = random_state

    def fit(self, texts: Sequence[str], embeddings: np.ndarray) -> "CategoryThemer":
        texts = list(texts)
        emb = np.asarray(embeddings, dtype=np.float32)
        if len(texts) != len(emb):
            raise ValueError(f"{len(texts)} texts but {len(emb)} embeddings")
        n = len(texts)
        if n == 0:
            labels, self.method_ = np.zeros(0, dtype=int), "single"
        elif n < 3:
            labels, self.method_ = np.zeros(n, dtype=int), "single"
        elif n < self.min_docs_for_topic_model:
            labels, self.method_ = self._clusters(emb), "clusters"
        else:
            labels, self.method_ = self._bertopic(texts, emb), "bertopic"
        labels = self._merge_small(labels, emb)
        self.labels_ = self._renumber_by_size(labels)
        keywords = theme_keywords(texts, self.labels_)
        self.themes_ = []
        for tid in sorted(keywords):
            members = np.flatnonzero(self.labels_ == tid)
            c = emb[members].mean(axis=0)
            self.themes_.append(Theme(id=tid, keywords=keywords[tid], members=members.tolist(),
                                      centroid=c / (np.linalg.norm(c) or 1.0)))
        return self

    def _clusters(self, emb: np.ndarray) -> np.ndarray:
        """Average-linkage clusters of segments closer than ~cos 0.45: similar points, same theme."""
        model = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                        distance_threshold=0.55)
        labels = model.fit_predict(emb)
        return labels

    def _bertopic(self, texts: list[str], emb: np.ndarray) -> np.ndarray:
        from bertopic import BERTopic
        from hdbscan import HDBSCAN
        from umap import UMAP

        n = len(texts)
        umap = UMAP(n_neighbors=min(15, n - 1), n_components=5, min_dist=0.0, metric="cosine",
                    random_state=self.random_state, n_jobs=1)
        hdb = HDBSCAN(min_cluster_size=max(4, n // 25), min_samples=2, metric="euclidean",
                      cluster_selection_method="eom", prediction_data=True)
        model = BERTopic(embedding_model=None, umap_model=umap, hdbscan_model=hdb,
                         vectorizer_model=_vectoriser(n), calculate_probabilities=False, verbose=False)
        topics, _ = model.fit_transform(texts, embeddings=emb)
        if len(set(topics) - {-1}) > self.max_themes:
            model.reduce_topics(texts, nr_topics=self.max_themes + 1)
            topics = model.topics_
        topics = np.asarray(topics)
        if (topics == -1).any() and (topics >= 0).any():
            topics = np.asarray(model.reduce_outliers(texts, topics.tolist(), strategy="embeddings",
                                                      embeddings=emb, threshold=self.outlier_threshold))
        if not (topics >= 0).any():  # HDBSCAN found no structure: fall back rather than report nothing
            return self._clusters(emb)
        return topics

    def _merge_small(self, labels: np.ndarray, emb: np.ndarray) -> np.ndarray:
        """Fold themes below the minimum size into their nearest theme, and cap the count."""
        labels = labels.copy()
        n = len(labels)
        min_size = max(2, int(np.ceil(self.min_theme_share * n))) if n >= 10 else 1
        while True:
            ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
            if len(ids) <= 1:
                return labels
            small = [i for i, s in zip(ids, sizes) if s < min_size]
            if not small and len(ids) <= self.max_themes:
                return labels
            victim = small[0] if small else ids[np.argmin(sizes)]
            cents = {i: emb[labels == i].mean(axis=0) for i in ids}
            v = cents[victim] / (np.linalg.norm(cents[victim]) or 1.0)
            others = [i for i in ids if i != victim]
            sims = [float(v @ (cents[i] / (np.linalg.norm(cents[i]) or 1.0))) for i in others]
            labels[labels == victim] = others[int(np.argmax(sims))]

    @staticmethod
    def _renumber_by_size(labels: np.ndarray) -> np.ndarray:
        ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
        order = [i for _, i in sorted(zip(-sizes, ids))]
        mapping = {old: new for new, old in enumerate(order)}
        return np.array([mapping.get(int(l), -1) for l in labels], dtype=int)
