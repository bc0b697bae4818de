"""Multi-label classification of answers into a taxonomy's categories.

Features are TF-IDF word n-grams (exact vocabulary such as "A&E", "PFI", "CAMHS"), TF-IDF character
n-grams inside words (misspellings and text-speak such as "appt", "docter", "carparking" still share
most of their pieces with the right word) and sentence embeddings (meaning, so "can't get an
appointment" and "no GP slots" look alike). One linear model per category (a linear SVM by default)
gives a raw score; a Platt map fitted on out-of-fold scores turns it into a probability that is
monotone in the raw score and comparable across categories. Each category's decision threshold is
the F1-optimal cut-off on out-of-fold probabilities, shrunk half-way towards 0.5: the tuned cut-off
alone over-fits the rarer categories' few examples, a flat 0.5 under-assigns them, and on both
benchmarks (`benchmarks/evaluate.py`) the shrunk cut-off beats either.

An answer's sentence segments can lift its score (`fit(..., segments=Segments(...))` and the same
at prediction): a label's raw score for the answer is raised half-way (`segment_weight`) towards its
best segment's score when that is higher, so a long answer whose one sentence plainly raises car
parking counts towards car parking even though its other sentences dilute the whole answer's
vector. On both benchmarks this beat the answer alone and the plain maximum (variant "answers-only").

Answers written to illustrate the coding frame (`fit(..., examples=mask)`, see flows/train.py) also
vote: the linear models' probabilities are moved `knn_weight` of the way to the vote of the 25
written examples most like the answer (by sentence embedding, each weighted by its cosine
similarity cubed), so an answer that reads like an example of a code leans towards that code even
where its few words mislead the linear models. Thresholds are tuned on the blend. On the 2019
labels it raised macro F1 by about 0.01 (variant "no-neighbours"); a vote of all training answers
did not help without examples, and cost 0.03 macro F1 on pxtextmining.

Optionally, each answer's context (the question it answers and its source, e.g. staff survey or
Healthwatch) adds one-hot features: `fit(..., context=[{"question": q, "source": s}, ...])` and the
same at prediction. It raised macro F1 on both benchmarks (variant "context"); a call without
context still works, on the words alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold
from sklearn.svm import LinearSVC

from nlp import embed as embed_mod
from nlp.vectorise import CharNgramTfidf

MODELS = ("svm", "logreg")
# Raw score given by a label that had no (or only) positive examples in a training fold.
_CONSTANT_SCORE = 5.0


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


def apply_thresholds(scores: np.ndarray, thresholds: np.ndarray, codes: Sequence[str],
                     other_code: str | None) -> np.ndarray:
    """0/1 decisions: each label at its threshold, the best label when none passes (every answer
    says something), and the catch-all 'other' category never beside a substantive one."""
    P = (scores >= thresholds).astype(np.int8)
    empty = P.sum(axis=1) == 0
    if len(scores):
        P[empty, np.argmax(scores[empty], axis=1)] = 1
    if other_code in codes:
        o = list(codes).index(other_code)
        P[(P[:, o] == 1) & (P.sum(axis=1) > 1), o] = 0
    return P


Context = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class Segments:
    """The sentence segments of a batch of answers: `owner[i]` is the position in the batch of the
    answer segment i belongs to; `embeddings`, if given, are the segments' vectors in the same order."""
    texts: list[str]
    owner: np.ndarray
    embeddings: np.ndarray | None = None

    @classmethod
    def from_lists(cls, per_answer: Sequence[Sequence[str]], embeddings: np.ndarray | None = None) -> "Segments":
        """From each answer's list of segment texts, in answer order."""
        owner = np.repeat(np.arange(len(per_answer)), [len(s) for s in per_answer])
        return cls([t for s in per_answer for t in s], owner, embeddings)

    @classmethod
    def cut(cls, texts: Sequence[str]) -> "Segments":
        """The answers' sentence segments as ingest cuts them (nlp.preprocess), without vectors."""
        from nlp.preprocess import preprocess

        return cls.from_lists([[s.text for s in p.segments] for p in preprocess(texts)])

    def of(self, answers: np.ndarray) -> "Segments":
        """The segments of the answers at positions `answers`, with owners renumbered to their place there."""
        answers = np.asarray(answers)
        place = np.full(max(int(self.owner.max(initial=-1)), int(answers.max(initial=-1))) + 1, -1)
        place[answers] = np.arange(len(answers))
        keep = np.flatnonzero(place[self.owner] >= 0) if len(self.owner) else np.zeros(0, dtype=int)
        return Segments([self.texts[i] for i in keep], place[self.owner[keep]],
                        None if self.embeddings is None else self.embeddings[keep])


