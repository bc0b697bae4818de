"""Throughput and peak memory of the nightly run at scale, and the sentence encoder's own ceiling.

Usage:
  .venv/bin/python benchmarks/throughput.py [--n 1000 10000 100000] [--repeats K] [--json FILE] [--seed S] [--keep DIR]
  .venv/bin/python benchmarks/throughput.py --sample     # the bundled 2019 sample: core and full runs

For each N, `benchmarks/generate.py` writes a fresh working area of N synthetic answers, then:
  cold         `engage run` from nothing: ingest, redact, segment, train, classify, themes, reports
  incremental  a new export of N/100 answers dropped into the inbox, and `engage run` again; done
               --repeats times (default 3), each on a copy of the working area as the cold run left
               it, and the median reported (a ~25 s run moves by seconds with the machine; for an
               even K, the lower of the middle two)
Each run is `engage run` in its own process (as a nightly job is), timed from before its imports, so
times include the pipeline's imports, the temporary Prefect server's start-up and the model loads,
and peak RSS is that run's own; per-stage figures come from the stage timings the flows record
(flows/timing.py) and RSS sampled every 50 ms.
  encoder      the pipeline's encoder (nlp.embed), batch 64, on a sample of the texts the cold run embedded:
               the most the embed stage could do on this machine (sentences/second)
  embed stage  the pipeline's own sentences/second: texts newly encoded / time in its encode stage
The table is printed and written to reports/benchmarks/throughput.md and .json; --json FILE also
writes {"runs": {N: {cold_seconds, incremental_seconds, peak_rss_mb, answers_per_second, ...}},
"encoder_sentences_per_second", "embed_stage_sentences_per_second"}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

ENCODER_SAMPLE = 4000   # texts timed for the bare encoder's ceiling
ENCODER_BATCH = 64


class RssSampler:
    """This process's resident memory, sampled in the background (Linux /proc), in MB."""

    def __init__(self, every: float = 0.05):
        self.every = every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self.rss_mb()))
            time.sleep(self.every)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float = float("-inf"), end: float = float("inf")) -> float:
        inside = [mb for t, mb in self.samples if start <= t <= end]
        return max(inside) if inside else 0.0


def child_nightly(home: str) -> dict:
    """Run `engage run` here and return its time, answers, per-stage seconds and peak RSS. The time
    starts before the pipeline's imports, as the officer's wait does."""
    with RssSampler() as rss:
        t0 = time.perf_counter()
        from flows.cli import main

        status = main(["--home", home, "run"])
        seconds = time.perf_counter() - t0
    if status:
        raise RuntimeError(f"engage run exited {status}")
    from flows.settings import workspace
    from flows.store import connect
    from flows.timing import history

    ws = workspace(home)
    records = history()
    first = min((r["start"] for r in records), default=t0)
    stages = {"start-up (imports, Prefect)": {"seconds": first - t0, "items": 0, "calls": 1, "depth": 0,
                                              "peak_rss_mb": rss.peak(t0, first)}}
    for r in records:
        depth = sum(o is not r and o["start"] <= r["start"] and r["end"] <= o["end"] for o in records)
        s = stages.setdefault(r["stage"], {"seconds": 0.0, "items": 0, "calls": 0, "depth": depth, "peak_rss_mb": 0.0})
        s["seconds"] += r["seconds"]
        s["items"] += r["items"] or 0
        s["calls"] += 1
        s["peak_rss_mb"] = max(s["peak_rss_mb"], rss.peak(r["start"], r["end"]))
    with connect(ws.db_path, read_only=True) as con:
        read = con.execute("SELECT count(*) FROM answers").fetchone()[0]
        counted = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
        segments = con.execute("SELECT count(*) FROM segments").fetchone()[0]
    return {"seconds": seconds, "answers_read": read, "answers_counted": counted, "segments": segments,
            "skipped": "analyse" not in stages, "peak_rss_mb": rss.peak(), "stages": stages}


def child_encoder(home: str) -> dict:
    """The bare encoder on a sample of the texts the cold run embedded: distinct answer and segment
    texts (a one-sentence answer is its own segment and is encoded once, so it is sampled once)."""
    from flows.settings import configure_environment, workspace

    ws = workspace(home)
    configure_environment(ws)
    from flows.store import connect
    from nlp.embed import load_encoder

    with connect(ws.db_path, read_only=True) as con:
        texts = [t for (t,) in con.execute(
            "SELECT text FROM (SELECT text FROM answers WHERE duplicate_of IS NULL UNION SELECT text FROM segments) "
            f"USING SAMPLE reservoir({ENCODER_SAMPLE} ROWS) REPEATABLE (7)").fetchall()]
    model = load_encoder()
    model.encode(texts[:ENCODER_BATCH], batch_size=ENCODER_BATCH)  # warm-up
    t0 = time.perf_counter()
    model.encode(texts, batch_size=ENCODER_BATCH)
    seconds = time.perf_counter() - t0
    return {"sentences": len(texts), "seconds": seconds, "sentences_per_second": len(texts) / seconds}


