"""`engage serve`: a real local Prefect server on loopback, state in the working area, the nightly
flow deployed on a cron schedule with runs scheduled by the server's scheduler."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.conftest import REPO, make_home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> list | dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_serve_starts_a_local_server_and_schedules_the_nightly_flow(tmp_path):
    home = make_home(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_HOME")}
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "--home", str(home), "serve", "--port", str(port),
                             "--cron", "30 3 * * *"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        deployment = runs = None
        while time.monotonic() < deadline and not runs:
            time.sleep(3)
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                deps = post(f"{api}/deployments/filter", {})
            except OSError:
                continue
            deployment = next((d for d in deps if d["name"] == "nightly"), None)
            if deployment:
                runs = post(f"{api}/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}})
        assert deployment, "the nightly deployment was never created"
        crons = [s["schedule"].get("cron") for s in deployment["schedules"]]
        assert crons == ["30 3 * * *"]
        assert deployment["parameters"]["home"] == str(home.resolve())
        assert runs, "the scheduler created no scheduled runs"
        assert (home / ".prefect" / "prefect.db").exists()  # server state lives in the working area
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    with socket.socket() as s:  # the server went away with it
        assert s.connect_ex(("127.0.0.1", port)) != 0
