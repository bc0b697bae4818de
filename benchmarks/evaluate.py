"""Quality of the answer classifier (and its alternatives), the zero-shot cold start and sentiment.

Usage:
  .venv/bin/python benchmarks/evaluate.py [engagement-2019] [--folds 5] [--variants NAME ...] [--json OUT]
  .venv/bin/python benchmarks/evaluate.py pxtextmining [--taxonomy ID] [--variants NAME ...] [--json OUT]
  add --embeddings segment-mean to build each answer's vector from its sentence segments' vectors

engagement-2019: the 900 labelled 2019 answers, 5-fold cross-validation grouped by respondent (a
public respondent's two answers were written as a pair; public rows are grouped through
public_id_map.csv). Each fold re-fits the whole model, including its own out-of-fold threshold
tuning on the fold's training part, so the figures are honest out-of-sample ones. F1 is reported
over the seven aims/enablers and with OTHER.

pxtextmining: real NHS patient feedback labelled by NHS staff (../shared/data/external/pxtextmining,
read in place), trained on the `train` rows of its split_ids.csv and tested on the `test` rows, on
the 29 labels of baseline.json; micro F1 over all 29 labels, macro F1 over the labels with test rows,
as that project's own figures in baseline.json (its SVC: micro 0.774, macro 0.548). The label set is a
taxonomy file (--taxonomy, default patient-experience-v6, the framework's 50 labels): the CSV's label
columns map to its categories by title, the models train on the 29 baseline labels (so the figures
stay comparable with the peer's), and the zero-shot cold start uses those 29 categories' titles and
descriptions.

The 2019 taxonomy's written examples (data/raw/labels/<taxonomy>/examples/*.csv: answers written
to illustrate the coding frame, see the README there) join every training fold, as they join the
pipeline's training; they are never among the held-out answers scored. Variant "no-examples" trains
on the folds' labelled answers alone, "examples-only" on the examples alone (no labelled answer at
all: a new system's first night), scored on all 900 answers. The row "second coder" scores an
independent coding of the same 900 answers from the same guidelines (benchmarks/data/): how far two
coders agree, the ceiling to compare models with.

Sentence embeddings are cached under ~/.cache/engage-bench (or $ENGAGE_BENCH_CACHE), keyed by the
encoder version and the texts, so reruns only pay for fitting. `--json` writes micro_f1, macro_f1,
per_label, fit_seconds and predict_seconds of the default model, and every variant under "variants".
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared/data"
sys.path.insert(0, str(ROOT))

from flows.settings import resolve_taxonomy  # noqa: E402
from nlp.classify import Segments, TaxonomyClassifier, labels_to_matrix  # noqa: E402
from nlp.embed import MODEL_VERSION, embed  # noqa: E402
from nlp.preprocess import preprocess  # noqa: E402
from nlp.sentiment import SentimentClassifier  # noqa: E402
from nlp.taxonomy import Taxonomy  # noqa: E402
from nlp.zeroshot import ZeroShotClassifier  # noqa: E402

# name -> (what it is, TaxonomyClassifier parameters). "default" is the shipped model; the
# variants below "no-context" change one thing each from it (so they, too, see words only).
VARIANTS: dict[str, tuple[str, dict]] = {
    "default": ("SVM, words+chars+embeddings+question/source, segments lift answers, Platt, shrunk thresholds",
                {}),
    "answers-only": ("default, answers scored whole (segments do not lift them)", dict(segment_weight=0.0)),
    "segment-max": ("default, answers lifted all the way to their best segment", dict(segment_weight=1.0)),
    "no-examples": ("default trained on the labelled answers alone (no written examples)", {}),
    "examples-only": ("default trained on the written examples alone, scored on every labelled answer", {}),
    "no-neighbours": ("default without the written examples' vote (linear models alone)", dict(knn_weight=0.0)),
    "neighbours-0.3": ("default, the written examples' vote weighted 0.3", dict(knn_weight=0.3)),
    "neighbours-0.5": ("default, the written examples' vote weighted 0.5", dict(knn_weight=0.5)),
    "no-context": ("default on the words alone (no question/source)", {}),
    "context-0.5": ("default, question/source features at weight 0.5", dict(context_weight=0.5)),
    "context-oof-thresholds": ("default, thresholds not shrunk towards 0.5", dict(threshold_shrinkage=0.0)),
    "context-C1": ("default with C=1 (less regularised SVMs)", dict(C=1.0)),
    "baseline": ("first model: LR, words+embeddings, OOF thresholds",
                 dict(model="logreg", C=4.0, char_ngrams=False, calibrate=False, threshold_shrinkage=0.0,
                      segment_weight=0.0)),
    "logreg-chars": ("LR, words+chars+embeddings, OOF thresholds",
                     dict(model="logreg", C=4.0, calibrate=False, threshold_shrinkage=0.0)),
    "logreg-chars-platt": ("LR, words+chars+embeddings, Platt, shrunk thresholds", dict(model="logreg", C=4.0)),
    "svm-oof-thresholds": ("no-context, thresholds not shrunk towards 0.5", dict(threshold_shrinkage=0.0)),
    "svm-threshold-0.5": ("no-context, every threshold 0.5 on Platt probabilities", dict(threshold_shrinkage=1.0)),
    "no-chars": ("no-context without character n-grams", dict(char_ngrams=False)),
    "no-embeddings": ("no-context without sentence embeddings (TF-IDF only)", dict(embedding_weight=0.0)),
    "co-occurrence": ("no-context + stacked LR on all labels' OOF log-odds", dict(co_occurrence=True)),
}
# Variants fitted and scored with each answer's context (question, source) as well as its text.
CONTEXT_VARIANTS = {"default", "answers-only", "segment-max", "context-0.5", "context-oof-thresholds", "context-C1",
                    "no-examples", "examples-only", "no-neighbours", "neighbours-0.3", "neighbours-0.5"}
# Variants that differ only in the written examples they train on (engagement-2019 alone has them);
# every other variant trains with the examples, as the default does.
EXAMPLE_VARIANTS = {"no-examples", "examples-only"}


# -- shared helpers -------------------------------------------------------------------------
def cached_embeddings(texts: list[str]) -> np.ndarray:
    cache = Path(os.environ.get("ENGAGE_BENCH_CACHE", Path.home() / ".cache/engage-bench"))
    key = hashlib.sha256("\x1f".join([MODEL_VERSION, *texts]).encode("utf-8")).hexdigest()[:24]
    f = cache / f"embeddings-{key}.npy"
    if f.exists():
        return np.load(f)
    vecs = embed(texts, progress=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(f, vecs)
    return vecs


def answer_embeddings(texts: list[str], how: str) -> np.ndarray:
    """The answers' vectors: each answer encoded whole ("answer", what the pipeline does), or the
    normalised mean of its sentence segments' vectors ("segment-mean": the pipeline would then
    encode only segments, a quarter fewer texts at scale; measured to see what it costs in F1)."""
    if how == "answer":
        return cached_embeddings(texts)
    segments = [[s.text for s in p.segments] or [p.text or " "] for p in preprocess(texts)]
    distinct = list(dict.fromkeys(s for ss in segments for s in ss))
    vecs, row = cached_embeddings(distinct), {t: i for i, t in enumerate(distinct)}
    out = np.vstack([vecs[[row[s] for s in ss]].mean(axis=0) for ss in segments]).astype(np.float32)
    print(f"segment-mean embeddings: {len(distinct)} distinct segments for {len(texts)} answers "
          f"(whole answers + segments: {len(set(texts) | set(distinct))} texts)")
    return out / np.linalg.norm(out, axis=1, keepdims=True).clip(1e-9)


def answer_segments(texts: list[str]) -> Segments:
    """Each answer's sentence segments (as the pipeline cuts them) with their cached vectors."""
    segments = Segments.cut(texts)
    distinct = list(dict.fromkeys(segments.texts))
    vecs, row = cached_embeddings(distinct), {t: i for i, t in enumerate(distinct)}
    return Segments(segments.texts, segments.owner, vecs[[row[t] for t in segments.texts]])


