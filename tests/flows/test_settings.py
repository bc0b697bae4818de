"""How this process talks to Prefect: a temporary server booted while the pipeline imports, or the
configured one as it is."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import json, sys
from prefect import flow
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import get_current_settings
from flows.settings import local_prefect

@flow
def heartbeat():
    return get_current_settings().flows.heartbeat_frequency

with local_prefect("flows.report"):
    booted = SubprocessASGIServer().running
    inside = {"imported": "flows.report" in sys.modules, "booted": booted, "heartbeat": heartbeat()}
print(json.dumps({**inside, "after": get_current_settings().flows.heartbeat_frequency}))
"""


def test_without_a_server_one_boots_while_the_pipeline_imports_and_flows_skip_heartbeats(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_HOME=str(tmp_path / ".prefect"), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90")
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # Nobody reads heartbeats on a server that ends with the process; outside the block they are back.
    assert seen == {"imported": True, "booted": True, "heartbeat": None, "after": 180}


def test_a_configured_server_is_used_as_it_is_heartbeats_included(prefect_harness):
    from prefect import flow
    from prefect.settings import get_current_settings

    from flows.settings import local_prefect

    @flow
    def heartbeat() -> int | None:
        return get_current_settings().flows.heartbeat_frequency

    with local_prefect("flows.report"):
        assert "flows.report" in sys.modules
        assert heartbeat() == 180
