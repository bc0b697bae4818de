"""`engage serve`: a real local Prefect server on loopback, state in the working area, the nightly
flow deployed on a cron schedule with runs scheduled by the server's scheduler."""
from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import shutil
import urllib.request
from pathlib import Path

import duckdb
import pandas as pd

from tests.conftest import REPO, make_home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> list | dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


LABELLED = REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv"


def exports(tmp_path) -> dict[str, Path]:
    """Three small exports cut from the labelled sample: staff, public, Healthwatch."""
    lab = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    out = {}
    for source, n in (("staff", 40), ("public", 120), ("healthwatch", 30)):
        out[source] = tmp_path / f"{source}-export.csv"
        lab[lab["source"] == source].head(n)[["response_id", "question", "text"]].to_csv(out[source], index=False)
    return out


def cli(home: Path, *args: str) -> subprocess.Popen:
    """`engage ...` from another terminal (no Prefect settings of its own)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "--home", str(home), *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(what: str, check, proc: subprocess.Popen, seconds: float = 300):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.log.read_text(errors="replace")
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_schedules_runs_on_inbox_drops_while_other_terminals_read_and_ingest(tmp_path):
    """One real server for the whole story: the deployment and its cron, a file dropped in the inbox
    starting a run, and `export`, `quotes`, `report` and `ingest` from other terminals during a run."""
    home = make_home(tmp_path, with_labels=False)
    (home / "data/raw/labels/north-cumbria-2019-2024").mkdir(parents=True)
    pd.read_csv(LABELLED, dtype=str, keep_default_na=False).head(150).to_csv(
        home / "data/raw/labels/north-cumbria-2019-2024/first-labels.csv", index=False)
    files = exports(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    # Its output goes to a file: a pipe nobody reads fills up and blocks the server mid-run.
    log = tmp_path / "serve.log"
    with log.open("wb") as out:  # the child keeps its own copy of the handle
        # Ctrl-C as in a terminal: a suite started in the background (`make test &`, nohup) ignores
        # SIGINT and its children inherit that, so serve would never see the Ctrl-C this test sends.
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--home", str(home), "serve", "--port",
                                 str(port), "--cron", "30 3 * * *"], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    proc.log = log
    api = f"http://127.0.0.1:{port}/api"
    runs_in = lambda state: post(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": [state]}}}})
    inbox = home / "data/raw/inbox"
    report_json = home / "reports/north-cumbria-2019-2024/they-said.json"
    try:
        deployment = wait_for("the nightly deployment", lambda: next(
            (d for d in post(f"{api}/deployments/filter", {}) if d["name"] == "nightly"), None), proc, 180)
        assert [s["schedule"].get("cron") for s in deployment["schedules"]] == ["30 3 * * *"]
        assert deployment["parameters"]["home"] == str(home.resolve())
        assert wait_for("scheduled runs", lambda: runs_in("SCHEDULED"), proc, 60)
        assert (home / ".prefect" / "prefect.db").exists()  # server state lives in the working area

        # A file dropped in the inbox (in a folder naming its source) starts a run that reports it.
        (inbox / "staff").mkdir(parents=True)
        shutil.copy(files["staff"], inbox / "staff/staff-export.csv")
        wait_for("the first report", lambda: report_json.exists() and (home / "data/processed/engage.snapshot.duckdb").exists()
                 and not runs_in("RUNNING"), proc)
        first = json.loads(report_json.read_text())
        assert not list(inbox.rglob("*.csv"))  # moved into the store

        # A second drop; while that run works, other terminals read the last complete run and ingest.
        (inbox / "public").mkdir()
        shutil.copy(files["public"], inbox / "public/public-export.csv")
        wait_for("the second run to start", lambda: runs_in("RUNNING"), proc, 60)
        out = tmp_path / "answers.csv"
        others = {"export": cli(home, "export", "responses", "--out", str(out)),
                  "quotes": cli(home, "quotes", "-n", "3"),
                  "report": cli(home, "report", "--format", "md"),
                  "ingest": cli(home, "ingest", str(files["healthwatch"]), "--source", "healthwatch")}
        for name, p in others.items():
            stdout, stderr = p.communicate(timeout=600)
            assert p.returncode == 0, f"{name}: {stderr}"
            assert "lock" not in stderr.lower() and "Traceback" not in stderr, f"{name}: {stderr}"
        exported = pd.read_csv(out, dtype=str, keep_default_na=False)
        counted = {first["totals"]["answers"]}
        wait_for("the second run to finish", lambda: not runs_in("RUNNING") and not runs_in("PENDING"), proc)
        con = duckdb.connect(str(home / "data/processed/engage.snapshot.duckdb"), read_only=True)
        latest = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
        sources = dict(con.execute("SELECT source, count(*) FROM answers WHERE duplicate_of IS NULL GROUP BY 1").fetchall())
        con.close()
        assert len(exported) in counted | {latest}  # a complete run's answers, never a half-written one
        assert sources.get("staff") == 40 and sources.get("public") == 120
        assert sources.get("healthwatch") in (None, 30)  # counted by the run that picks it up, never twice
        completed = post(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}})
        assert {r["deployment_id"] for r in completed} >= {deployment["id"]}
        assert not post(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}})
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(120)  # the runner pauses its schedule, then the server gets up to 30 s to stop
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    with socket.socket() as s:  # the server went away with it
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert not (home / ".prefect/server.url").exists()


def test_sigterm_stops_serve_as_ctrl_c_does(tmp_path):
    """A service manager (systemd, Docker, `kill`) stops serve with SIGTERM: the schedule is paused,
    the server stopped and the exit clean. Prefect's own SIGTERM handler left the schedule running
    and printed "coroutine 'Runner.astop' was never awaited"."""
    home = make_home(tmp_path, with_labels=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--home", str(home), "serve", "--port",
                                 str(port)], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    proc.log = log
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_for("the nightly deployment", lambda: any(
            d["name"] == "nightly" and not d["paused"] for d in post(f"{api}/deployments/filter", {})), proc, 180)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(90) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text(errors="replace")
    assert "never awaited" not in text and "Traceback" not in text, text
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert not (home / ".prefect/server.url").exists()
    db = sqlite3.connect(home / ".prefect/prefect.db")
    assert db.execute("SELECT name, paused FROM deployment").fetchall() == [("nightly", 1)]
    db.close()
