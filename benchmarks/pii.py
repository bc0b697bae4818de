"""Span-level quality of the personal-data redactor on the annotated PII sentence set.

Usage: .venv/bin/python benchmarks/pii.py [--data FILE] [--json OUT] [--show-errors]

A predicted span is a hit when it overlaps a gold span of the same type (precision), and a gold
span is found when a predicted span of its type overlaps it (recall): where exactly a name or an
address starts matters less than whether it is masked. Also reported: sentences without personal
data that were changed, and safe terms (places, hospitals) outside gold spans that got masked,
since masking "Whitehaven" or "Ruth Lancaster hospital" would ruin the analysis downstream.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.redact import PII_TYPES, PiiSpan, default_redactor  # noqa: E402

DEFAULT_DATA = ROOT / "tests/fixtures/pii/pii_sentences.jsonl"


def load(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for n, r in enumerate(rows, 1):
        for s in r["spans"]:
            if s["type"] not in PII_TYPES or not 0 <= s["start"] < s["end"] <= len(r["text"]):
                raise ValueError(f"{path}:{n}: bad gold span {s}")
    return rows


def _overlaps(a: PiiSpan, b: PiiSpan) -> bool:
    return a.type == b.type and a.start < b.end and b.start < a.end


def _prf(tp_p: int, n_pred: int, tp_g: int, n_gold: int) -> dict:
    p = tp_p / n_pred if n_pred else 1.0
    r = tp_g / n_gold if n_gold else 1.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "predicted": n_pred, "gold": n_gold}


def evaluate(rows: list[dict]) -> dict:
    """Per-type and overall span precision/recall/F1, plus the error lists behind them."""
    redactor = default_redactor()
    safe_cfg = yaml.safe_load((ROOT / "config/redaction.yaml").read_text(encoding="utf-8"))["safe_terms"]
    safe = sorted({t for terms in safe_cfg.values() for t in terms}, key=len, reverse=True)
    safe_re = re.compile(r"(?i)(?<!\w)(?:" + "|".join(map(re.escape, safe)) + r")(?!\w)")
    counts = {t: [0, 0, 0, 0] for t in PII_TYPES}  # predicted hits, predicted, gold found, gold
    false_pos, missed, changed_clean, safe_hits = [], [], [], []
    for r in rows:
        text = r["text"]
        gold = [PiiSpan(s["start"], s["end"], s["type"]) for s in r["spans"]]
        pred = redactor.find(text)
        for p in pred:
            c = counts[p.type]
            c[1] += 1
            if any(_overlaps(p, g) for g in gold):
                c[0] += 1
            else:
                false_pos.append({"text": text, "span": text[p.start:p.end], "type": p.type})
        for g in gold:
            c = counts[g.type]
            c[3] += 1
            if any(_overlaps(p, g) for p in pred):
                c[2] += 1
            else:
                missed.append({"text": text, "span": text[g.start:g.end], "type": g.type})
        if not gold and pred:
            changed_clean.append(text)
        for m in safe_re.finditer(text):
            inside_gold = any(g.start <= m.start() and m.end() <= g.end for g in gold)
            if not inside_gold and any(p.start < m.end() and m.start() < p.end for p in pred):
                safe_hits.append({"text": text, "term": m.group()})
    by_type = {t: _prf(*c) for t, c in counts.items()}
    overall = _prf(*(sum(c[i] for c in counts.values()) for i in range(4)))
    return {"sentences": len(rows), "sentences_without_pii": sum(not r["spans"] for r in rows),
            "by_type": by_type, "overall": overall, "clean_sentences_changed": changed_clean,
            "safe_terms_redacted": safe_hits, "false_positives": false_pos, "missed": missed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="annotated JSONL (text + spans)")
    ap.add_argument("--json", type=Path, help="also write the full result, with error lists, here")
    ap.add_argument("--show-errors", action="store_true", help="print every false positive and miss")
    args = ap.parse_args(argv)

    res = evaluate(load(args.data))
    print(f"PII redaction on {args.data.name}: {res['sentences']} sentences "
          f"({res['sentences_without_pii']} without personal data)\n")
    print(f"{'type':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'pred':>5} {'gold':>5}")
    for name, m in [*res["by_type"].items(), ("overall", res["overall"])]:
        if name == "overall":
            print("-" * 48)
        print(f"{name:<12} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
              f"{m['predicted']:>5} {m['gold']:>5}")
    print(f"\nsentences without PII that were changed: {len(res['clean_sentences_changed'])}")
    print(f"safe terms (places, hospitals, jargon) redacted outside gold spans: {len(res['safe_terms_redacted'])}")
    if args.show_errors or res["false_positives"] or res["missed"]:
        for kind in ("false_positives", "missed"):
            for e in res[kind]:
                label = "false positive" if kind == "false_positives" else "missed"
                print(f"  {label}: {e['type']} {e['span']!r} in {e['text']!r}")
        for e in res["safe_terms_redacted"]:
            print(f"  safe term redacted: {e['term']!r} in {e['text']!r}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
