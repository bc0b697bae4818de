"""The "they said" statements for the 2019 sample, with the evidence a reviewer needs to judge them.

Usage: .venv/bin/python benchmarks/summaries.py [--json OUT]

Prints, per category: each statement with its people count and sources, the share of the
category's segments that landed in a theme, and run-to-run stability: the themes are found twice
with different random seeds (from scratch both times, no id carry-over) and matched by centroid
(cosine >= 0.8); stability is the share of seed-0 statements with a counterpart under seed 1, and
how many of those got the identical wording.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def themes(con, tax_id: str) -> dict[str, list]:
    from nlp.stability import ThemeState

    out: dict[str, list] = {}
    rows = con.execute("SELECT code, theme_id, statement, n_people, centroid, detail FROM themes WHERE taxonomy_id = ? "
                       "ORDER BY code, rank", [tax_id]).fetchall()
    for code, tid, statement, n, centroid, detail in rows:
        d = json.loads(detail)
        out.setdefault(code, []).append((ThemeState(np.frombuffer(centroid, dtype=np.float32), frozenset(), n, tid,
                                                    statement), d))
    return out


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

        tax = resolve_taxonomy(None, ws.home)
        ingest_flow(str(home))
        train_flow(str(home))
        runs, coverage = [], {}
        for seed in (0, 1):
            with connect(ws.db_path) as con:  # from scratch: no ids carried over between the two seeds
                con.execute("DELETE FROM themes; DELETE FROM theme_members; DELETE FROM theme_changes")
            summary = analyse_flow(str(home), None, seed)["themes"]
            coverage[seed] = summary
            with connect(ws.db_path, read_only=True) as con:
                runs.append(themes(con, tax.id))

    report = {"categories": {}}
    total_stmt = total_match = total_same = 0
    for cat in tax.categories:
        if cat.is_other:
            continue
        a, b = runs[0].get(cat.code, []), runs[1].get(cat.code, [])
        matches = match_themes([s for s, _ in b], [s for s, _ in a])
        matched = [m for m in matches if m.previous_id]
        same = sum(1 for (s, _), m in zip(a, matches) if m.previous_id and
                   next(x.statement for x, _ in b if x.id == m.previous_id) == s.statement)
        cov = coverage[0][cat.code]
        themed = 1 - cov["unthemed"] / cov["segments"] if cov["segments"] else 0.0
        print(f"\n{cat.code}: {cat.title}\n  {cov['segments']} segments, {themed:.0%} in a theme ({cov['method']}); "
              f"stable across seeds: {len(matched)}/{len(a)} themes, {same} with identical wording")
        for s, d in a:
            src = ", ".join(f"{n} {k}" for k, n in sorted(d["by_source"].items(), key=lambda x: -x[1]))
            print(f"  {s.n_people:>4}  {s.statement}   [{src}]")
        total_stmt, total_match, total_same = total_stmt + len(a), total_match + len(matched), total_same + same
        report["categories"][cat.code] = {
            "segments": cov["segments"], "share_in_theme": themed, "method": cov["method"],
            "statements": [{"text": s.statement, "n": s.n_people, "by_source": d["by_source"]} for s, d in a],
            "stable_themes": len(matched), "identical_wording": same}
    report["stability"] = total_match / total_stmt if total_stmt else 0.0
    report["identical_wording"] = total_same / total_stmt if total_stmt else 0.0
    print(f"\nrun-to-run stability (seed 0 vs seed 1): {total_match}/{total_stmt} themes matched "
          f"({report['stability']:.0%}); identical wording {total_same}/{total_stmt} ({report['identical_wording']:.0%})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
