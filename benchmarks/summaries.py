"""The "they said" statements for the 2019 sample, with the evidence a reviewer needs to judge them.

Usage: .venv/bin/python benchmarks/summaries.py [--json OUT]

Prints, per category: each statement with its people count, its agreement (the share of those
people with a sentence at least 0.4 alike to it; MIXED under 0.15) and sources, the share of the
category's segments that landed in no theme, and run-to-run stability: the themes are found twice
with different random seeds (from scratch both times, no id carry-over) and matched by centroid
(cosine >= 0.8); stability is the share of seed-0 statements with a counterpart under seed 1, how
many of those counterparts share at least half their answers (what the nightly run needs to keep
a statement), and how many got the identical wording.

Then checks every statement of the seed-0 report the way an author would: printable (4–15 words,
no placeholder, no dangling word, not a question), not an anecdote, an ask, and no wording used
twice in the report.
"""
from __future__ import annotations

import argparse
import json
import re
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nlp.summarise import AGREE_SIMILARITY, MIXED_AGREEMENT  # noqa: E402


def themes(con, tax_id: str) -> dict[str, list]:
    from nlp.stability import ThemeState

    out: dict[str, list] = {}
    rows = con.execute("SELECT code, theme_id, statement, n_people, centroid, detail FROM themes WHERE taxonomy_id = ? "
                       "ORDER BY code, rank", [tax_id]).fetchall()
    members = dict(con.execute("SELECT theme_id, list(DISTINCT answer_id) FROM theme_members WHERE taxonomy_id = ? "
                               "GROUP BY theme_id", [tax_id]).fetchall())
    for code, tid, statement, n, centroid, detail in rows:
        d = json.loads(detail)
        out.setdefault(code, []).append((ThemeState(np.frombuffer(centroid, dtype=np.float32),
                                                    frozenset(members.get(tid, [])), n, tid, statement), d))
    return out


def author_checks(runs: dict[str, list]) -> dict:
    """How many statements an author could print as they are."""
    from nlp.summarise import normalise_statement, printable

    texts = [s.statement for lst in runs.values() for s, _ in lst]
    seen: dict[str, int] = {}
    for t in texts:
        seen[normalise_statement(t)] = seen.get(normalise_statement(t), 0) + 1
    return {"statements": len(texts),
            "not_printable": [t for t in texts if not printable(t)],
            "repeated": sorted({t for t in texts if seen[normalise_statement(t)] > 1}),
            "first_person": [t for t in texts if re.search(r"\b(?:I|my|me)\b", t)]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        shutil.copytree(ROOT / "data/raw", home / "data/raw", ignore=shutil.ignore_patterns("inbox", "quarantine"))
        shutil.copytree(ROOT / "config", home / "config")
        from flows.settings import configure_environment, resolve_taxonomy, workspace

        ws = workspace(home)
        configure_environment(ws)
        os.environ["PREFECT_LOGGING_LEVEL"] = "ERROR"
        from flows.analyse import analyse_flow
        from flows.ingest import ingest_flow
        from flows.store import connect
        from flows.train import train_flow
        from nlp.stability import match_themes
        from nlp.summarise import is_ask

        tax = resolve_taxonomy(None, ws.home)
        ingest_flow(str(home))
        train_flow(str(home))
        runs, coverage = [], {}
        for seed in (0, 1):
            with connect(ws.db_path) as con:  # from scratch: no ids carried over between the two seeds
                con.execute("DELETE FROM themes; DELETE FROM theme_members; DELETE FROM theme_changes; "
                            "DELETE FROM theme_assignments; DELETE FROM theme_fits")
            summary = analyse_flow(str(home), None, seed)["themes"]
            coverage[seed] = summary
            with connect(ws.db_path, read_only=True) as con:
                runs.append(themes(con, tax.id))

    report = {"categories": {}}
    total_stmt = total_match = total_same = total_overlap = 0
    for cat in tax.categories:
        if cat.is_other:
            continue
        a, b = runs[0].get(cat.code, []), runs[1].get(cat.code, [])
        matches = match_themes([s for s, _ in b], [s for s, _ in a])
        matched = [m for m in matches if m.previous_id]
        overlap = sum(1 for m in matched if m.keep_statement)
        same = sum(1 for (s, _), m in zip(a, matches) if m.previous_id and
                   next(x.statement for x, _ in b if x.id == m.previous_id) == s.statement)
        cov = coverage[0][cat.code]
        unthemed = cov["unthemed"] / cov["segments"] if cov["segments"] else 0.0
        print(f"\n{cat.code}: {cat.title}\n  {cov['segments']} segments, {unthemed:.0%} in no theme ({cov['method']}); "
              f"stable across seeds: {len(matched)}/{len(a)} themes matched ({overlap} sharing half their answers), "
              f"{same} with identical wording")
        for s, d in a:
            src = ", ".join(f"{n} {k}" for k, n in sorted(d["by_source"].items(), key=lambda x: -x[1]))
            mixed = " MIXED" if d.get("agreement", 1.0) < MIXED_AGREEMENT else ""
            print(f"  {s.n_people:>4}  {d.get('agreement', float('nan')):.2f}{mixed}  {s.statement}   [{src}]")
        total_stmt, total_match, total_same = total_stmt + len(a), total_match + len(matched), total_same + same
        total_overlap += overlap
        report["categories"][cat.code] = {
            "segments": cov["segments"], "share_in_theme": 1 - unthemed if cov["segments"] else 0.0,
            "share_in_no_theme": unthemed, "method": cov["method"],
            "statements": [{"text": s.statement, "n": s.n_people, "by_source": d["by_source"],
                            "agreement": d.get("agreement")} for s, d in a],
            "stable_themes": len(matched), "stable_same_answers": overlap, "identical_wording": same}
    report["stability"] = total_match / total_stmt if total_stmt else 0.0
    report["same_answers"] = total_overlap / total_stmt if total_stmt else 0.0
    report["identical_wording"] = total_same / total_stmt if total_stmt else 0.0
    print(f"\nrun-to-run stability (seed 0 vs seed 1): {total_match}/{total_stmt} themes matched "
          f"({report['stability']:.0%}), {total_overlap}/{total_stmt} sharing at least half their answers "
          f"({report['same_answers']:.0%}); identical wording {total_same}/{total_stmt} ({report['identical_wording']:.0%})")
    pairs = [(s.n_people, d["agreement"]) for lst in runs[0].values() for s, d in lst if "agreement" in d]
    people = sum(n for n, _ in pairs)
    report["agreement"] = sum(n * a for n, a in pairs) / people if people else 0.0
    report["mixed_groups"] = sum(a < MIXED_AGREEMENT for _, a in pairs)
    print(f"statement agreement (seed 0): {report['agreement']:.0%} of the people in a group wrote a sentence at least "
          f"{AGREE_SIMILARITY} alike to its statement; {report['mixed_groups']} mixed groups (under {MIXED_AGREEMENT:.0%})")
    checks = author_checks(runs[0])
    asks = sum(1 for lst in runs[0].values() for s, _ in lst if is_ask(s.statement))
    report["author_checks"] = checks | {"asks": asks}
    print(f"author checks (seed 0): {checks['statements']} statements, {asks} read as asks; "
          f"{len(checks['not_printable'])} not printable, {len(checks['repeated'])} worded the same as another, "
          f"{len(checks['first_person'])} in the first person singular")
    for key in ("not_printable", "repeated", "first_person"):
        for t in checks[key]:
            print(f"  {key}: {t}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