def run_child(mode: str, home: Path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(home / ".prefect"), "PREFECT_LOGGING_LEVEL": "ERROR"}
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(home)], env=env,
                         capture_output=True, text=True)
    if out.returncode:
        sys.stderr.write(out.stderr[-4000:])
        raise RuntimeError(f"the {mode} run in {home} failed (exit {out.returncode})")
    return json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])


def incremental_runs(home: Path, n: int, seed: int, repeats: int) -> list[dict]:
    """The same +1% night `repeats` times, each on its own copy of the working area as the cold run
    left it. One run of ~25 s moves by several seconds with the machine (Prefect's start-up alone
    has taken 8 to 13 s), so the table takes the median and lists them all."""
    from generate import add_export

    after_cold = home.with_name(home.name + ".after-cold")
    if repeats > 1:  # one run needs no copy to start the next from
        shutil.copytree(home, after_cold)
    runs = []
    try:
        for k in range(repeats):
            if k:
                shutil.rmtree(home)
                shutil.copytree(after_cold, home)
            add_export(max(1, n // 100), home, seed)
            runs.append(run_child("nightly", home))
    finally:
        shutil.rmtree(after_cold, ignore_errors=True)
    return runs


def measure(n: int, root: Path, seed: int, repeats: int = 3) -> dict:
    """Cold run, incremental runs after +1% (the median of `repeats`), and the bare encoder, on a
    fresh working area of n answers."""
    from generate import generate

    home = root / f"n{n}"
    generate(n, home, seed)
    cold = run_child("nightly", home)
    runs = incremental_runs(home, n, seed, repeats)
    incremental = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    encoder = run_child("encoder", home)
    enc = cold["stages"].get("encode", {"seconds": 0.0, "items": 0})
    return {
        "cold_seconds": round(cold["seconds"], 1),
        "incremental_seconds": round(incremental["seconds"], 1),
        "incremental_runs_seconds": [round(r["seconds"], 1) for r in runs],
        "peak_rss_mb": round(max([cold["peak_rss_mb"]] + [r["peak_rss_mb"] for r in runs])),
        "answers_per_second": round(cold["answers_read"] / cold["seconds"], 1),
        "answers_read": cold["answers_read"], "answers_counted": cold["answers_counted"],
        "segments": cold["segments"], "added_answers": incremental["answers_read"] - cold["answers_read"],
        "incremental_share_of_cold": round(incremental["seconds"] / cold["seconds"], 3),
        "encoder_sentences_per_second": round(encoder["sentences_per_second"], 1),
        "embed_stage_sentences_per_second": round(enc["items"] / enc["seconds"], 1) if enc["seconds"] else None,
        "cold": cold, "incremental": incremental, "encoder": encoder,
    }


def stage_table(label: str, run: dict) -> list[str]:
    lines = [f"{label}: {run['seconds']:.1f} s, peak RSS {run['peak_rss_mb']:.0f} MB",
             f"  {'stage (nested stages indented)':<32}{'seconds':>9}{'share':>7}{'items':>9}{'items/s':>10}"
             f"{'peak RSS MB':>13}"]
    for name, s in run["stages"].items():
        rate = f"{s['items'] / s['seconds']:.0f}" if s["items"] and s["seconds"] else ""
        name = "  " * s["depth"] + name
        lines.append(f"  {name:<32}{s['seconds']:>9.1f}{s['seconds'] / run['seconds']:>7.0%}{s['items'] or '':>9}"
                     f"{rate:>10}{s['peak_rss_mb']:>13.0f}")
    return lines


def median_of(seconds: list[float]) -> str:
    return f"; the median of {', '.join(f'{x} s' for x in seconds)}" if len(seconds) > 1 else ""


def render(results: dict) -> str:
    runs = results["runs"]
    lines = [f"# Throughput ({results['machine']}, {results['when']})", "",
             f"Command: `{results['command']}`", "",
             "| N (answers read) | counted | segments | cold s | answers/s | incremental (+1%) s | incr./cold "
             "| peak RSS MB | encoder sent./s | embed stage sent./s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, r in runs.items():
        lines.append(f"| {n} | {r['answers_counted']} | {r['segments']} | {r['cold_seconds']} | {r['answers_per_second']} "
                     f"| {r['incremental_seconds']} | {r['incremental_share_of_cold']:.0%} | {r['peak_rss_mb']} "
                     f"| {r['encoder_sentences_per_second']} | {r['embed_stage_sentences_per_second']} |")
    lines += [f"| {n} | failed: {why} |" for n, why in results.get("failed", {}).items()]
    for n, r in runs.items():
        lines += ["", "```"] + stage_table(f"N={n} cold", r["cold"]) + [""] \
            + stage_table(f"N={n} incremental (+{r['added_answers']} answers{median_of(r['incremental_runs_seconds'])})",
                          r["incremental"]) + ["```"]
    return "\n".join(lines) + "\n"


def sample_runs() -> dict:
    """The bundled 2019 sample, as before: ingest..classify with a trained model (core), and a full run."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("core", "full"):
            home = Path(tmp) / name
            shutil.copytree(ROOT / "data/raw", home / "data/raw", ignore=shutil.ignore_patterns("inbox", "quarantine"))
            shutil.copytree(ROOT / "config", home / "config")
            if name == "core":
                run_child("train", home)
            results[name] = run_child(name, home)
    print(f"\n{'stage group':<44}{'answers':>8}{'seconds':>9}{'answers/s':>11}{'peak RSS MB':>13}")
    names = {"core": "ingest + redact + preprocess + classify", "full": "full nightly run (incl. training, themes)"}
    for k, r in results.items():
        print(f"{names[k]:<44}{r['answers_counted']:>8}{r['seconds']:>9.1f}"
              f"{r['answers_counted'] / r['seconds']:>11.1f}{r['peak_rss_mb']:>13.0f}")
    return results


def child_sample(mode: str, home: str) -> dict:
    """`train`, `core` (ingest + classify) or `full` (the nightly flow) on a copy of the sample."""
    if mode == "full":
        return child_nightly(home)
    from flows.settings import configure_environment, workspace

    ws = workspace(home)
    configure_environment(ws)
    from prefect import flow

    from flows.analyse import classify_answers
    from flows.ingest import ingest_flow
    from flows.store import connect
    from flows.train import train_flow

    if mode == "train":
        train_flow(home)
        return {}

    @flow(name="benchmark-core")
    def core(home: str) -> None:
        ingest_flow(home)
        classify_answers(home, None)

    with RssSampler() as rss:
        t0 = time.perf_counter()
        core(home)
        seconds = time.perf_counter() - t0
    with connect(ws.db_path, read_only=True) as con:
        counted = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
    return {"seconds": seconds, "answers_counted": counted, "peak_rss_mb": rss.peak()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000], metavar="N",
                    help="synthetic loads to measure (default: 1000 10000; 100000 takes about 20 minutes)")
    ap.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    ap.add_argument("--seed", type=int, default=0, help="seed for the synthetic load (default 0)")
    ap.add_argument("--repeats", type=int, default=3, metavar="K",
                    help="incremental nights per N, each on a copy of the cold run's working area; the table "
                         "gives the median (default 3)")
    ap.add_argument("--keep", type=Path, metavar="DIR", help="build the working areas in DIR and keep them")
    ap.add_argument("--sample", action="store_true", help="measure the bundled 2019 sample instead (core, full)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    if args.child:
        mode, home = args.child
        if mode == "nightly":
            out = child_nightly(home)
        elif mode == "encoder":
            out = child_encoder(home)
        else:
            out = child_sample(mode, home)
        print(json.dumps(out))
        return 0
    if args.sample:
        results = sample_runs()
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    root = args.keep or Path(tempfile.mkdtemp(prefix="engage-throughput-"))
    results = {"runs": {}, "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
               "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "command": "benchmarks/throughput.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    try:
        for n in args.n:
            print(f"N={n}: generating, cold run, +1% incremental run, bare encoder ...", file=sys.stderr, flush=True)
            try:
                results["runs"][str(n)] = measure(n, root, args.seed, args.repeats)
            except RuntimeError as e:  # one failed load still leaves the others' figures
                results.setdefault("failed", {})[str(n)] = str(e)
                print(f"N={n} failed: {e}", file=sys.stderr, flush=True)
                continue
            write_results(results, args.json)  # after every N, so a long series keeps what it measured
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(render(results))
    return 1 if results.get("failed") else 0


def write_results(results: dict, json_path: Path | None) -> None:
    """reports/benchmarks/throughput.md and .json (and --json FILE); the headline encoder figures
    are the largest load's."""
    largest = results["runs"][max(results["runs"], key=int)]
    results["encoder_sentences_per_second"] = largest["encoder_sentences_per_second"]
    results["embed_stage_sentences_per_second"] = largest["embed_stage_sentences_per_second"]
    out_dir = ROOT / "reports/benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "throughput.md").write_text(render(results))
    (out_dir / "throughput.json").write_text(json.dumps(results, indent=2))
    if json_path:
        json_path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
