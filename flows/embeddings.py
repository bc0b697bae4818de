"""Embeddings with a database cache keyed by text hash and model version: a text is encoded once."""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from flows.settings import Workspace
from flows.store import cached_embeddings, connect, store_embeddings, transaction
from nlp.embed import DIM, MODEL_VERSION, embed


def get_embeddings(ws: Workspace, texts: Sequence[str], progress: bool = True) -> np.ndarray:
    hashes = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    with connect(ws.db_path) as con:
        have = cached_embeddings(con, hashes, MODEL_VERSION)
    missing = {h: t for h, t in zip(hashes, texts) if h not in have}
    if missing:
        vecs = embed(list(missing.values()), progress=progress and len(missing) > 200)
        new = dict(zip(missing.keys(), vecs))
        with connect(ws.db_path) as con, transaction(con):
            store_embeddings(con, new, MODEL_VERSION)
        have.update(new)
    if not texts:
        return np.zeros((0, DIM), dtype=np.float32)
    return np.vstack([have[h] for h in hashes])
