"""Throughput and peak memory of the pipeline on the bundled sample (or any working area's raw data).

Usage: .venv/bin/python benchmarks/throughput.py [--json OUT]

Each measurement runs in a fresh process on a fresh copy of the working area, so peak RSS is that
stage group's own and nothing is cached from an earlier measurement:
  core: ingest + redact + preprocess + classify (classifier trained beforehand, not timed)
  full: the nightly flow from nothing: ingest, train, classify, themes, reports
Times include the temporary Prefect server's start-up (a few seconds), as a real run pays it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def prepare(dest: Path) -> Path:
    home = dest / "home"
    shutil.copytree(ROOT / "data/raw", home / "data/raw", ignore=shutil.ignore_patterns("inbox", "quarantine"))
    shutil.copytree(ROOT / "config", home / "config")
    return home


def child(stage: str, home: str) -> None:
    """Run one stage group in this process and print its figures as JSON."""
    from flows.settings import configure_environment, workspace

    ws = workspace(home)
    configure_environment(ws)
    from flows.analyse import classify_answers
    from flows.ingest import ingest_flow
    from flows.nightly import nightly_flow
    from flows.store import connect
    from flows.train import train_flow
    from prefect import flow

    if stage == "train":
        train_flow(home)
        return

    @flow(name="benchmark-core")
    def core(home: str) -> None:
        ingest_flow(home)
        classify_answers(home, None)

    t0 = time.perf_counter()
    (core if stage == "core" else nightly_flow)(home)
    seconds = time.perf_counter() - t0
    with connect(ws.db_path, read_only=True) as con:
        answers = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
        raw = con.execute("SELECT count(*) FROM answers").fetchone()[0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"stage": stage, "seconds": seconds, "answers": answers, "answers_read": raw,
                      "answers_per_second": answers / seconds, "peak_rss_mb": peak_mb}))


def run_child(stage: str, home: Path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(home / ".prefect"), "PREFECT_LOGGING_LEVEL": "ERROR"}
    out = subprocess.run([sys.executable, __file__, "--child", stage, str(home)], env=env, check=True,
                         capture_output=True, text=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = prepare(Path(tmp) / "core")
        run_child("train", home)
        results["core"] = run_child("core", home)
        results["full"] = run_child("full", prepare(Path(tmp) / "full"))
    print(f"\n{'stage group':<44}{'answers':>8}{'seconds':>9}{'answers/s':>11}{'peak RSS MB':>13}")
    names = {"core": "ingest + redact + preprocess + classify", "full": "full nightly run (incl. training, themes)"}
    for k, r in results.items():
        print(f"{names[k]:<44}{r['answers']:>8}{r['seconds']:>9.1f}{r['answers_per_second']:>11.1f}{r['peak_rss_mb']:>13.0f}")
    print(f"({results['core']['answers_read']} answers read; the rest are the same answers in a second export)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
