"""Train flow: labelled answers in data/raw/labels/<taxonomy id>/ → a classifier in data/processed/models.

Answers written to illustrate the coding frame (data/raw/labels/<taxonomy id>/examples/*.csv, same
columns) train the classifier beside the labelled answers but are not answers anyone gave: they are
not counted as labelled answers, and the cross-validated F1 a report quotes is measured on the
labelled answers alone. A taxonomy that ships enough of them is classified by a trained model from
its first night.

The model is retrained only when the labelled data or the taxonomy changed (a hash of both), so
the nightly run skips training on ordinary nights.
"""
from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from sklearn.metrics import f1_score

from flows.embeddings import get_embeddings
from flows.files import atomic_write_bytes, atomic_write_text
from flows.settings import Workspace, resolve_taxonomy, workspace
from nlp.classify import Segments, TaxonomyClassifier, labels_to_matrix
from nlp.embed import MODEL_VERSION
from nlp.redact import default_redactor
from nlp.sentiment import SENTIMENTS, SentimentClassifier
from nlp.taxonomy import Taxonomy
from nlp.zeroshot import ZeroShotClassifier

CLASSIFIER_VERSION = "tfidf+chars+minilm+context+segments+example-vote-ovr-svm-platt-v5"
ZERO_SHOT_VERSION = "minilm-prototypes-v1"
# Below this many labelled answers a trained model is worse than zero-shot similarity to the
# category descriptions (5-fold thresholds on a handful of examples are noise), so a taxonomy
# classifies zero-shot until its labels (written examples included) reach this size and the trained
# model takes over; its cross-validated F1 is quoted once this many of them are labelled answers.
MIN_LABELLED_ANSWERS = 50
# ... and until every category has this many (written examples included): a model that has seen one
# off-topic answer never predicts the catch-all, and files every off-topic answer under a priority.
MIN_PER_CATEGORY = 5
EXAMPLES = "examples"


class LabelsError(ValueError):
    """A labelled file that cannot be used for training; the message says how to fix it."""


def labels_dir(ws: Workspace, tax: Taxonomy) -> Path:
    return ws.labels_dir / tax.id


def model_dir(ws: Workspace, tax: Taxonomy) -> Path:
    return ws.models / tax.id


def read_labels(data: bytes, name: str, tax: Taxonomy) -> pd.DataFrame:
    """A labelled CSV: `text` and semicolon-separated `labels` columns with this taxonomy's codes."""
    try:
        df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise LabelsError(f"{name} could not be read as a UTF-8 CSV file ({e.__class__.__name__}). "
                          "Save it from Excel as 'CSV UTF-8' and try again.") from e
    cols = {c.strip().lower(): c for c in df.columns}
    if "text" not in cols or "labels" not in cols:
        raise LabelsError(f"{name} needs a `text` column and a `labels` column (codes separated by ';'); "
                          f"it has: {', '.join(df.columns)}")
    out = pd.DataFrame({"text": df[cols["text"]].str.strip(),
                        "labels": df[cols["labels"]].str.replace(" ", "", regex=False)})
    out["sentiment"] = df[cols["sentiment"]].str.strip().str.lower() if "sentiment" in cols else ""
    # Where the answer came from is part of what it means (see nlp.classify.ContextFeatures).
    for field in ("question", "source"):
        out[field] = df[cols[field]].str.strip() if field in cols else ""
    bad_sentiment = sorted(set(out["sentiment"]) - {"", *SENTIMENTS})
    if bad_sentiment:
        raise LabelsError(f"{name} has sentiment values {', '.join(bad_sentiment)}: use one of "
                          f"{', '.join(SENTIMENTS)}, or leave the cell blank.")
    out["group"] = df[cols["response_id"]] if "response_id" in cols else [f"{name}:{i}" for i in range(len(df))]
    out = out[(out["text"] != "") & (out["labels"] != "")]
    bad = sorted({c for l in out["labels"] for c in l.split(";") if c not in tax.codes})
    if bad:
        raise LabelsError(f"{name} uses codes that are not in taxonomy {tax.id}: {', '.join(bad)}. "
                          f"Valid codes: {', '.join(tax.codes)}.")
    if out.empty:
        raise LabelsError(f"{name} has no rows with both text and labels")
    return out.reset_index(drop=True)


