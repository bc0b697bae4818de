"""Cross-validated quality of the answer classifier on the labelled 2019 engagement set.

Usage: .venv/bin/python benchmarks/evaluate.py [--labels FILE] [--taxonomy FILE-or-ID] [--folds 5] [--json OUT]

Folds are grouped by respondent (a public respondent's two answers were written as a pair), the
encoder embeddings are computed once, and each fold re-fits the whole model, including its
threshold tuning on the fold's own training data, so the figures are honest out-of-sample ones.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import GroupKFold

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flows.settings import resolve_taxonomy  # noqa: E402
from nlp.classify import TaxonomyClassifier, labels_to_matrix  # noqa: E402
from nlp.embed import embed  # noqa: E402


def respondent_groups(df: pd.DataFrame, id_map: Path | None) -> np.ndarray:
    """Public answers grouped by SmartSurvey respondent where the id map is available."""
    ids = df["response_id"].astype(str)
    if id_map is not None and id_map.exists():
        m = pd.read_csv(id_map, dtype=str).set_index("response_id")["smartsurvey_response_id"]
        return ids.map(lambda r: m.get(r, r)).to_numpy()
    return ids.to_numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=ROOT / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv")
    ap.add_argument("--id-map", type=Path, default=ROOT.parent / "shared/data/engagement-2019/public_id_map.csv")
    ap.add_argument("--taxonomy", default="north-cumbria-2019-2024")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    tax = resolve_taxonomy(args.taxonomy, ROOT)
    df = pd.read_csv(args.labels, dtype=str, keep_default_na=False)
    texts = df["text"].tolist()
    Y = labels_to_matrix([l.split(";") for l in df["labels"]], tax.codes)
    groups = respondent_groups(df, args.id_map)
    t0 = time.perf_counter()
    emb = embed(texts, progress=True)
    embed_s = time.perf_counter() - t0

    P = np.zeros_like(Y)
    fit_s = pred_s = 0.0
    for train, test in GroupKFold(n_splits=args.folds).split(texts, groups=groups):
        clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code)
        t = time.perf_counter()
        clf.fit([texts[i] for i in train], Y[train], embeddings=emb[train], groups=groups[train])
        fit_s += time.perf_counter() - t
        t = time.perf_counter()
        P[test] = clf.predict([texts[i] for i in test], embeddings=emb[test])
        pred_s += time.perf_counter() - t

    p, r, f, s = precision_recall_fscore_support(Y, P, zero_division=0)
    has = s > 0
    micro = f1_score(Y[:, has], P[:, has], average="micro", zero_division=0)
    macro = float(np.mean(f[has]))
    print(f"\n{tax.id}: {len(texts)} labelled answers, {args.folds}-fold CV grouped by respondent")
    print(f"{'label':<8}{'support':>8}{'precision':>11}{'recall':>8}{'F1':>7}")
    for code, pi, ri, fi, si in zip(tax.codes, p, r, f, s):
        print(f"{code:<8}{si:>8}{pi:>11.3f}{ri:>8.3f}{fi:>7.3f}")
    print(f"{'micro F1':<27}{micro:>7.3f}\n{'macro F1':<27}{macro:>7.3f}")
    print(f"embedding {embed_s:.1f}s, fit {fit_s / args.folds:.1f}s per fold, predict {pred_s:.2f}s total")
    if args.json:
        args.json.write_text(json.dumps({
            "dataset": "engagement-2019", "micro_f1": micro, "macro_f1": macro,
            "per_label": {c: {"precision": float(pi), "recall": float(ri), "f1": float(fi), "support": int(si)}
                          for c, pi, ri, fi, si in zip(tax.codes, p, r, f, s)},
            "fit_seconds": fit_s / args.folds, "predict_seconds": pred_s, "embed_seconds": embed_s,
        }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
