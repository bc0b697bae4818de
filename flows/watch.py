"""The inbox watcher that `engage serve` runs beside the nightly schedule: a file dropped into
data/raw/inbox/ starts a run of the served nightly deployment (which moves it into the store)."""
from __future__ import annotations

import logging
import threading

from watchfiles import Change, watch

from flows.settings import Workspace

log = logging.getLogger("engage.watch")


def watch_inbox(ws: Workspace, deployment: str, stop: threading.Event, quiet_ms: int = 3000) -> None:
    """Trigger `deployment` once per burst of new files (after `quiet_ms` without changes, so a
    file still being copied is not read half-written)."""
    from prefect.deployments import run_deployment

    ws.inbox.mkdir(parents=True, exist_ok=True)
    for changes in watch(ws.inbox, stop_event=stop, debounce=quiet_ms, recursive=True):
        if any(kind in (Change.added, Change.modified) for kind, _ in changes):
            try:
                run_deployment(name=deployment, timeout=0)
            except Exception as e:  # the server may still be starting; the next drop or cron run catches up
                log.warning("could not start a run for new inbox files: %s", e)