def scores(Y: np.ndarray, P: np.ndarray, codes: list[str]) -> dict:
    """Micro F1 over all given labels, macro F1 over those with support, and per-label P/R/F1."""
    p, r, f, s = precision_recall_fscore_support(Y, P, zero_division=0)
    has = s > 0
    return {"micro_f1": float(f1_score(Y, P, average="micro", zero_division=0)),
            "macro_f1": float(np.mean(f[has])) if has.any() else 0.0,
            "per_label": {c: {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si),
                              "n_predicted": int(P[:, j].sum())}
                          for j, (c, pi, ri, fi, si) in enumerate(zip(codes, p, r, f, s))}}


def print_summary(rows: list[tuple[str, dict]], cols: list[tuple[str, str]]) -> None:
    width = max(len(n) for n, _ in rows) + 2
    print(f"{'variant':<{width}}" + "".join(f"{h:>12}" for h, _ in cols))
    for name, res in rows:
        print(f"{name:<{width}}" + "".join(f"{res[k]:>12.3f}" for _, k in cols))


def print_per_label(codes: list[str], res: dict, extra: dict[str, dict[str, float]] | None = None,
                    counts: dict[str, tuple[int, int]] | None = None, names: dict[str, str] | None = None) -> None:
    """One row per label, named by `names[code]` (e.g. its title) where given, else by code."""
    names = names or {}
    width = max(len(names.get(c, c)) for c in codes) + 2
    head = f"{'label':<{width}}" + ("   train    test" if counts else f"{'support':>8}")
    widths = [max(9, len(h) + 2) for h in (extra or {})]
    head += f"{'precision':>11}{'recall':>8}{'F1':>7}" + "".join(f"{h:>{w}}" for h, w in zip(extra or {}, widths))
    print(head)
    for c in codes:
        pl = res["per_label"][c]
        line = f"{names.get(c, c):<{width}}" + (f"{counts[c][0]:>8}{counts[c][1]:>8}" if counts else f"{pl['support']:>8}")
        line += f"{pl['precision']:>11.3f}{pl['recall']:>8.3f}{pl['f1']:>7.3f}"
        line += "".join(f"{v[c]:>{w}.3f}" for v, w in zip((extra or {}).values(), widths))
        print(line)


