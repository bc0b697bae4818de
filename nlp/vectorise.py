"""Character n-gram TF-IDF that scores large batches quickly, with scikit-learn's exact numbers.

scikit-learn's `char_wb` analyser cuts every word of every text into padded 2–5 character pieces
and looks each piece up in the vocabulary, in Python: at 100,000 answers and their sentences that
is ~120 million lookups, a quarter of the classifier's scoring stage. Those pieces never cross a word
boundary, so a text's counts are the sum of its words' counts; `CharNgramTfidf` works each distinct
word out once, keeps it, and adds words up. Its matrices equal `TfidfVectorizer(analyzer="char_wb")`'s
with the same settings (a test checks it), so models and their scores do not change.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer


class CharNgramTfidf(TfidfVectorizer):
    """`TfidfVectorizer` (same parameters) whose `transform` remembers each word's n-grams when
    `analyzer="char_wb"`; any other analyser transforms as scikit-learn does."""

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_word_features", None)  # a cache: rebuilt on use, not worth storing with the model
        return state

    def fit(self, raw_documents: Iterable[str], y=None) -> "CharNgramTfidf":
        self.__dict__.pop("_word_features", None)  # a new vocabulary: what was kept no longer holds
        return super().fit(raw_documents, y)

    def fit_transform(self, raw_documents: Iterable[str], y=None) -> sparse.csr_matrix:
        self.__dict__.pop("_word_features", None)
        return super().fit_transform(raw_documents, y)

    def _word(self, word: str) -> np.ndarray:
        """Vocabulary indices of one word's n-grams (repeats kept: they are counts)."""
        vocab = self.vocabulary_
        idx = [vocab[g] for g in self._char_wb_ngrams(word) if g in vocab]
        return np.asarray(idx, dtype=np.int32)

    def transform(self, raw_documents: Iterable[str]) -> sparse.csr_matrix:
        if self.analyzer != "char_wb":
            return super().transform(raw_documents)
        if isinstance(raw_documents, str):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        self._check_vocabulary()
        cache: dict[str, np.ndarray] = self.__dict__.setdefault("_word_features", {})
        preprocess, blank = self.build_preprocessor(), self._white_spaces
        pieces: list[np.ndarray] = []
        lengths: list[int] = []
        for doc in raw_documents:
            n = 0
            for w in blank.sub(" ", preprocess(self.decode(doc))).split():
                feats = cache.get(w)
                if feats is None:
                    feats = cache[w] = self._word(w)
                if len(feats):
                    pieces.append(feats)
                    n += len(feats)
            lengths.append(n)
        cols = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        counts = sparse.csr_matrix((np.ones(len(cols), dtype=self.dtype), (rows, cols)),
                                   shape=(len(lengths), len(self.vocabulary_)), dtype=self.dtype)
        counts.sum_duplicates()
        counts.sort_indices()
        return self._tfidf.transform(counts, copy=False)
