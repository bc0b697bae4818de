"""The embedding cache as the theme stage uses it: many small lookups through one connection."""
from __future__ import annotations

import numpy as np
import pytest

from flows.embeddings import VectorLookup, get_embeddings
from flows.settings import workspace
from flows.store import connect
from nlp.embed import DIM, embed


def _cached(ws) -> int:
    with connect(ws.db_path, read_only=True) as con:
        return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]


def test_lookup_gives_the_encoders_vectors_caches_new_texts_once_and_reads_them_back(tmp_path):
    ws = workspace(tmp_path).ensure()
    texts = ["More GP appointments in the evening.", "Keep A&E open at West Cumberland.",
             "More GP appointments in the evening."]
    with VectorLookup(ws) as lookup:
        first = lookup(texts)
        again = lookup(texts[:1] + ["Fix the car park."])
        assert lookup([]).shape == (0, DIM)
    assert first.shape == (3, DIM) and first.dtype == np.float32
    np.testing.assert_allclose(first[:2], embed(texts[:2]), atol=1e-5)
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(again[0], first[0])
    assert _cached(ws) == 3  # the repeated text is stored once

    # A later task (its own connection) finds them all in the cache, bit for bit.
    np.testing.assert_array_equal(get_embeddings(ws, texts), first)
    with VectorLookup(ws) as lookup:
        np.testing.assert_array_equal(lookup(["Fix the car park."])[0], again[1])
    assert _cached(ws) == 3


def test_lookup_outside_its_block_says_so(tmp_path):
    lookup = VectorLookup(workspace(tmp_path).ensure())
    with pytest.raises(RuntimeError, match="outside its `with` block"):
        lookup(["anything"])
