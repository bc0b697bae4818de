"""benchmarks/evaluate.py takes the pxtextmining label set from a taxonomy file, by title."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from flows.settings import resolve_taxonomy
from tests.conftest import REPO


@pytest.fixture(scope="module")
def evaluate():
    spec = importlib.util.spec_from_file_location("evaluate", REPO / "benchmarks/evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluate"] = module
    spec.loader.exec_module(module)
    return module


def test_label_columns_map_to_codes_by_title(evaluate):
    px = resolve_taxonomy("patient-experience-v6")
    columns = [c.title for c in px.categories]  # the CSV's 50 label columns
    used = ["Timeliness of care", "Labelling not possible", "Transport to/ from services"]
    sub = evaluate.px_label_taxonomy(px, columns, used)
    assert sub.codes == ["TIMELINESS", "LABELLING_NOT_POSSIBLE", "TRANSPORT"]
    assert [c.title for c in sub.categories] == used and sub.other_code == "LABELLING_NOT_POSSIBLE"
    with pytest.raises(SystemExit, match="no category titled 'Car parks'"):
        evaluate.px_label_taxonomy(px, columns + ["Car parks"], used)
    with pytest.raises(SystemExit, match="not columns"):
        evaluate.px_label_taxonomy(px, columns[:5], used)


def test_segment_mean_embeddings_average_the_answers_sentences(evaluate, tmp_path, monkeypatch):
    import numpy as np

    from nlp.embed import embed

    monkeypatch.setenv("ENGAGE_BENCH_CACHE", str(tmp_path))
    texts = ["Keep A&E open at West Cumberland. Parking there costs far too much.", "More GP appointments please."]
    got = evaluate.answer_embeddings(texts, "segment-mean")
    parts = embed(["Keep A&E open at West Cumberland.", "Parking there costs far too much."])
    mean = parts.mean(axis=0)
    np.testing.assert_allclose(got[0], mean / np.linalg.norm(mean), atol=1e-5)
    np.testing.assert_allclose(got[1], embed(texts[1:])[0], atol=1e-5)
    np.testing.assert_allclose(evaluate.answer_embeddings(texts, "answer"), embed(texts), atol=1e-5)