def choose_variants(names: list[str] | None) -> list[str]:
    names = names or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return ["default"] + [n for n in names if n != "default"]


# -- engagement-2019 ------------------------------------------------------------------------
def respondent_groups(df: pd.DataFrame, id_map: Path | None) -> np.ndarray:
    """Public answers grouped by SmartSurvey respondent where the id map is available."""
    ids = df["response_id"].astype(str)
    if id_map is not None and id_map.exists():
        m = pd.read_csv(id_map, dtype=str).set_index("response_id")["smartsurvey_response_id"]
        return ids.map(lambda r: m.get(r, r)).to_numpy()
    return ids.to_numpy()


@dataclasses.dataclass
class Batch:
    """Labelled answers as the classifier takes them: texts, 0/1 labels, vectors, respondent groups,
    question/source context, sentence segments and sentiment."""
    texts: list[str]
    Y: np.ndarray
    emb: np.ndarray
    groups: np.ndarray
    context: list[dict]
    segments: Segments
    sentiment: np.ndarray

    @classmethod
    def read(cls, df: pd.DataFrame, codes: list[str], groups: np.ndarray, how: str = "answer") -> "Batch":
        texts = df["text"].tolist()
        return cls(texts, labels_to_matrix([l.split(";") for l in df["labels"]], codes), answer_embeddings(texts, how),
                   np.asarray(groups, dtype=object), [{"question": q, "source": s} for q, s in zip(df["question"], df["source"])],
                   answer_segments(texts), df["sentiment"].to_numpy(dtype=object))

    def take(self, idx: np.ndarray) -> "Batch":
        return Batch([self.texts[i] for i in idx], self.Y[idx], self.emb[idx], self.groups[idx],
                     [self.context[i] for i in idx], self.segments.of(idx), self.sentiment[idx])

    def __add__(self, other: "Batch | None") -> "Batch":
        if other is None:
            return self
        seg = Segments(self.segments.texts + other.segments.texts,
                       np.r_[self.segments.owner, other.segments.owner + len(self.texts)].astype(int),
                       np.vstack([self.segments.embeddings, other.segments.embeddings]))
        return Batch(self.texts + other.texts, np.vstack([self.Y, other.Y]), np.vstack([self.emb, other.emb]),
                     np.r_[self.groups, other.groups], self.context + other.context, seg,
                     np.r_[self.sentiment, other.sentiment])


def read_examples(folder: Path, tax: Taxonomy, how: str) -> Batch | None:
    """The taxonomy's written examples (read and checked as the pipeline reads them), or None."""
    from flows.train import read_labels

    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return None
    df = pd.concat([read_labels(f.read_bytes(), f.name, tax) for f in files], ignore_index=True)
    return Batch.read(df, tax.codes, ("example:" + df["group"]).to_numpy(), how)


