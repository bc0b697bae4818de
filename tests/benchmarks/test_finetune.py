"""benchmarks/finetune.py pairs answers for contrastive tuning by their label sets."""
from __future__ import annotations

import importlib.util
import random
import sys

import numpy as np

from tests.conftest import REPO


def test_pairs_share_a_label_with_their_jaccard_as_target_or_share_none_with_zero():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("finetune", REPO / "benchmarks/finetune.py")
    finetune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(finetune)
    Y = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1]])
    idx = np.array([0, 1, 2, 3])  # row 4 is held out: it must never be paired
    pairs = finetune.training_pairs(Y, idx, rounds=3, rng=random.Random(0))
    assert len(pairs) == 3 * 7  # row 3 shares no label with another training row: only its 'none' pair
    for a, b, target in pairs:
        assert a != b and {a, b} <= set(idx.tolist())
        shared, either = (Y[a] & Y[b]).sum(), (Y[a] | Y[b]).sum()
        assert target == (shared / either if shared else 0.0)
    assert any(t == 0.5 for *_, t in pairs) and any(t == 0.0 for *_, t in pairs)
