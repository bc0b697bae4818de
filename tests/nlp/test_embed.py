"""The packaged encoder: loaded once per process, also when a preload thread races the first use."""
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