def second_coder(df: pd.DataFrame, codes: list[str], path: Path) -> np.ndarray | None:
    """The second coder's 0/1 labels in `df`'s row order, or None without the file."""
    if not path.exists():
        return None
    other = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("response_id")["labels"]
    missing = sorted(set(df["response_id"]) - set(other.index))
    if missing:
        raise SystemExit(f"{path} has no labels for {len(missing)} answers, e.g. {missing[0]}")
    return labels_to_matrix([other[r].split(";") for r in df["response_id"]], codes)


def cross_validate(make: Callable[[], TaxonomyClassifier], data: Batch, folds: int, use_context: bool = True,
                   extra: Batch | None = None) -> tuple[np.ndarray, float, float]:
    """Out-of-fold 0/1 predictions, mean fit seconds per fold, total predict seconds. `extra` (the
    written examples) joins every training fold and is never scored."""
    P = np.zeros_like(data.Y)
    fit_s = pred_s = 0.0
    for train, test in GroupKFold(n_splits=folds).split(data.texts, groups=data.groups):
        fit_on, held = data.take(train) + extra, data.take(test)
        t = time.perf_counter()
        written = np.arange(len(fit_on.texts)) >= len(train)
        clf = make().fit(fit_on.texts, fit_on.Y, embeddings=fit_on.emb, groups=fit_on.groups,
                         context=fit_on.context if use_context else None, segments=fit_on.segments, examples=written)
        fit_s += time.perf_counter() - t
        t = time.perf_counter()
        P[test] = clf.predict(held.texts, embeddings=held.emb, context=held.context if use_context else None,
                              segments=held.segments)
        pred_s += time.perf_counter() - t
    return P, fit_s / folds, pred_s


