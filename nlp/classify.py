"""Multi-label classification of answers into a taxonomy's categories.

Features are TF-IDF word n-grams (exact vocabulary such as "A&E", "PFI", "CAMHS") combined with
sentence embeddings (meaning, so "can't get an appointment" and "no GP slots" look alike). One
logistic regression per category gives a probability; each category's decision threshold is the
one that maximised F1 on out-of-fold predictions, because a single 0.5 cut-off under-assigns the
rarer aims.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold

from nlp import embed as embed_mod

Encoder = Callable[[Sequence[str]], np.ndarray]


def labels_to_matrix(labels: Sequence[Sequence[str]], codes: Sequence[str]) -> np.ndarray:
    """Lists of codes to a 0/1 matrix; an unknown code is an error, not silently dropped."""
    index = {c: i for i, c in enumerate(codes)}
    Y = np.zeros((len(labels), len(codes)), dtype=np.int8)
    for r, row in enumerate(labels):
        for code in row:
            if code not in index:
                raise ValueError(f"label {code!r} is not in the taxonomy ({', '.join(codes)})")
            Y[r, index[code]] = 1
    return Y


def best_threshold(y: np.ndarray, scores: np.ndarray, floor: float = 0.05) -> float:
    """The score cut-off with the best F1 for one label (midpoints between observed scores)."""
    if y.sum() == 0:
        return 1.0
    order = np.argsort(-scores)
    s, t = scores[order], y[order]
    tp = np.cumsum(t)
    fp = np.cumsum(1 - t)
    f1 = 2 * tp / (tp + fp + t.sum())
    # Only cut between distinct scores, so ties fall on the same side.
    valid = np.r_[s[1:] < s[:-1], True]
    f1 = np.where(valid, f1, -1)
    k = int(np.argmax(f1))
    nxt = s[k + 1] if k + 1 < len(s) else s[k] - 1e-6
    return float(max(floor, (s[k] + nxt) / 2))


class TaxonomyClassifier(BaseEstimator, ClassifierMixin):
    """TF-IDF + sentence-embedding one-vs-rest logistic regression with tuned thresholds.

    `fit(texts, Y)` takes raw (redacted) texts and a 0/1 label matrix whose columns follow
    `codes`. Embeddings can be passed in precomputed (they are cached by the flows); otherwise
    the packaged encoder computes them.
    """

    def __init__(self, codes: Sequence[str] = (), other_code: str | None = None, C: float = 4.0,
                 embedding_weight: float = 1.0, n_folds: int = 5, random_state: int = 0):
        self.codes = codes
        self.other_code = other_code
        self.C = C
        self.embedding_weight = embedding_weight
        self.n_folds = n_folds
        self.random_state = random_state

    # -- features -------------------------------------------------------------------------
    def _vectoriser(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode",
                               token_pattern=r"(?u)\b\w[\w&']*\b")

    def _features(self, vec: TfidfVectorizer, texts: Sequence[str], emb: np.ndarray):
        return sparse.hstack([vec.transform(texts), sparse.csr_matrix(emb * self.embedding_weight)]).tocsr()

    @staticmethod
    def _embeddings(texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
        if embeddings is None:
            return embed_mod.embed(texts)
        if len(embeddings) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
        return np.asarray(embeddings, dtype=np.float32)

    def _fit_models(self, texts: Sequence[str], emb: np.ndarray, Y: np.ndarray):
        vec = self._vectoriser().fit(texts)
        X = self._features(vec, texts, emb)
        models = []
        for j in range(Y.shape[1]):
            y = Y[:, j]
            if y.min() == y.max():  # a label with no (or only) examples: a constant, not a crash
                models.append(float(y[0]) if len(y) else 0.0)
                continue
            m = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000, solver="liblinear",
                                   random_state=self.random_state)
            models.append(m.fit(X, y))
        return vec, models

    @staticmethod
    def _scores(vec, models, X) -> np.ndarray:
        cols = [np.full(X.shape[0], m) if isinstance(m, float) else m.predict_proba(X)[:, 1] for m in models]
        return np.column_stack(cols) if cols else np.zeros((X.shape[0], 0))

    # -- estimator API --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], Y: np.ndarray, embeddings: np.ndarray | None = None,
            groups: Sequence | None = None) -> "TaxonomyClassifier":
        texts = list(texts)
        Y = np.asarray(Y, dtype=np.int8)
        if Y.shape != (len(texts), len(self.codes)):
            raise ValueError(f"Y must be {len(texts)} x {len(self.codes)}, got {Y.shape}")
        if len(texts) < 10:
            raise ValueError(f"only {len(texts)} labelled answers: at least 10 are needed to train")
        emb = self._embeddings(texts, embeddings)
        oof = self.out_of_fold_scores(texts, Y, emb, groups)
        self.thresholds_ = np.array([best_threshold(Y[:, j], oof[:, j]) for j in range(Y.shape[1])])
        self.oof_scores_ = oof
        self.vectorizer_, self.models_ = self._fit_models(texts, emb, Y)
        self.n_train_ = len(texts)
        return self

    def out_of_fold_scores(self, texts: Sequence[str], Y: np.ndarray, emb: np.ndarray,
                           groups: Sequence | None = None) -> np.ndarray:
        """Scores for each answer from a model that did not see it (grouped by respondent if given)."""
        n_folds = min(self.n_folds, len(texts))
        if groups is not None and len(set(groups)) >= n_folds:
            splits = GroupKFold(n_splits=n_folds).split(texts, groups=groups)
        else:
            splits = KFold(n_splits=n_folds, shuffle=True, random_state=self.random_state).split(texts)
        oof = np.zeros(Y.shape, dtype=np.float64)
        texts_arr = np.asarray(texts, dtype=object)
        for train, test in splits:
            vec, models = self._fit_models(list(texts_arr[train]), emb[train], Y[train])
            oof[test] = self._scores(vec, models, self._features(vec, list(texts_arr[test]), emb[test]))
        return oof

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.codes)))
        emb = self._embeddings(texts, embeddings)
        return self._scores(self.vectorizer_, self.models_, self._features(self.vectorizer_, texts, emb))

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Apply the per-label thresholds; every answer gets its best label if none passes, and
        the catch-all 'other' category never sits beside a substantive one."""
        P = (scores >= self.thresholds_).astype(np.int8)
        empty = P.sum(axis=1) == 0
        if len(scores):
            P[empty, np.argmax(scores[empty], axis=1)] = 1
        if self.other_code in self.codes:
            o = list(self.codes).index(self.other_code)
            mixed = (P[:, o] == 1) & (P.sum(axis=1) > 1)
            P[mixed, o] = 0
        return P

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        return self.decide(self.predict_proba(texts, embeddings))
