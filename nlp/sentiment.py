"""Sentiment of an answer or segment: negative, neutral, positive or mixed (the writer's stance).

TF-IDF words and sentence embeddings, one multinomial logistic regression (character n-grams are
an option: on the 2019 labels they made fitting four times slower for no gain). Classes are balanced in the loss because praise and mixed answers
are rare in a "what must we do" consultation (6% and 4% of the 2019 labels) and would otherwise
never be predicted.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from nlp import embed as embed_mod
from nlp.vectorise import CharNgramTfidf

SENTIMENTS = ("negative", "neutral", "positive", "mixed")


class SentimentClassifier(BaseEstimator, ClassifierMixin):
    """`fit(texts, y)` with y one of SENTIMENTS per text; `predict` returns those strings."""

    def __init__(self, C: float = 2.0, char_ngrams: bool = False, embedding_weight: float = 1.0):
        self.C = C
        self.char_ngrams = char_ngrams
        self.embedding_weight = embedding_weight

    def _features(self, texts: Sequence[str], emb: np.ndarray) -> sparse.csr_matrix:
        blocks = [v.transform(texts) for v in self.vectorizers_]
        if self.embedding_weight:
            blocks.append(sparse.csr_matrix(emb * self.embedding_weight))
        return sparse.hstack(blocks).tocsr()

    def fit(self, texts: Sequence[str], y: Sequence[str], embeddings: np.ndarray | None = None) -> "SentimentClassifier":
        texts, y = list(texts), np.asarray(y, dtype=object)
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} texts but {len(y)} sentiment labels")
        bad = sorted(set(y) - set(SENTIMENTS))
        if bad:
            raise ValueError(f"unknown sentiment(s) {', '.join(map(str, bad))}: use {', '.join(SENTIMENTS)}")
        if len(set(y)) < 2:
            raise ValueError("sentiment training needs at least two different sentiments")
        # Negation and intensity live in short phrases ("not good", "so kind"): keep stop words.
        self.vectorizers_ = [TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                             strip_accents="unicode", token_pattern=r"(?u)\b\w[\w']*\b|[!?]")]
        if self.char_ngrams:
            self.vectorizers_.append(CharNgramTfidf(analyzer="char_wb", ngram_range=(2, 5), min_df=2,
                                                    sublinear_tf=True, strip_accents="unicode", dtype=np.float32))
        for v in self.vectorizers_:
            v.fit(texts)
        X = self._features(texts, embed_mod.ensure_embeddings(texts, embeddings))
        self.model_ = LogisticRegression(C=self.C, class_weight="balanced", max_iter=3000).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """(n, len(classes_)) probabilities, columns in `classes_` order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classes_)))
        return self.model_.predict_proba(self._features(texts, embed_mod.ensure_embeddings(texts, embeddings)))

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        P = self.predict_proba(texts, embeddings)
        return self.classes_[np.argmax(P, axis=1)] if len(P) else np.array([], dtype=object)