def engagement(args) -> dict:
    tax = resolve_taxonomy(args.taxonomy or "north-cumbria-2019-2024", ROOT)
    df = pd.read_csv(args.labels, dtype=str, keep_default_na=False)
    data = Batch.read(df, tax.codes, respondent_groups(df, args.id_map), args.embeddings)
    examples = read_examples(args.examples or ROOT / "data/raw/labels" / tax.id / "examples", tax, args.embeddings)
    Y = data.Y
    aims = [j for j, c in enumerate(tax.codes) if c != tax.other_code]
    aim_codes = [tax.codes[j] for j in aims]

    def evaluate(P: np.ndarray) -> dict:
        res = scores(Y, P, tax.codes)
        aim = scores(Y[:, aims], P[:, aims], aim_codes)
        return {"micro_f1": aim["micro_f1"], "macro_f1": aim["macro_f1"], "micro_f1_with_other": res["micro_f1"],
                "macro_f1_with_other": res["macro_f1"], "per_label": res["per_label"]}

    print(f"\n{tax.id}: {len(data.texts)} labelled answers, {args.folds}-fold CV grouped by respondent "
          f"({len(set(data.groups))} groups); {len(examples.texts) if examples else 0} written examples join "
          "every training fold\n")
    names = choose_variants(args.variants)
    if examples is None and EXAMPLE_VARIANTS & set(names):
        print("  (no written examples: variants no-examples and examples-only are the default or skipped)")
        names = [n for n in names if n not in EXAMPLE_VARIANTS]
    variants = {}
    for name in names:
        desc, params = VARIANTS[name]

        def make():
            return TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code, **params)
        use_context = name in CONTEXT_VARIANTS
        if name == "examples-only":
            t = time.perf_counter()
            clf = make().fit(examples.texts, examples.Y, embeddings=examples.emb, groups=examples.groups,
                             context=examples.context, segments=examples.segments,
                             examples=np.ones(len(examples.texts), dtype=bool))
            fit_s, t = time.perf_counter() - t, time.perf_counter()
            P = clf.predict(data.texts, embeddings=data.emb, context=data.context, segments=data.segments)
            pred_s = time.perf_counter() - t
        else:
            P, fit_s, pred_s = cross_validate(make, data, args.folds, use_context,
                                              None if name == "no-examples" else examples)
        variants[name] = {"description": desc, "params": params, **evaluate(P),
                          "fit_seconds": fit_s, "predict_seconds": pred_s}
        print(f"  {name}: macro F1 {variants[name]['macro_f1']:.3f} ({fit_s:.1f}s per fold)", flush=True)

    t = time.perf_counter()
    zs = ZeroShotClassifier.from_taxonomy(tax).fit()
    Pz = zs.predict(data.texts, embeddings=data.emb)
    variants["zero-shot"] = {"description": "no labels: similarity to category titles + descriptions",
                             **evaluate(Pz), "fit_seconds": 0.0, "predict_seconds": time.perf_counter() - t}

    coder = second_coder(df, tax.codes, args.second_coder)
    if coder is not None:
        variants["second coder"] = {"description": "an independent coder's labels from the same guidelines "
                                                   "(benchmarks/data/README.md): the agreement a model can approach",
                                    **evaluate(coder), "fit_seconds": 0.0, "predict_seconds": 0.0}

    t = time.perf_counter()
    everything = data + examples
    TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(
        everything.texts, everything.Y, embeddings=everything.emb, groups=everything.groups,
        context=everything.context, segments=everything.segments,
        examples=np.arange(len(everything.texts)) >= len(data.texts))
    full_fit_s = time.perf_counter() - t

    cols = [("micro F1", "micro_f1"), ("macro F1", "macro_f1"), ("micro+OTHER", "micro_f1_with_other"),
            ("macro+OTHER", "macro_f1_with_other"), ("fit s/fold", "fit_seconds")]
    print("\nF1 over the seven aims/enablers (micro, macro) and with OTHER:")
    print_summary(list(variants.items()), cols)
    print(f"\nper label, default model ({VARIANTS['default'][0]}); F1 of the other variants on the right:")
    others = {n: {c: v["per_label"][c]["f1"] for c in tax.codes} for n, v in variants.items() if n != "default"}
    print_per_label(tax.codes, variants["default"], others)
    print(f"\ndefault: fit {variants['default']['fit_seconds']:.1f}s per fold, {full_fit_s:.1f}s on all "
          f"{len(everything.texts)} answers and examples; predict {variants['default']['predict_seconds']:.2f}s "
          "for all folds")

    sentiment = evaluate_sentiment(data, args.folds)
    if examples is not None:
        with_examples = evaluate_sentiment(data, args.folds, examples)
        sentiment["with_examples"] = {k: with_examples[k] for k in ("macro_f1", "accuracy")}
    default = variants["default"]
    return {"dataset": "engagement-2019", "embeddings": args.embeddings, "taxonomy": tax.id, "n": len(data.texts),
            "n_examples": len(examples.texts) if examples else 0, "folds": args.folds,
            **{k: default[k] for k in ("micro_f1", "macro_f1", "micro_f1_with_other", "macro_f1_with_other",
                                       "per_label", "fit_seconds", "predict_seconds")},
            "fit_seconds_all_rows": full_fit_s, "variants": variants, "sentiment": sentiment}


