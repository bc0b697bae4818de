"""The packaged encoder: loaded once per process, also when a preload thread races the first use,
and giving sentence-transformers' own vectors, bit for bit."""
from __future__ import annotations

import threading

import numpy as np

from nlp import embed as embed_mod


def test_a_preload_and_a_first_use_at_once_share_one_encoder():
    embed_mod._load_encoder.cache_clear()
    seen: list = []
    preload = embed_mod.preload_encoder()
    user = threading.Thread(target=lambda: seen.append(embed_mod.load_encoder()))
    user.start()
    preload.join()
    user.join()
    assert seen[0] is embed_mod.load_encoder() and embed_mod._load_encoder.cache_info().misses == 1
    v = embed_mod.embed(["More GP appointments in the evening"])
    assert v.shape == (1, embed_mod.DIM) and np.isclose(np.linalg.norm(v), 1.0)


def test_the_encoder_gives_sentence_transformers_vectors():
    """Same tokens, same arithmetic: batches with and without padding, an empty text, accents and
    a text past the 256-token limit (both cut it there)."""
    from sentence_transformers import SentenceTransformer

    texts = ["More GP appointments in the evening", "Sort out social care", "",
             "Naïve café-style drop-ins at Penrith library, please!",
             "We need better buses to the hospital in Carlisle and Whitehaven; my mum waited two hours. " * 20]
    texts += [f"Answer {i}: keep the community hospital open in Keswick" for i in range(70)]  # a second batch
    ours = embed_mod.embed(texts)
    reference = SentenceTransformer(str(embed_mod.model_dir()), device="cpu").encode(
        texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    assert ours.shape == reference.shape == (len(texts), embed_mod.DIM)
    # Bit for bit: every vector cached before the encoder was ours stays valid, and themes (whose
    # UMAP layouts turn a last-bit difference into another layout) come out as they did.
    assert np.array_equal(ours, reference)
