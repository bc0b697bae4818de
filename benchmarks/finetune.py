"""Does fine-tuning the sentence encoder on the labelled answers (on the CPU) beat the frozen
encoder the pipeline uses? Measured on engagement-2019 with the folds of evaluate.py.

Usage:
  .venv/bin/python benchmarks/finetune.py [--method pairs|head] [--folds-run 1] [--json OUT]

--method pairs (SetFit-style), for each fold run (the first --folds-run of the 5 grouped folds):
  1. pairs of the fold's training answers: per answer and round (--rounds, default 4), one answer
     sharing a label with it (target: the Jaccard overlap of their label sets) and one sharing none
     (target 0);
  2. one epoch of cosine-similarity loss over those pairs, AdamW at 2e-5 with a 10% warm-up and
     linear decay, batch 16, on a fresh copy of all-MiniLM-L6-v2;
  3. the default classifier trained on the fold with the tuned encoder's vectors, and with the
     frozen encoder's, both scored on the held-out fold (micro and macro F1 over the aims/enablers).
  One fold with 4 rounds takes about 10 minutes on 2 cores, most of it in step 2.

--method head (end-to-end), for each fold run:
  1. a fresh copy of all-MiniLM-L6-v2 with one linear layer on its mean-pooled vector, trained as a
     multi-label classifier (binary cross-entropy, positive classes weighted by the square root of
     their rarity) for --epochs epochs (default 15) over the fold's training answers, each prefixed
     with its source and question; AdamW, encoder at --lr (default 8e-5), layer at 1e-3, 10% warm-up
     and linear decay, batch 16, texts cut at 128 tokens;
  2. the held-out answers scored by: the default classifier on the frozen encoder (as shipped, with
     segments and context); the tuned model alone (probability >= 0.5); and the two models'
     probabilities averaged, also cut at 0.5. The rules are fixed in advance: nothing is tuned on the
     held-out fold.
  One fold of 15 epochs takes about 5 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from evaluate import ROOT, SHARED, answer_segments, cached_embeddings, respondent_groups, scores  # noqa: E402

from flows.settings import resolve_taxonomy  # noqa: E402
from nlp.classify import TaxonomyClassifier, apply_thresholds, labels_to_matrix  # noqa: E402
from nlp.embed import model_dir  # noqa: E402


def training_pairs(Y: np.ndarray, idx: np.ndarray, rounds: int, rng: random.Random) -> list[tuple[int, int, float]]:
    """(answer, answer, target similarity) pairs among the rows `idx` of the label matrix Y."""
    labels = {int(i): frozenset(np.flatnonzero(Y[i])) for i in idx}
    pairs = []
    for _ in range(rounds):
        for a in idx:
            a = int(a)
            same = [int(b) for b in idx if b != a and labels[b] & labels[a]]
            other = [int(b) for b in idx if not labels[b] & labels[a]]
            if same:
                b = rng.choice(same)
                pairs.append((a, b, len(labels[a] & labels[b]) / len(labels[a] | labels[b])))
            if other:
                pairs.append((a, rng.choice(other), 0.0))
    rng.shuffle(pairs)
    return pairs


def fine_tune(texts: list[str], pairs: list[tuple[int, int, float]], seed: int, batch: int = 16):
    """A fresh copy of the encoder, tuned for one epoch over the pairs."""
    import torch

    torch.manual_seed(seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir()), device="cpu")  # trainable; the pipeline's encoder is not
    steps = (len(pairs) + batch - 1) // batch
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, 0.1 * steps)) * max(0.0, (steps - s) / steps))
    model.train()
    for lo in range(0, len(pairs), batch):
        part = pairs[lo:lo + batch]
        left = model(model.preprocess([texts[a] for a, _, _ in part]))["sentence_embedding"]
        right = model(model.preprocess([texts[b] for _, b, _ in part]))["sentence_embedding"]
        target = torch.tensor([t for _, _, t in part], dtype=torch.float32)
        loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(left, right), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model


def train_head(inputs: list[str], Y: np.ndarray, train: np.ndarray, epochs: int, lr: float, seed: int):
    """A fresh copy of the encoder and a linear layer, trained end to end as a multi-label classifier."""
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir()), device="cpu")
    model.max_seq_length = 128
    head = torch.nn.Linear(model.get_embedding_dimension(), Y.shape[1])
    target = torch.tensor(Y, dtype=torch.float32)
    positives = target[train].sum(0)
    weight = ((len(train) - positives) / positives.clamp(min=1)).clamp(max=10) ** 0.5
    batch = 16
    steps = epochs * ((len(train) + batch - 1) // batch)
    opt = torch.optim.AdamW([{"params": model.parameters(), "lr": lr}, {"params": head.parameters(), "lr": 1e-3}],
                            weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1, 0.1 * steps)) * max(0.0, (steps - s) / steps))
    loss_of = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(train)
        for lo in range(0, len(order), batch):
            idx = order[lo:lo + batch]
            vecs = model(model.preprocess([inputs[i] for i in idx]))["sentence_embedding"]
            loss = loss_of(head(vecs), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()

    def predict(idx: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            vecs = model.encode([inputs[i] for i in idx], batch_size=64, convert_to_tensor=True)
            return torch.sigmoid(head(vecs)).numpy()
    return predict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=ROOT / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv")
    ap.add_argument("--id-map", type=Path, default=SHARED / "engagement-2019/public_id_map.csv")
    ap.add_argument("--method", choices=["pairs", "head"], default="pairs",
                    help="pairs: SetFit-style tuning of the vectors; head: end-to-end classifier (see above)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--folds-run", type=int, default=1, help="how many of the folds to run (5-10 min each)")
    ap.add_argument("--rounds", type=int, default=4, help="pairs: pairs per training answer, 2 per round")
    ap.add_argument("--epochs", type=int, default=15, help="head: passes over the training answers")
    ap.add_argument("--lr", type=float, default=8e-5, help="head: the encoder's learning rate")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    tax = resolve_taxonomy("north-cumbria-2019-2024", ROOT)
    df = pd.read_csv(args.labels, dtype=str, keep_default_na=False)
    texts = df["text"].tolist()
    Y = labels_to_matrix([l.split(";") for l in df["labels"]], tax.codes)
    groups = respondent_groups(df, args.id_map)
    context = [{"question": q, "source": s} for q, s in zip(df["question"], df["source"])]
    frozen = cached_embeddings(texts)
    segments = answer_segments(texts) if args.method == "head" else None
    aims = [j for j, c in enumerate(tax.codes) if c != tax.other_code]
    names = ["frozen", "fine-tuned"] + (["average"] if args.method == "head" else [])
    P = {name: np.zeros_like(Y) for name in names}
    held, folds = [], []
    for k, (train, test) in enumerate(GroupKFold(n_splits=args.folds).split(texts, groups=groups)):
        if k >= args.folds_run:
            break
        t = time.perf_counter()
        if args.method == "pairs":
            pairs = training_pairs(Y, train, args.rounds, random.Random(k))
            tuned = fine_tune(texts, pairs, seed=k).encode(texts, batch_size=64, normalize_embeddings=True)
            seconds = time.perf_counter() - t
            for name, emb in (("frozen", frozen), ("fine-tuned", np.asarray(tuned, dtype=np.float32))):
                clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(
                    [texts[i] for i in train], Y[train], embeddings=emb[train], groups=groups[train],
                    context=[context[i] for i in train])
                P[name][test] = clf.predict([texts[i] for i in test], embeddings=emb[test],
                                            context=[context[i] for i in test])
            fold = {"fold": k, "pairs": len(pairs), "fine_tune_seconds": seconds}
        else:
            inputs = [f"{c['source']}: {c['question']} {t}" for t, c in zip(texts, context)]
            tuned = train_head(inputs, Y, train, args.epochs, args.lr, seed=k)(test)
            seconds = time.perf_counter() - t
            clf = TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(
                [texts[i] for i in train], Y[train], embeddings=frozen[train], groups=groups[train],
                context=[context[i] for i in train], segments=segments.of(train))
            shipped = clf.predict_proba([texts[i] for i in test], embeddings=frozen[test],
                                        context=[context[i] for i in test], segments=segments.of(test))
            P["frozen"][test] = clf.decide(shipped)
            half = np.full(len(tax.codes), 0.5)
            P["fine-tuned"][test] = apply_thresholds(tuned, half, tax.codes, tax.other_code)
            P["average"][test] = apply_thresholds((tuned + shipped) / 2, half, tax.codes, tax.other_code)
            fold = {"fold": k, "epochs": args.epochs, "fine_tune_seconds": seconds}
        held += list(test)
        for name in P:
            s = scores(Y[held][:, aims], P[name][held][:, aims], [tax.codes[j] for j in aims])
            fold[name] = {"micro_f1": s["micro_f1"], "macro_f1": s["macro_f1"]}
        folds.append(fold)
        print(f"folds 0..{k} ({len(held)} answers held out; tuning took {seconds:.0f}s): "
              + "; ".join(f"{name} micro {fold[name]['micro_f1']:.3f} macro {fold[name]['macro_f1']:.3f}"
                          for name in P), flush=True)
    if folds:
        aim_codes = [tax.codes[j] for j in aims]
        per = {n: scores(Y[held][:, aims], P[n][held][:, aims], aim_codes)["per_label"] for n in names}
        print(f"per label F1 ({' / '.join(names)}): "
              + ", ".join(f"{c} " + "/".join(f"{per[n][c]['f1']:.3f}" for n in names) for c in aim_codes))
    if args.json:
        args.json.write_text(json.dumps({"dataset": "engagement-2019", "method": args.method, "folds": folds},
                                        indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