def add_labels(ws: Workspace, tax: Taxonomy, path: Path, examples: bool = False) -> Path:
    """Validate a labelled CSV and copy it into the working area's labelled data (with `examples`,
    among the written examples of the coding frame)."""
    data = path.read_bytes()
    read_labels(data, path.name, tax)
    target_dir = labels_dir(ws, tax) / EXAMPLES if examples else labels_dir(ws, tax)
    target_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()
    for existing in target_dir.glob("*.csv"):
        if hashlib.sha256(existing.read_bytes()).hexdigest() == digest:
            return existing
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}-{digest[:8]}.csv"
    atomic_write_bytes(target, data)
    return target


def labelled_data(ws: Workspace, tax: Taxonomy) -> tuple[pd.DataFrame, str]:
    """All labelled answers for a taxonomy (redacted), with `example` True for the coding frame's
    written examples, and a hash identifying data + taxonomy."""
    # Written examples come first and reviews (`engage review import`) last, oldest first, so a
    # labelled answer replaces an example with the same words and an officer's correction of an
    # answer replaces the label it had before.
    folder = labels_dir(ws, tax)
    files = [(f, True) for f in sorted((folder / EXAMPLES).glob("*.csv"))] + \
        [(f, False) for f in sorted(folder.glob("*.csv"), key=lambda f: (f.name.startswith("review-"), f.name))]
    h = hashlib.sha256(f"{CLASSIFIER_VERSION}|{MODEL_VERSION}|{tax!r}".encode())
    frames = []
    for f, example in files:
        data = f.read_bytes()
        h.update(f"{example}".encode() + hashlib.sha256(data).digest())
        frames.append(read_labels(data, f"{EXAMPLES}/{f.name}" if example else f.name, tax).assign(example=example))
    if not frames:
        return pd.DataFrame(columns=["text", "labels", "group", "sentiment", "question", "source", "example"]), \
            h.hexdigest()
    df = pd.concat(frames, ignore_index=True)
    redactor = default_redactor()
    df["text"] = [redactor.redact(t) for t in df["text"]]
    return df.drop_duplicates(["text"], keep="last").reset_index(drop=True), h.hexdigest()


def load_model(ws: Workspace, tax: Taxonomy) -> tuple[TaxonomyClassifier | ZeroShotClassifier, dict]:
    d = model_dir(ws, tax)
    if not (d / "classifier.joblib").exists():
        raise FileNotFoundError(f"no classifier for taxonomy {tax.id} yet: run `engage train --taxonomy {tax.id}` "
                                "(with `--labels FILE.csv` if you have labelled answers)")
    return joblib.load(d / "classifier.joblib"), json.loads((d / "meta.json").read_text())


def answer_context(df: pd.DataFrame) -> list[dict[str, str]]:
    """Each answer's question and source, as the classifier takes them (training and scoring alike)."""
    return [{"question": q, "source": s} for q, s in zip(df["question"], df["source"])]


def answer_segments(ws: Workspace, texts: list[str]) -> Segments:
    """The answers' sentence segments, as ingest cuts them, with their (cached) vectors."""
    segments = Segments.cut(texts)
    return Segments(segments.texts, segments.owner, get_embeddings(ws, segments.texts))


def load_sentiment(ws: Workspace, tax: Taxonomy) -> SentimentClassifier | None:
    """The sentiment model trained from this taxonomy's labels, if they had a sentiment column."""
    path = model_dir(ws, tax) / "sentiment.joblib"
    return joblib.load(path) if path.exists() else None


def _fit_sentiment(df: pd.DataFrame, emb) -> SentimentClassifier | None:
    rated = (df["sentiment"] != "").to_numpy()
    # Written examples lean on complaint (53% negative, against 31% of the 2019 labelled answers):
    # they would tilt a report's tone counts, so they rate tone only until enough answers are labelled
    # (benchmarks/evaluate.py: with them, accuracy 0.759 against 0.798 without).
    labelled = rated & ~df["example"].to_numpy(dtype=bool)
    if labelled.sum() >= MIN_LABELLED_ANSWERS:
        rated = labelled
    if rated.sum() < MIN_LABELLED_ANSWERS or df.loc[rated, "sentiment"].nunique() < 2:
        return None
    return SentimentClassifier().fit(df.loc[rated, "text"].tolist(), df.loc[rated, "sentiment"].tolist(), emb[rated])


