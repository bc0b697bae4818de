"""Zero-shot classification from category titles and descriptions: a taxonomy with no labelled
answers yet still classifies, by sentence-embedding similarity.

A long description ("tackle smoking, alcohol misuse, inactivity, unhealthy eating and social
isolation") is a list of themes, and one vector for the whole of it sits between them all. So each
category is represented by several prototypes: its title, each clause of its description and each
comma-separated item, and an answer's similarity to the category is the mean of its two closest
prototypes (one lucky fragment alone is noisy). Similarities are turned into pseudo-probabilities
relative to the answer's best category: a category is assigned when its similarity is within
`margin` of the best one and above an absolute `floor`, and the probability is 0.5 exactly there.
`margin` and `floor` were chosen on the 2019 engagement labels (see `benchmarks/evaluate.py`).
"""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlp import embed as embed_mod
from nlp.classify import Segments, apply_thresholds
from nlp.taxonomy import Taxonomy


def prototypes(text: str) -> list[str]:
    """The phrases that stand for a category: title and clauses, then the items of each list."""
    clauses = [c.strip(" .") for c in re.split(r"[;:]|(?<=\.)\s", text)]
    clauses = [c for c in clauses if len(c) > 3]
    items = [i.strip(" .") for c in clauses for i in re.split(r",\s*|\s+and\s+|\s+&\s+|/\s+", c)]
    return list(dict.fromkeys(clauses + [i for i in items if len(i.split()) >= 2]))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class ZeroShotClassifier(BaseEstimator, ClassifierMixin):
    """Embedding similarity to each category's title + description, with the same
    predict_proba / decide / predict interface as `nlp.classify.TaxonomyClassifier`.

    `descriptions` follows `codes` (or maps code to text); `from_taxonomy` builds it from a
    taxonomy's titles and descriptions. Prototype vectors are computed on `fit` (or on first use)
    and kept, so a pickled model does not need the encoder until it scores new answers.
    """

    def __init__(self, codes: Sequence[str] = (), other_code: str | None = None,
                 descriptions: Sequence[str] | Mapping[str, str] = (), margin: float = 0.05, floor: float = 0.25,
                 temperature: float = 0.02, top_k: int = 2):
        self.codes = codes
        self.other_code = other_code
        self.descriptions = descriptions
        self.margin = margin
        self.floor = floor
        self.temperature = temperature
        self.top_k = top_k

    @classmethod
    def from_taxonomy(cls, tax: Taxonomy, **params) -> "ZeroShotClassifier":
        return cls(codes=tax.codes, other_code=tax.other_code,
                   descriptions=[f"{c.title}. {c.description}" for c in tax.categories], **params)

    def _texts(self) -> list[str]:
        d = self.descriptions
        texts = [d[c] for c in self.codes] if isinstance(d, Mapping) else list(d)
        if len(texts) != len(self.codes):
            raise ValueError(f"{len(self.codes)} codes but {len(texts)} descriptions")
        return texts

    def fit(self, texts: Sequence[str] | None = None, Y: np.ndarray | None = None,
            embeddings: np.ndarray | None = None, groups: Sequence | None = None) -> "ZeroShotClassifier":
        """Embed the prototypes; labelled data, if passed, is ignored (that is the trained model's job)."""
        protos = [prototypes(t) for t in self._texts()]
        self.prototypes_ = [p for ps in protos for p in ps]
        self.owner_ = np.repeat(np.arange(len(protos)), [len(p) for p in protos])
        self.prototype_vectors_ = embed_mod.embed(self.prototypes_)
        return self

    @property
    def thresholds_(self) -> np.ndarray:
        """Pseudo-probabilities are 0.5 at the decision boundary by construction."""
        return np.full(len(self.codes), 0.5)

    def similarities(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> np.ndarray:
        """(n, k) similarity of each answer to each category: mean of its `top_k` closest prototypes."""
        if not hasattr(self, "prototype_vectors_"):
            self.fit()
        emb = embed_mod.embed(list(texts)) if embeddings is None else np.asarray(embeddings, dtype=np.float32)
        S = emb @ self.prototype_vectors_.T
        cols = []
        for j in range(len(self.codes)):
            s = np.sort(S[:, self.owner_ == j], axis=1)[:, -self.top_k:]
            cols.append(s.mean(axis=1))
        return np.column_stack(cols) if cols else np.zeros((len(emb), 0))

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                      context: Sequence[Mapping[str, str]] | None = None) -> np.ndarray:
        """Pseudo-probabilities: 0.5 at `max(best - margin, floor)`, steeper for a smaller temperature.
        `context` (question, source) is accepted for the trained model's interface and not used:
        with no labels there is nothing to learn what a question implies from.

        The catch-all category also passes when no substantive category reaches the floor.
        """
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.codes)))
        S = self.similarities(texts, embeddings)
        cut = np.maximum(S.max(axis=1, keepdims=True) - self.margin, self.floor)
        P = _sigmoid((S - cut) / self.temperature)
        if self.other_code in self.codes:
            o = list(self.codes).index(self.other_code)
            best_sub = np.delete(S, o, axis=1).max(axis=1) if S.shape[1] > 1 else np.full(len(S), -1.0)
            P[:, o] = np.maximum(P[:, o], _sigmoid((self.floor - best_sub) / self.temperature))
        return P

    def predict_proba_with_segments(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                                    context: Sequence[Mapping[str, str]] | None = None,
                                    segments: Segments | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The trained classifier's interface: answers and segments each scored on their own (an
        answer is not lifted by its segments, which is measured only for the trained model)."""
        seg = np.zeros((0, len(self.codes))) if segments is None else \
            self.predict_proba(segments.texts, segments.embeddings)
        return self.predict_proba(texts, embeddings), seg

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """As the trained classifier: thresholds, the best label if none passes, 'other' exclusive."""
        return apply_thresholds(scores, self.thresholds_, self.codes, self.other_code)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                context: Sequence[Mapping[str, str]] | None = None) -> np.ndarray:
        return self.decide(self.predict_proba(texts, embeddings))
