"""Embeddings with a database cache keyed by text hash and model version: a text is encoded once.

Texts not yet cached are encoded in fixed chunks of EMBED_CHUNK, in order of first appearance, and
each chunk is stored as soon as it is done: memory stays bounded, a killed run keeps what it had
encoded, and (since MiniLM's output depends in the last bits on the other texts in its batch) the
same texts get the same vectors whichever runner encodes them. Cached vectors are read back in
record batches straight into one float32 matrix, never as one Python object per text.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import duckdb
import numpy as np
import pandas as pd
from prefect import task
from prefect.cache_policies import NONE
from tqdm.auto import tqdm

from flows.parallel import run_chunks
from flows.settings import Workspace
from flows.store import connect, text_hash, transaction
from flows.timing import stage
from nlp.embed import DIM, MODEL_VERSION, embed, load_encoder

EMBED_CHUNK = 2048
_READ_BATCH = 32_768


def text_hashes(texts: Sequence[str]) -> list[str]:
    return [text_hash(t) for t in texts]


def missing_texts(ws: Workspace, texts: Sequence[str]) -> list[str]:
    """The distinct texts with no cached vector for this model, in order of first appearance."""
    if not texts:
        return []
    hashes = text_hashes(texts)
    wanted = pd.DataFrame({"pos": np.arange(len(texts), dtype=np.int64), "text_hash": hashes})
    with connect(ws.db_path) as con:
        con.register("wanted", wanted)
        pos = con.execute("SELECT min(w.pos) AS first FROM wanted w ANTI JOIN embeddings e "
                          "ON e.text_hash = w.text_hash AND e.model = ? GROUP BY w.text_hash ORDER BY first",
                          [MODEL_VERSION]).fetchnumpy()["first"]
        con.unregister("wanted")
    return [texts[int(i)] for i in pos]


@task(cache_policy=NONE)
def encode_chunk(texts: list[str]) -> np.ndarray:
    """Unit vectors for one chunk of texts: the heavy part, run on a Dask worker when there is one."""
    with stage("load encoder"):
        load_encoder()
    with stage("encode", len(texts)):
        return embed(texts)


@contextlib.contextmanager
def _opened(ws: Workspace, con: duckdb.DuckDBPyConnection | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The caller's connection, or one of our own for this call."""
    if con is not None:
        yield con
        return
    with connect(ws.db_path) as own:
        yield own


def store_vectors(ws: Workspace, texts: Sequence[str], vectors: np.ndarray,
                  con: duckdb.DuckDBPyConnection | None = None) -> None:
    """Add vectors to the cache (one transaction, so a chunk is stored whole or not at all)."""
    frame = pd.DataFrame({"text_hash": text_hashes(texts), "model": MODEL_VERSION,
                          "vector": [v.tobytes() for v in np.asarray(vectors, dtype=np.float32)]})
    with _opened(ws, con) as con, transaction(con):
        con.register("new_emb", frame)
        con.execute("INSERT OR IGNORE INTO embeddings SELECT text_hash, model, vector FROM new_emb")
        con.unregister("new_emb")


def _chunks(texts: list[str]) -> Iterator[dict]:
    for i in range(0, len(texts), EMBED_CHUNK):
        yield {"texts": texts[i:i + EMBED_CHUNK]}


def encode_missing(ws: Workspace, texts: Sequence[str]) -> int:
    """Encode and store every text not yet cached; on the flow's Dask cluster when it has one.
    Call from a flow (not inside a task). Returns how many texts were encoded."""
    todo = missing_texts(ws, texts)
    for chunk, vectors in zip(_chunks(todo), run_chunks(encode_chunk, _chunks(todo))):
        store_vectors(ws, chunk["texts"], vectors)
    return len(todo)


def _read_vectors(ws: Workspace, texts: Sequence[str],
                  con: duckdb.DuckDBPyConnection | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cached vectors, one row per text (zeros where there is none), and which texts had one."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    found = np.zeros(len(texts), dtype=bool)
    if not texts:
        return out, found
    wanted = pd.DataFrame({"pos": np.arange(len(texts), dtype=np.int64), "text_hash": text_hashes(texts)})
    with _opened(ws, con) as con:
        con.register("wanted", wanted)
        reader = con.execute("SELECT w.pos, e.vector FROM wanted w JOIN embeddings e "
                             "ON e.text_hash = w.text_hash AND e.model = ?", [MODEL_VERSION]) \
            .fetch_record_batch(_READ_BATCH)
        for batch in reader:
            pos = batch.column(0).to_numpy()
            out[pos] = np.frombuffer(b"".join(batch.column(1).to_pylist()), dtype=np.float32).reshape(-1, DIM)
            found[pos] = True
        con.unregister("wanted")
    return out, found


def load_vectors(ws: Workspace, texts: Sequence[str]) -> np.ndarray:
    """Cached vectors, one row per text (in order); an uncached text is an error."""
    out, found = _read_vectors(ws, texts)
    if not found.all():
        raise RuntimeError(f"{int((~found).sum())} texts have no cached embedding for {MODEL_VERSION}")
    return out


def get_embeddings(ws: Workspace, texts: Sequence[str], progress: bool = False,
                   con: duckdb.DuckDBPyConnection | None = None) -> np.ndarray:
    """Vectors for any texts: cached ones read back (one query when all are cached, as on most
    calls from the theme stage), the rest encoded here in the same chunks as `encode_missing`
    (distinct texts in order of first appearance) and cached. Pass `con` to reuse an open connection."""
    out, found = _read_vectors(ws, texts, con)
    if found.all():
        return out
    todo = list(dict.fromkeys(t for t, f in zip(texts, found) if not f))
    fresh: dict[str, np.ndarray] = {}
    for chunk in tqdm(list(_chunks(todo)), desc="embeddings", unit="chunk", disable=not progress or None):
        vectors = encode_chunk.fn(chunk["texts"])
        store_vectors(ws, chunk["texts"], vectors, con)
        fresh.update(zip(chunk["texts"], np.asarray(vectors, dtype=np.float32)))
    for i in np.flatnonzero(~found):
        out[i] = fresh[texts[i]]
    return out


class VectorLookup:
    """Vectors for a task that asks for a few texts at a time, many times over (the theme stage asks
    for each theme's statement candidates): one database connection for the whole task instead of
    one per call (opening and closing one costs more than the lookup), and each text looked up once.
    Use as a context manager; inside it, call it like `get_embeddings`."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._memo: dict[str, np.ndarray] = {}
        self._stack = contextlib.ExitStack()
        self.con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> "VectorLookup":
        self.con = self._stack.enter_context(connect(self.ws.db_path))
        return self

    def __exit__(self, *exc) -> None:
        self.con = None
        self._stack.close()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if self.con is None:
            raise RuntimeError("VectorLookup is used outside its `with` block")
        need = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if need:
            self._memo.update(zip(need, get_embeddings(self.ws, need, con=self.con)))
        if not len(texts):
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])