def neighbour_votes(query: np.ndarray, emb: np.ndarray, Y: np.ndarray, k: int, power: float = 3.0,
                    block: int = 4096) -> np.ndarray:
    """Each query's labels as its `k` most similar training answers vote (unit vectors, so the dot
    product is the cosine), each vote weighted by its similarity to the power `power` (0 below 0);
    computed in blocks of queries, so memory stays bounded however many answers are scored."""
    out = np.zeros((len(query), Y.shape[1]), dtype=np.float64)
    k = min(k, len(emb))
    if not len(query) or not k:
        return out
    Yf = np.asarray(Y, dtype=np.float32)
    for lo in range(0, len(query), block):
        S = np.asarray(query[lo:lo + block], dtype=np.float32) @ emb.T
        idx = np.argpartition(-S, k - 1, axis=1)[:, :k]
        w = np.maximum(np.take_along_axis(S, idx, axis=1), 0.0) ** power
        votes = np.einsum("qk,qkl->ql", w, Yf[idx])
        out[lo:lo + block] = votes / np.maximum(w.sum(axis=1, keepdims=True), 1e-9)
    return out


def raise_towards_segments(raw: np.ndarray, seg_raw: np.ndarray, owner: np.ndarray, weight: float) -> np.ndarray:
    """Each answer's raw scores moved `weight` of the way up to its best segment's, label by label,
    where that is higher; an answer's score never falls because one of its sentences is off-topic."""
    if not len(owner) or not weight:
        return raw
    order = np.argsort(owner, kind="stable")
    o = owner[order]
    starts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
    best = np.full(raw.shape, -np.inf)
    best[o[starts]] = np.maximum.reduceat(seg_raw[order], starts, axis=0)
    return np.where(best > raw, raw + weight * (best - raw), raw)


class ContextFeatures:
    """One-hot indicators of where each answer came from, e.g. its question and its source.

    A context is a mapping per answer ({"question": ..., "source": ...}); each non-empty field
    value seen in training becomes one feature of weight `weight`, so "What would make North
    Cumbria a better place to work?" can lean towards the workforce enabler. Values are compared
    case- and whitespace-insensitively; a value not seen in training, or no context at all,
    contributes nothing.
    """

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    @staticmethod
    def _keys(c: Mapping[str, str]) -> list[str]:
        return [f"{f}={' '.join(str(v).lower().split())}" for f, v in sorted(c.items()) if v is not None
                and str(v).strip()]

    def fit(self, contexts: Context) -> "ContextFeatures":
        self.vocabulary_ = {k: i for i, k in enumerate(sorted({k for c in contexts for k in self._keys(c)}))}
        return self

    def transform(self, contexts: Context | None, n: int) -> sparse.csr_matrix:
        rows, cols = [], []
        for r, c in enumerate(contexts if contexts is not None else ()):
            for k in self._keys(c):
                if k in self.vocabulary_:
                    rows.append(r)
                    cols.append(self.vocabulary_[k])
        return sparse.csr_matrix((np.full(len(rows), self.weight, dtype=np.float32), (rows, cols)),
                                 shape=(n, len(self.vocabulary_)))


