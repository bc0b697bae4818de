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


def test_examples_join_a_fold_with_their_segments_still_pointing_at_their_answers(evaluate):
    import numpy as np

    from nlp.classify import Segments

    def batch(texts, owners, code):
        segs = Segments([f"{t} / {k}" for t, n in zip(texts, owners) for k in range(n)],
                        np.repeat(np.arange(len(texts)), owners), np.zeros((sum(owners), 3), np.float32))
        return evaluate.Batch(texts, np.full((len(texts), 1), code), np.zeros((len(texts), 3), np.float32),
                              np.array(texts, dtype=object), [{"source": "public"}] * len(texts), segs,
                              np.array(["neutral"] * len(texts), dtype=object))

    fold = batch(["a", "b", "c"], [2, 1, 3], 1).take(np.array([2, 0])) + batch(["x", "y"], [1, 2], 0)
    assert fold.texts == ["c", "a", "x", "y"] and fold.Y[:, 0].tolist() == [1, 1, 0, 0]
    assert sorted((fold.texts[o], t) for t, o in zip(fold.segments.texts, fold.segments.owner)) == [
        ("a", "a / 0"), ("a", "a / 1"), ("c", "c / 0"), ("c", "c / 1"), ("c", "c / 2"),
        ("x", "x / 0"), ("y", "y / 0"), ("y", "y / 1")]


def test_a_second_coding_must_cover_every_answer(evaluate, tmp_path):
    import pandas as pd

    df = pd.DataFrame({"response_id": ["PUB-0001", "STF-0002"]})
    f = tmp_path / "coder.csv"
    f.write_text("response_id,labels,sentiment\nSTF-0002,ENA;ENB,neutral\nPUB-0001,OTHER,neutral\n")
    assert evaluate.second_coder(df, ["ENA", "ENB", "OTHER"], f).tolist() == [[0, 0, 1], [1, 1, 0]]
    assert evaluate.second_coder(df, ["ENA"], tmp_path / "none.csv") is None
    f.write_text("response_id,labels,sentiment\nSTF-0002,ENA,neutral\n")
    with pytest.raises(SystemExit, match="no labels for 1 answers, e.g. PUB-0001"):
        evaluate.second_coder(df, ["ENA"], f)