def evaluate_sentiment(data: Batch, folds: int, extra: Batch | None = None) -> dict:
    """Sentiment, cross-validated like the categories. `extra` (the written examples) joins every
    training fold; the pipeline leaves them out once 50 answers are labelled (flows.train), as here by default."""
    y = data.sentiment
    P = np.empty(len(y), dtype=object)
    fit_s = 0.0
    for train, test in GroupKFold(n_splits=folds).split(data.texts, groups=data.groups):
        fit_on = data.take(train) + extra
        t = time.perf_counter()
        clf = SentimentClassifier().fit(fit_on.texts, fit_on.sentiment, embeddings=fit_on.emb)
        fit_s += time.perf_counter() - t
        P[test] = clf.predict([data.texts[i] for i in test], embeddings=data.emb[test])
    classes = sorted(set(y))
    p, r, f, s = precision_recall_fscore_support(y, P, labels=classes, zero_division=0)
    res = {"macro_f1": float(np.mean(f)), "accuracy": float(accuracy_score(y, P)), "fit_seconds": fit_s / folds,
           "per_label": {c: {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
                         for c, pi, ri, fi, si in zip(classes, p, r, f, s)}}
    trained_on = "labelled answers and written examples" if extra is not None else "labelled answers"
    print(f"\nsentiment trained on {trained_on} ({folds}-fold CV grouped by respondent): macro F1 {res['macro_f1']:.3f}, "
          f"accuracy {res['accuracy']:.3f}, fit {res['fit_seconds']:.1f}s per fold")
    print(f"{'sentiment':<12}{'support':>8}{'precision':>11}{'recall':>8}{'F1':>7}")
    for c in classes:
        pl = res["per_label"][c]
        print(f"{c:<12}{pl['support']:>8}{pl['precision']:>11.3f}{pl['recall']:>8.3f}{pl['f1']:>7.3f}")
    return res


# -- pxtextmining ---------------------------------------------------------------------------
PX_METADATA_COLUMNS = 11  # Comment ID ... Comment sentiment; the label columns follow


def px_label_taxonomy(tax: Taxonomy, label_columns: list[str], labels: list[str]) -> Taxonomy:
    """The taxonomy restricted to `labels` (CSV column names, in that order), matched by title.

    Every label column of the CSV must be a category title, so a renamed column or a typo in the
    taxonomy file fails here rather than silently dropping a label.
    """
    by_title = {c.title: c for c in tax.categories}
    unknown = [c for c in label_columns if " ".join(c.split()) not in by_title]
    if unknown:
        raise SystemExit(f"taxonomy {tax.id!r} has no category titled {', '.join(map(repr, unknown))}; "
                         "its titles must be the CSV's label column names")
    missing = [l for l in labels if l not in label_columns]
    if missing:
        raise SystemExit(f"baseline label(s) {', '.join(map(repr, missing))} are not columns of the CSV")
    return dataclasses.replace(tax, categories=tuple(by_title[" ".join(l.split())] for l in labels))


def pxtextmining(args) -> dict:
    d = args.px_dir
    base = json.loads((d / "baseline.json").read_text())
    labels: list[str] = base["labels"]  # CSV column names = category titles
    raw = pd.read_csv(d / "v6framework_230831.csv", dtype={"Comment ID": str})
    full = resolve_taxonomy(args.taxonomy or "patient-experience-v6", ROOT)
    tax = px_label_taxonomy(full, list(raw.columns[PX_METADATA_COLUMNS:]), labels)
    codes = tax.codes
    titles = {c.code: c.title for c in tax.categories}
    split = pd.read_csv(d / "split_ids.csv", dtype=str)
    df = split.merge(raw, on="Comment ID", how="left", validate="one_to_one")
    texts = df["FFT answer"].fillna("").astype(str).tolist()
    Y = df[labels].fillna(0).to_numpy().astype(np.int8)
    tr = (df["split"] == "train").to_numpy()
    emb = answer_embeddings(texts, args.embeddings)
    segments = answer_segments(texts)
    train_idx, test_idx = np.flatnonzero(tr), np.flatnonzero(~tr)
    T = np.asarray(texts, dtype=object)
    # An answer's context: the FFT question it answers and the service it is about.
    ctx = np.empty(len(df), dtype=object)
    ctx[:] = [{"question": q, "source": s} for q, s in zip(df["FFT question"].fillna(""), df["Service type 1"].fillna(""))]
    train_texts, test_texts = list(T[tr]), list(T[~tr])
    print(f"\npxtextmining: {tr.sum()} train / {(~tr).sum()} test answers, {len(labels)} labels of taxonomy "
          f"{full.id} ({len(full.categories)} categories; {int((Y[~tr].sum(0) > 0).sum())} labels with test rows)\n")

    variants = {}
    for name in [n for n in choose_variants(args.variants) if n not in EXAMPLE_VARIANTS]:
        desc, params = VARIANTS[name]
        t = time.perf_counter()
        # No other_code: trained and decided exactly as the figures before the taxonomy file, so
        # they stay comparable (no label is made exclusive of the others).
        use = name in CONTEXT_VARIANTS
        clf = TaxonomyClassifier(codes=codes, **params).fit(train_texts, Y[tr], embeddings=emb[tr],
                                                            context=list(ctx[tr]) if use else None,
                                                            segments=segments.of(train_idx))
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        P = clf.predict(test_texts, embeddings=emb[~tr], context=list(ctx[~tr]) if use else None,
                        segments=segments.of(test_idx))
        pred_s = time.perf_counter() - t
        variants[name] = {"description": desc, "params": params, **scores(Y[~tr], P, codes),
                          "fit_seconds": fit_s, "predict_seconds": pred_s}
        print(f"  {name}: micro F1 {variants[name]['micro_f1']:.3f}, macro F1 {variants[name]['macro_f1']:.3f} "
              f"(fit {fit_s:.0f}s)", flush=True)

    t = time.perf_counter()
    Pz = ZeroShotClassifier.from_taxonomy(tax).fit().predict(test_texts, embeddings=emb[~tr])
    variants["zero-shot"] = {"description": f"no labels: similarity to {full.id} titles + descriptions",
                             **scores(Y[~tr], Pz, codes), "fit_seconds": 0.0,
                             "predict_seconds": time.perf_counter() - t}

    peers = {}
    for peer in ("svc", "xgb"):
        m = base["models"][peer]
        per = {r["label"]: r for r in m["metrics"]["per_label"]}
        peers[f"pxtextmining {peer.upper()}"] = {
            "micro_f1": m["metrics"]["micro_f1"],
            "macro_f1": float(np.mean([per[l]["f1"] for l in labels if per[l]["support_test"] > 0])),
            "fit_seconds": m["fit_s"], "predict_seconds": m["predict_proba_only_s"],
            "per_label": {c: {"f1": per[l]["f1"]} for c, l in zip(codes, labels)}}

    cols = [("micro F1", "micro_f1"), ("macro F1", "macro_f1"), ("fit s", "fit_seconds"),
            ("predict s", "predict_seconds")]
    print(f"\nmicro F1 over all {len(labels)} labels, macro F1 over the labels with test rows; peers from baseline.json:")
    print_summary(list(peers.items()) + list(variants.items()), cols)
    print(f"\nper label, default model ({VARIANTS['default'][0]}); F1 of others on the right:")
    extra = {"SVC": {c: peers["pxtextmining SVC"]["per_label"][c]["f1"] for c in codes}}
    extra.update({n: {c: v["per_label"][c]["f1"] for c in codes} for n, v in variants.items()
                  if n in ("baseline", "no-context", "zero-shot")})
    counts = {c: (int(Y[tr, j].sum()), int(Y[~tr, j].sum())) for j, c in enumerate(codes)}
    print_per_label(codes, variants["default"], extra, counts, names=titles)
    for v in [*variants.values(), *peers.values()]:
        for c, pl in v["per_label"].items():
            pl["title"] = titles[c]
    default = variants["default"]
    goal = default["macro_f1"] >= 0.66 and default["micro_f1"] >= 0.82
    print(f"\ndefault: micro {default['micro_f1']:.3f} / macro {default['macro_f1']:.3f} "
          f"(goal micro >= 0.82 and macro >= 0.66: {'met' if goal else 'not met'}); fit "
          f"{default['fit_seconds']:.0f}s on {tr.sum()} answers, predict {default['predict_seconds']:.2f}s")
    return {"dataset": "pxtextmining", "embeddings": args.embeddings, "taxonomy": full.id,
            "n_train": int(tr.sum()), "n_test": int((~tr).sum()),
            **{k: default[k] for k in ("micro_f1", "macro_f1", "per_label", "fit_seconds", "predict_seconds")},
            "variants": variants, "peers": peers}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", nargs="?", default="engagement-2019", choices=["engagement-2019", "pxtextmining"])
    ap.add_argument("--variants", nargs="+", metavar="NAME",
                    help=f"classifier variants to compare (default: all): {', '.join(VARIANTS)}")
    ap.add_argument("--labels", type=Path, default=ROOT / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv")
    ap.add_argument("--examples", type=Path, help="folder of written examples that join every training fold "
                    "(default: data/raw/labels/<taxonomy>/examples)")
    ap.add_argument("--second-coder", type=Path, default=ROOT / "benchmarks/data/engagement-2019-second-coder.csv",
                    help="an independent coding of the same answers, scored as the agreement ceiling")
    ap.add_argument("--id-map", type=Path, default=SHARED / "engagement-2019/public_id_map.csv")
    ap.add_argument("--taxonomy", help="taxonomy id or YAML file (default: north-cumbria-2019-2024 for "
                    "engagement-2019, patient-experience-v6 for pxtextmining)")
    ap.add_argument("--px-dir", type=Path, default=SHARED / "external/pxtextmining")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--embeddings", choices=["answer", "segment-mean"], default="answer",
                    help="answer vectors: each answer encoded whole (default, as the pipeline does) or the "
                         "mean of its sentence segments' vectors")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    result = engagement(args) if args.dataset == "engagement-2019" else pxtextmining(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
