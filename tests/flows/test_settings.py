"""How a command's flows reach Prefect: a temporary server booted while the pipeline imports, or the
configured one as it is."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from flows.settings import min_group_size
from tests.conftest import REPO

SCRIPT = """
import json, os, sys, urllib.request
from pathlib import Path
from flows.settings import local_prefect

with local_prefect("flows.report", Path(os.environ["PREFECT_HOME"])):
    from prefect import flow
    from prefect.settings import get_current_settings

    @flow
    def heartbeat():
        return get_current_settings().flows.heartbeat_frequency

    url = os.environ["PREFECT_API_URL"]
    with urllib.request.urlopen(url + "/health") as r:
        up = r.status == 200
    inside = {"imported": "flows.report" in sys.modules, "up": up, "heartbeat": heartbeat(), "url": url}
print(json.dumps({**inside, "after": get_current_settings().flows.heartbeat_frequency}))
"""


def test_without_a_server_one_boots_while_the_pipeline_imports_and_ends_with_the_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / ".prefect"))
    (tmp_path / ".prefect").mkdir()
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    url = seen.pop("url")
    assert url.startswith("http://127.0.0.1:")
    # Nobody reads heartbeats on a server that ends with the process; outside the block they are back.
    assert seen == {"imported": True, "up": True, "heartbeat": None, "after": 180}
    assert "Traceback" not in out.stderr
    # The server stopped with the process: nothing listens on its port any more. (Binding the port
    # is no test of that: the server's closed connections can hold it in TIME_WAIT for a minute.)
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", int(url.split(":")[2].split("/")[0]))) != 0


def test_a_configured_server_is_used_as_it_is_heartbeats_included(prefect_harness, tmp_path):
    from prefect import flow
    from prefect.settings import get_current_settings

    from flows.settings import local_prefect

    @flow
    def heartbeat() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    with local_prefect("flows.report", tmp_path):
        assert "flows.report" in sys.modules and "PREFECT_API_URL" not in os.environ
        assert heartbeat() == 180
    assert not (tmp_path / "temporary-server.log").exists()


def test_group_size_config_is_validated(tmp_path):
    assert min_group_size() == 5
    good = tmp_path / "ok.yaml"
    good.write_text("min_group_size: 10\n")
    assert min_group_size(good) == 10
    for i, bad in enumerate(["min_group_size: 0\n", "min_group_size: five\n", "min_group: 5\n",
                             "min_group_size: 5\nother: 1\n", "min_group_size: true\n"]):
        f = tmp_path / f"bad{i}.yaml"
        f.write_text(bad)
        with pytest.raises(ValueError, match="min_group_size"):
            min_group_size(f)
