"""Serving the nightly flow on its schedule, stopped the same way by Ctrl-C and by a service manager.

`Flow.serve` in Prefect 3.8 answers SIGTERM (how systemd, Docker or `kill` stop a service) by
calling the runner's coroutine `stop()` without awaiting it: the process exits with "coroutine
'Runner.astop' was never awaited" and the deployment's schedule is left running with nobody to run
it. Here SIGTERM is turned into the Ctrl-C that Prefect handles properly: the runner's main task is
cancelled, it pauses its schedule on the server, and the caller's clean-up runs.
"""
from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

from prefect import Flow
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.runner import Runner
from prefect.settings import PREFECT_UI_URL


class _Runner(Runner):
    def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
        """SIGTERM as Ctrl-C. asyncio handles SIGINT by cancelling the main task (a clean shut-down)
        when SIGINT has Python's default handler; where it was ignored (a process started in the
        background), the interrupt is raised here instead."""
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)
        else:
            raise KeyboardInterrupt


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(flow: Flow, name: str, cron: str, parameters: dict[str, Any], limit: int = 1) -> None:
    """Deploy `flow` on `cron` and run its scheduled (and triggered) runs, at most `limit` at a
    time, until Ctrl-C or SIGTERM; the schedule is paused on the way out."""
    # Until the runner installs its own handler, a SIGTERM must still stop serve cleanly: the
    # deployment is active as soon as `add_flow` returns, before `runner.start()` is under way.
    signal.signal(signal.SIGTERM, _interrupt)
    runner = _Runner(name=name, pause_on_shutdown=True, limit=limit)
    deployment_id = None
    try:
        deployment_id = runner.add_flow(flow, name=name, cron=cron, parameters=parameters)
        ui = PREFECT_UI_URL.value()
        print(f"deployed as '{flow.name}/{name}'"
              + (f"; its runs: {ui}/deployments/deployment/{deployment_id}" if ui else ""))
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    finally:
        # The runner pauses its schedule as it shuts down, but not when the stop comes while it is
        # still starting (a loaded machine, a service manager stopping a slow start): pause it here too.
        # A SIGTERM can also come while `add_flow` is still returning, the deployment already made.
        try:
            with get_client(sync_client=True) as client:
                if deployment_id is None:
                    deployment_id = client.read_deployment_by_name(f"{flow.name}/{name}").id
                client.pause_deployment(deployment_id)
        except ObjectNotFound:
            pass  # stopped before anything was deployed: nothing to pause
        except Exception as e:  # noqa: BLE001 - the server may already be gone; say so and go on stopping
            print(f"could not pause the nightly schedule on the way out ({e.__class__.__name__}): it may still "
                  "show as active in the Prefect UI", file=sys.stderr)
