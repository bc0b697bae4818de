"""Where the heavy tasks run: in this process (the default), or on a Dask cluster.

The heavy work (redaction, embedding, classification) is cut into chunks whose boundaries depend
only on the data, never on the runner, and each chunk is a Prefect task. `run_chunks` runs them one
after another in this process, or, when the flow was given a `DaskTaskRunner`, submits them to the
cluster and hands the results back in chunk order. So both runners do the same sums on the same
batches (MiniLM's output depends, in the last bits, on what else is in its batch) and store the
same results; only the database writes stay in the flow's process, as DuckDB has one writer.

A cluster is either an existing scheduler (`--dask-address` / $ENGAGE_DASK_ADDRESS) or a temporary
LocalCluster (`--workers N`). Its workers run Prefect tasks, so they need the Prefect API: a local
cluster is pointed at this process's server (a temporary one is started first if none is set);
workers elsewhere must be started with PREFECT_API_URL set to a server they can reach.
"""
from __future__ import annotations

import contextlib
import os
from collections import deque
from typing import TYPE_CHECKING, Any, Iterable, Iterator

if TYPE_CHECKING:  # Prefect is imported only once flows.settings has configured it (see cli.main)
    from prefect import Flow, Task

ADDRESS_ENV = "ENGAGE_DASK_ADDRESS"
IN_FLIGHT_PER_WORKER = 2  # chunks queued per worker: enough to keep it busy, few enough to bound memory


def dask_address(given: str | None = None) -> str | None:
    """--dask-address, else $ENGAGE_DASK_ADDRESS, else None (run in this process)."""
    return given or os.environ.get(ADDRESS_ENV) or None


def with_runner(flow: Flow, address: str | None) -> Flow:
    """The flow, set to run its tasks on the Dask scheduler at `address` (unchanged when None)."""
    if not address:
        return flow
    from prefect_dask import DaskTaskRunner

    return flow.with_options(task_runner=DaskTaskRunner(address=address))


def _runner() -> tuple[bool, int | None]:
    """(inside a flow run?, how many Dask workers its task runner has, or None when it is not Dask)."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx else None
    if runner is None or type(runner).__name__ != "DaskTaskRunner":
        return ctx is not None, None
    return True, max(1, len(runner.client.scheduler_info(n_workers=-1)["workers"]))


def run_chunks(task: Task, chunks: Iterable[dict[str, Any]], **shared: Any) -> Iterator[Any]:
    """`task(**chunk, **shared)` for each chunk, results in chunk order (outside any flow, the
    task's plain function is called).

    Chunks are produced lazily and, on a cluster, only a few per worker are in flight at once, so
    neither this process nor the cluster ever holds all of them."""
    in_flow, workers = _runner()
    if workers is None:
        call = task if in_flow else task.fn
        for chunk in chunks:
            yield call(**chunk, **shared)
        return
    pending: deque = deque()
    for chunk in chunks:
        pending.append(task.submit(**chunk, **shared))
        if len(pending) >= IN_FLIGHT_PER_WORKER * workers:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@contextlib.contextmanager
def dask_cluster(address: str | None, workers: int | None) -> Iterator[str | None]:
    """The scheduler address the run should use: the given one, that of a temporary LocalCluster of
    `workers` processes (closed afterwards), or None for the default in-process runner."""
    if address and workers:
        raise ValueError("give either a Dask scheduler address or a number of local workers, not both")
    if not workers:
        yield address
        return
    from distributed import LocalCluster
    from prefect.settings import PREFECT_API_URL

    api = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not api:  # the temporary server this process would start anyway, started now so workers can share it
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start()
        api = server.api_url
    env = {"PREFECT_API_URL": api, **{k: v for k, v in os.environ.items()
                                      if k.startswith(("PREFECT_", "HF_", "TRANSFORMERS_", "TOKENIZERS_"))
                                      and k != "PREFECT_API_URL"}}
    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
                      env=env) as cluster:
        yield cluster.scheduler_address