def _check_context(context: Context | None, n: int) -> list[Mapping[str, str]] | None:
    if context is None:
        return None
    context = list(context)
    if len(context) != n:
        raise ValueError(f"{n} texts but {len(context)} contexts")
    return context


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_platt(raw: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-label slope and intercept of sigmoid(a * raw + b), fitted on out-of-fold raw scores.

    The slope is kept positive, so probability order is raw-score order and the thresholds keep
    their meaning; a label with no signal (or only one class) gets a flat map at its base rate.
    """
    k = Y.shape[1]
    a, b = np.ones(k), np.zeros(k)
    for j in range(k):
        y = Y[:, j]
        if y.min() == y.max():
            continue
        m = LogisticRegression(C=1e4).fit(raw[:, [j]], y)
        if m.coef_[0, 0] > 0:
            a[j], b[j] = m.coef_[0, 0], m.intercept_[0]
        else:
            a[j], b[j] = 1e-6, float(_logit(np.array(y.mean())))
    return a, b


class TaxonomyClassifier(BaseEstimator, ClassifierMixin):
    """TF-IDF (word + character) + sentence-embedding one-vs-rest linear models, Platt-calibrated,
    with per-label thresholds tuned on out-of-fold predictions.

    `fit(texts, Y)` takes raw (redacted) texts and a 0/1 label matrix whose columns follow
    `codes`. Embeddings can be passed in precomputed (they are cached by the flows); otherwise
    the packaged encoder computes them.

    Options exist so `benchmarks/evaluate.py` can compare alternatives; the defaults are the best
    measured. `co_occurrence=True` stacks a second logistic regression per label on every label's
    calibrated out-of-fold log-odds (so "hospital food" can lean on "waste"); it did not help on
    either benchmark, and its probabilities are no longer monotone in the label's own raw score.
    `n_jobs` > 1 fits labels in threads: faster, but liblinear's random generator is one C state
    for the whole process, so threads fitting at once interleave its draws and the same labels give
    models that differ in the last digits from fit to fit. The default fits one label at a time and
    is reproducible bit for bit.
    """

    def __init__(self, codes: Sequence[str] = (), other_code: str | None = None, model: str = "svm",
                 C: float = 0.5, char_ngrams: bool = True, embedding_weight: float = 1.0, calibrate: bool = True,
                 threshold_shrinkage: float = 0.5, co_occurrence: bool = False, context_weight: float = 1.0,
                 segment_weight: float = 0.5, knn_weight: float = 0.4, knn_k: int = 25, n_folds: int = 5,
                 random_state: int = 0, n_jobs: int | None = 1):
        self.codes = codes
        self.other_code = other_code
        self.model = model
        self.C = C
        self.char_ngrams = char_ngrams
        self.embedding_weight = embedding_weight
        self.calibrate = calibrate
        self.threshold_shrinkage = threshold_shrinkage
        self.co_occurrence = co_occurrence
        self.context_weight = context_weight
        self.segment_weight = segment_weight
        self.knn_weight = knn_weight
        self.knn_k = knn_k
        self.n_folds = n_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- features -------------------------------------------------------------------------
    def _vectorisers(self, context: bool = False) -> list:
        vecs: list = [TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode",
                                      token_pattern=r"(?u)\b\w[\w&']*\b")]
        if self.char_ngrams:
            vecs.append(CharNgramTfidf(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                       strip_accents="unicode", dtype=np.float32))
        weight = getattr(self, "context_weight", 1.0)  # models pickled before the option existed
        if context and weight:
            vecs.append(ContextFeatures(weight))
        return vecs

    def _features(self, vecs: list, texts: Sequence[str], emb: np.ndarray,
                  context: Context | None = None) -> sparse.csr_matrix:
        blocks = [v.transform(context, len(texts)) if isinstance(v, ContextFeatures) else v.transform(texts)
                  for v in vecs]
        if self.embedding_weight:
            blocks.append(sparse.csr_matrix(emb * self.embedding_weight))
        return sparse.hstack(blocks).tocsr()

    # -- one stage of linear models -------------------------------------------------------
    def _fit_label(self, X: sparse.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, float]:
        if y.min() == y.max():  # a label with no (or only) examples: a constant, not a crash
            return np.zeros(X.shape[1], dtype=np.float32), _CONSTANT_SCORE if y[0] else -_CONSTANT_SCORE
        # liblinear visits the examples in a random order: a fixed seed, or each fit would draw one
        # from numpy's global generator and the same labels would give slightly different models.
        if self.model == "svm":
            m = LinearSVC(C=self.C, class_weight="balanced", max_iter=10000, random_state=self.random_state)
        else:
            m = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000, solver="liblinear",
                                   random_state=self.random_state)
        m.fit(X, y)
        return m.coef_[0].astype(np.float32), float(m.intercept_[0])

    def _fit_linear(self, texts: Sequence[str], emb: np.ndarray, Y: np.ndarray, context: Context | None = None):
        """Vectorisers, a (features x labels) weight matrix and intercepts: raw = X @ W + b."""
        vecs = [v.fit(context) if isinstance(v, ContextFeatures) else v.fit(texts)
                for v in self._vectorisers(context is not None)]
        X = self._features(vecs, texts, emb, context)
        # liblinear releases the GIL, so threads parallelise without copying X (see n_jobs).
        fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._fit_label)(X, Y[:, j]) for j in range(Y.shape[1]))
        W = np.column_stack([w for w, _ in fitted]) if fitted else np.zeros((X.shape[1], 0), np.float32)
        return vecs, W, np.array([b for _, b in fitted])

    def _raw(self, vecs, W: np.ndarray, b: np.ndarray, texts: Sequence[str], emb: np.ndarray,
             context: Context | None = None) -> np.ndarray:
        return np.asarray(self._features(vecs, texts, emb, context) @ W) + b

    def _raw_with_segments(self, vecs, W: np.ndarray, b: np.ndarray, texts: Sequence[str], emb: np.ndarray,
                           context: Context | None, segments: Segments | None) -> tuple[np.ndarray, np.ndarray | None]:
        """Answers' raw scores lifted by their segments' (see `raise_towards_segments`), and the
        segments' own raw scores; a segment is scored in its answer's context."""
        raw = self._raw(vecs, W, b, texts, emb, context)
        if segments is None:
            return raw, None
        seg_emb = embed_mod.ensure_embeddings(segments.texts, segments.embeddings)
        seg_ctx = None if context is None else [context[i] for i in segments.owner]
        seg_raw = self._raw(vecs, W, b, segments.texts, seg_emb, seg_ctx) if segments.texts \
            else np.zeros((0, W.shape[1]))
        weight = getattr(self, "segment_weight", 0.0)  # models pickled before the option existed
        return raise_towards_segments(raw, seg_raw, segments.owner, weight), seg_raw

    def _splits(self, n: int, groups: Sequence | None) -> list[tuple[np.ndarray, np.ndarray]]:
        n_folds = min(self.n_folds, n)
        if groups is not None and len(set(groups)) >= n_folds:
            return list(GroupKFold(n_splits=n_folds).split(np.zeros(n), groups=groups))
        return list(KFold(n_splits=n_folds, shuffle=True, random_state=self.random_state).split(np.zeros(n)))

    def _probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores to probabilities: Platt maps, or the logistic regression's own sigmoid."""
        return _sigmoid(raw * self.platt_a_ + self.platt_b_) if self.calibrate else _sigmoid(raw)

    def _blend(self, P: np.ndarray, query: np.ndarray, emb: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """The linear models' probabilities moved `knn_weight` of the way to the written examples' vote."""
        if not self.knn_weight or not len(P) or not len(emb):
            return P
        return (1 - self.knn_weight) * P + self.knn_weight * neighbour_votes(query, emb, Y, self.knn_k)

    # -- estimator API --------------------------------------------------------------------
    def fit(self, texts: Sequence[str], Y: np.ndarray, embeddings: np.ndarray | None = None,
            groups: Sequence | None = None, context: Context | None = None,
            segments: Segments | None = None, examples: np.ndarray | None = None) -> "TaxonomyClassifier":
        """`context`, optional, gives each answer's question and source (see `ContextFeatures`); a
        model fitted with it still scores answers passed without one, on their words alone.
        `segments`, optional, are the answers' sentence segments: the models are still fitted on
        whole answers, but the calibration and thresholds are tuned on segment-lifted scores, as
        `predict_proba(..., segments=...)` gives them. `examples`, optional, marks the answers written
        to illustrate the coding frame (a boolean mask): they train like the others and also vote."""
        texts = list(texts)
        context = _check_context(context, len(texts))
        Y = np.asarray(Y, dtype=np.int8)
        if Y.shape != (len(texts), len(self.codes)):
            raise ValueError(f"Y must be {len(texts)} x {len(self.codes)}, got {Y.shape}")
        if len(texts) < 10:
            raise ValueError(f"only {len(texts)} labelled answers: at least 10 are needed to train")
        voters = np.zeros(len(texts), dtype=bool) if examples is None else np.asarray(examples, dtype=bool)
        if len(voters) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(voters)} entries in `examples`")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.model == "svm" and not self.calibrate:
            raise ValueError("an SVM's margins are not probabilities: use calibrate=True with model='svm'")
        emb = embed_mod.ensure_embeddings(texts, embeddings)
        splits = self._splits(len(texts), groups)
        raw = self.out_of_fold_scores(texts, Y, emb, splits, context, segments)
        self.platt_a_, self.platt_b_ = fit_platt(raw, Y) if self.calibrate else (None, None)
        oof = self._probabilities(raw)
        for train, test in splits:
            voting = train[voters[train]]
            oof[test] = self._blend(oof[test], emb[test], emb[voting], Y[voting])
        if self.co_occurrence:
            self.stack_, oof = self._fit_stack(oof, Y, splits)
        tuned = np.array([best_threshold(Y[:, j], oof[:, j]) for j in range(Y.shape[1])])
        self.thresholds_ = np.where(tuned < 1.0, (1 - self.threshold_shrinkage) * tuned
                                    + self.threshold_shrinkage * 0.5, tuned)
        self.oof_scores_ = oof
        self.vectorizers_, self.coef_, self.intercept_ = self._fit_linear(texts, emb, Y, context)
        self.neighbours_ = (emb[voters], Y[voters]) if self.knn_weight and voters.any() else None
        self.n_train_ = len(texts)
        return self

    def out_of_fold_scores(self, texts: Sequence[str], Y: np.ndarray, emb: np.ndarray,
                           splits: list[tuple[np.ndarray, np.ndarray]], context: Context | None = None,
                           segments: Segments | None = None) -> np.ndarray:
        """Raw scores for each answer from a model that did not see it (or its respondent's other answers)."""
        raw = np.zeros(Y.shape, dtype=np.float64)
        texts_arr = np.asarray(texts, dtype=object)

        def part(idx):
            return None if context is None else [context[i] for i in idx]
        for train, test in splits:
            vecs, W, b = self._fit_linear(list(texts_arr[train]), emb[train], Y[train], part(train))
            raw[test], _ = self._raw_with_segments(vecs, W, b, list(texts_arr[test]), emb[test], part(test),
                                                   None if segments is None else segments.of(test))
        return raw

    @staticmethod
    def _fit_stack(P: np.ndarray, Y: np.ndarray, splits) -> tuple[list, np.ndarray]:
        """Second-stage models on all labels' out-of-fold log-odds, and their own out-of-fold probabilities."""
        Z = _logit(P)
        models, oof = [], P.copy()
        for j in range(Y.shape[1]):
            y = Y[:, j]
            if y.sum() < 2 or y.min() == y.max():
                models.append(None)
                continue
            for train, test in splits:
                if y[train].min() < y[train].max():
                    stage = LogisticRegression(C=0.1, solver="liblinear", random_state=0)
                    oof[test, j] = stage.fit(Z[train], y[train]).predict_proba(Z[test])[:, 1]
            models.append(LogisticRegression(C=0.1, solver="liblinear", random_state=0).fit(Z, y))
        return models, oof

    def _stacked(self, P: np.ndarray) -> np.ndarray:
        if not self.co_occurrence or not len(P):
            return P
        Z = _logit(P)
        return np.column_stack([P[:, j] if m is None else m.predict_proba(Z)[:, 1] for j, m in enumerate(self.stack_)])

    def predict_proba_with_segments(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                                    context: Context | None = None, segments: Segments | None = None
                                    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities for the answers (lifted by their segments) and for each segment on its own,
        from one pass over the segments' features."""
        texts = list(texts)
        context = _check_context(context, len(texts))
        k = len(self.codes)
        if not texts:
            return np.zeros((0, k)), np.zeros((0, k))
        emb = embed_mod.ensure_embeddings(texts, embeddings)
        if segments is not None and segments.embeddings is None:  # encoded once, for both models
            segments = Segments(segments.texts, segments.owner, embed_mod.embed(segments.texts))
        raw, seg_raw = self._raw_with_segments(self.vectorizers_, self.coef_, self.intercept_, texts, emb, context,
                                               segments)
        near = getattr(self, "neighbours_", None)

        def probabilities(raw: np.ndarray, query: np.ndarray) -> np.ndarray:
            P = self._probabilities(raw)
            return self._stacked(P if near is None else self._blend(P, query, *near))
        P = probabilities(raw, emb)
        if seg_raw is None:
            return P, np.zeros((0, k))
        return P, probabilities(seg_raw, segments.embeddings)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                      context: Context | None = None, segments: Segments | None = None) -> np.ndarray:
        return self.predict_proba_with_segments(texts, embeddings, context, segments)[0]

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Apply the per-label thresholds; every answer gets its best label if none passes, and
        the catch-all 'other' category never sits beside a substantive one."""
        return apply_thresholds(scores, self.thresholds_, self.codes, self.other_code)

    def predict(self, texts: Sequence[str], embeddings: np.ndarray | None = None,
                context: Context | None = None, segments: Segments | None = None) -> np.ndarray:
        return self.decide(self.predict_proba(texts, embeddings, context, segments))
