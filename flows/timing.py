"""Stage timings: how long each part of a run took and how much it processed.

Each stage is logged (name, seconds, item count; never text) and kept in a short in-process history,
which `benchmarks/throughput.py` reads to break a run down by stage and to match its memory samples
to stages. Stages run inside Dask workers are logged there, not kept here.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections import deque
from typing import Iterator

logger = logging.getLogger("engage.timing")
_history: deque[dict] = deque(maxlen=10_000)


@contextlib.contextmanager
def stage(name: str, items: int | None = None) -> Iterator[dict]:
    """Time the block; the caller may set `record["items"]` once it knows how much it did."""
    record = {"stage": name, "items": items, "start": time.perf_counter()}
    try:
        yield record
    finally:
        record["end"] = time.perf_counter()
        record["seconds"] = record["end"] - record["start"]
        _history.append(record)
        logger.info("%s: %.2f s%s", name, record["seconds"],
                    "" if record["items"] is None else f" ({record['items']} items)")


def history() -> list[dict]:
    """Every stage recorded in this process so far, oldest first."""
    return list(_history)