def zero_shot_hash(tax: Taxonomy) -> str:
    """What a zero-shot model depends on: the taxonomy and the encoder, not the labels."""
    return hashlib.sha256(f"{ZERO_SHOT_VERSION}|{MODEL_VERSION}|{tax!r}".encode()).hexdigest()


def coder_labels_digest(ws: Workspace, tax: Taxonomy) -> str:
    """A digest of the labelled answers' files (not the written examples): the answers they label
    follow them (flows.analyse.apply_coder_labels), so a night whose labels changed is not "nothing new"
    even when the model stays the same."""
    h = hashlib.sha256()
    for f in sorted(labels_dir(ws, tax).glob("*.csv")):
        h.update(f.name.encode() + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def model_is_current(ws: Workspace, tax: Taxonomy, labels_hash: str) -> bool:
    meta = model_dir(ws, tax) / "meta.json"
    return meta.exists() and json.loads(meta.read_text()).get("labels_hash") == labels_hash \
        and (model_dir(ws, tax) / "classifier.joblib").exists()


def _f1(Y: np.ndarray, pred: np.ndarray) -> dict:
    """Micro and macro F1 over the labels that some answer has."""
    has = Y.sum(axis=0) > 0
    return {"oof_micro_f1": float(f1_score(Y[:, has], pred[:, has], average="micro", zero_division=0)),
            "oof_macro_f1": float(f1_score(Y[:, has], pred[:, has], average="macro", zero_division=0))}


def zero_shot_macro_f1(tax: Taxonomy, texts: list[str], Y: np.ndarray, emb: np.ndarray) -> float:
    """How well the zero-shot classifier agrees with the labelled answers (it never saw them)."""
    return _f1(Y, ZeroShotClassifier.from_taxonomy(tax).fit().predict(texts, embeddings=emb))["oof_macro_f1"]


def oof_f1(clf: TaxonomyClassifier, Y, labelled) -> dict:
    """Cross-validated micro and macro F1 on the labelled answers (`labelled`, a mask): the written
    examples trained every fold but are not what the model will meet, so they are not scored. Too
    few labelled answers give no figure rather than a noisy one."""
    if labelled.sum() < MIN_LABELLED_ANSWERS:
        return {"oof_micro_f1": None, "oof_macro_f1": None}
    return _f1(Y[labelled], clf.decide(clf.oof_scores_[labelled]))


def thin_categories(df: pd.DataFrame, tax: Taxonomy) -> dict[str, int]:
    """Categories with fewer than MIN_PER_CATEGORY labelled answers (examples included), with their count."""
    counts = pd.Series([c for labels in df["labels"] for c in str(labels).split(";")]).value_counts()
    return {c: int(counts.get(c, 0)) for c in tax.codes if counts.get(c, 0) < MIN_PER_CATEGORY}


@task(cache_policy=NONE)
def fit_classifier(home: str, taxonomy: str, force: bool = False) -> dict:
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    df, labels_hash = labelled_data(ws, tax)
    examples = df["example"].to_numpy(dtype=bool)
    counts = {"n_train": int((~examples).sum()), "n_examples": int(examples.sum()),
              "thin_categories": thin_categories(df, tax)}
    zero_shot = len(df) < MIN_LABELLED_ANSWERS or bool(counts["thin_categories"])
    if zero_shot:
        labels_hash = zero_shot_hash(tax)
    meta_path = model_dir(ws, tax) / "meta.json"
    if not force and model_is_current(ws, tax, labels_hash):
        # A zero-shot model does not depend on the labels, so count them now: 44 labelled answers
        # must not read as the 0 there were when it was built (nor in the next report).
        stored = json.loads(meta_path.read_text())
        if any(stored.get(k) != v for k, v in counts.items()):
            atomic_write_text(meta_path, json.dumps(stored | counts, indent=2))
        return {"trained": False, **stored, **counts, "min_labelled": MIN_LABELLED_ANSWERS,
                "min_per_category": MIN_PER_CATEGORY}
    previous = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    meta = {"taxonomy_id": tax.id, "labels_hash": labels_hash, "model_version": labels_hash[:12],
            "encoder": MODEL_VERSION, **counts, "min_labelled": MIN_LABELLED_ANSWERS, "min_per_category": MIN_PER_CATEGORY,
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    sentiment = None
    if zero_shot:
        clf = ZeroShotClassifier.from_taxonomy(tax).fit()
        meta |= {"mode": "zero-shot", "classifier": ZERO_SHOT_VERSION, "oof_micro_f1": None, "oof_macro_f1": None}
    else:
        texts = df["text"].tolist()
        Y = labels_to_matrix([l.split(";") for l in df["labels"]], tax.codes)
        emb = get_embeddings(ws, texts)
        segments = answer_segments(ws, texts)
        clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code)
        clf.fit(texts, Y, embeddings=emb, groups=df["group"].to_numpy(), context=answer_context(df),
                segments=segments, examples=examples)
        sentiment = _fit_sentiment(df, emb)
        scores = oof_f1(clf, Y, ~examples)
        answered = ~examples
        zs_f1 = None if scores["oof_macro_f1"] is None else zero_shot_macro_f1(
            tax, [t for t, a in zip(texts, answered) if a], Y[answered], emb[answered])
        meta["sentiment_classes"] = list(map(str, sentiment.classes_)) if sentiment is not None else None
        if zs_f1 is not None and zs_f1 >= scores["oof_macro_f1"]:
            # Labels that do not yet cover every category (one OTHER among 65) train a model that
            # agrees with them less than the category descriptions do: it does not take over yet.
            # The same zero-shot model as before the labels came: its version stays, so no answer is
            # classified again and no theme refitted for a model that did not change.
            clf = ZeroShotClassifier.from_taxonomy(tax).fit()
            meta |= {"mode": "zero-shot", "classifier": ZERO_SHOT_VERSION, "oof_micro_f1": None, "oof_macro_f1": None,
                     "zero_shot_macro_f1": zs_f1, "trained_macro_f1": scores["oof_macro_f1"],
                     "model_version": zero_shot_hash(tax)[:12]}
        else:
            meta |= {"mode": "trained", "classifier": CLASSIFIER_VERSION, **scores, "zero_shot_macro_f1": zs_f1}
    meta["thresholds"] = dict(zip(tax.codes, map(float, clf.thresholds_)))
    meta["previous"] = {k: previous[k] for k in ("model_version", "mode", "n_train", "n_examples", "oof_micro_f1",
                                                  "oof_macro_f1", "trained_at") if k in previous}
    d = model_dir(ws, tax)
    d.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    joblib.dump(clf, buf)
    atomic_write_bytes(d / "classifier.joblib", buf.getvalue())
    if sentiment is not None:
        buf = io.BytesIO()
        joblib.dump(sentiment, buf)
        atomic_write_bytes(d / "sentiment.joblib", buf.getvalue())
    else:
        (d / "sentiment.joblib").unlink(missing_ok=True)
    atomic_write_text(d / "meta.json", json.dumps(meta, indent=2))
    return {"trained": True, **meta, "min_labelled": MIN_LABELLED_ANSWERS, "min_per_category": MIN_PER_CATEGORY}


@flow(name="engage-train")
def train_flow(home: str, taxonomy: str | None = None, labels: list[str] | None = None, force: bool = False,
               examples: list[str] | None = None) -> dict:
    """Add labelled files and written examples (if given) to the working area, then (re)train when
    anything changed."""
    ws = workspace(home).ensure()
    tax = resolve_taxonomy(taxonomy, ws.home)
    for p in labels or []:
        add_labels(ws, tax, Path(p))
    for p in examples or []:
        add_labels(ws, tax, Path(p), examples=True)
    result = fit_classifier(str(ws.home), taxonomy, force)
    state = "trained" if result["trained"] else "up to date"
    if result.get("mode") == "zero-shot":
        get_run_logger().info("classifier for %s: %s, zero-shot from the category descriptions (%d labelled answers; "
                              "a trained model takes over from %d)", tax.id, state, result["n_train"], MIN_LABELLED_ANSWERS)
    else:
        f1 = result["oof_macro_f1"]
        get_run_logger().info("classifier for %s: %s (out-of-fold macro F1 on the labelled answers %s)", tax.id, state,
                              "not yet measured" if f1 is None else f"{f1:.3f}")
    return result
