import numpy as np
import pandas as pd
import pytest

from flows.settings import resolve_taxonomy
from nlp.classify import TaxonomyClassifier, best_threshold, labels_to_matrix
from nlp.embed import embed


@pytest.fixture(scope="module")
def sample(labelled_csv):
    df = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False).sample(360, random_state=1)
    tax = resolve_taxonomy("north-cumbria-2019-2024")
    texts = df["text"].tolist()
    return tax, texts, labels_to_matrix([l.split(";") for l in df["labels"]], tax.codes), embed(texts)


@pytest.fixture(scope="module")
def fitted(sample):
    tax, texts, Y, emb = sample
    return TaxonomyClassifier(codes=tax.codes, other_code=tax.other_code).fit(texts[:300], Y[:300], embeddings=emb[:300])


def test_best_threshold_separates_a_clean_split():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    t = best_threshold(y, s)
    assert 0.3 < t < 0.7


def test_unknown_label_is_an_error():
    with pytest.raises(ValueError, match="not in the taxonomy"):
        labels_to_matrix([["AIM9"]], ["AIM1"])


def test_thresholds_are_applied_per_label(fitted):
    k = len(fitted.codes)
    scores = np.tile(fitted.thresholds_ - 0.01, (1, 1))
    scores[0, 2] = fitted.thresholds_[2] + 0.01
    assert fitted.decide(scores)[0].tolist() == [int(i == 2) for i in range(k)]


def test_every_answer_gets_a_label_and_other_is_exclusive(fitted):
    o = fitted.codes.index("OTHER")
    scores = np.zeros((2, len(fitted.codes)))
    scores[0, 1] = 0.01                    # nothing passes: best label wins
    scores[1, :] = 0.99                    # everything passes: OTHER is dropped
    P = fitted.decide(scores)
    assert P[0].tolist() == [int(i == 1) for i in range(len(fitted.codes))]
    assert P[1, o] == 0 and P[1].sum() == len(fitted.codes) - 1


def test_probabilities_and_obvious_cases(fitted):
    texts = ["I can never get a GP appointment at my surgery, the phone lines are always engaged",
             "Staff are exhausted, underpaid and nobody listens to us. Rotas are impossible.",
             "no comment"]
    P = fitted.predict_proba(texts)
    assert P.shape == (3, len(fitted.codes)) and ((P >= 0) & (P <= 1)).all()
    pred = fitted.predict(texts)
    c = fitted.codes
    assert pred[0, c.index("AIM2")] == 1
    assert pred[1, c.index("ENA")] == 1
    assert pred[2, c.index("OTHER")] == 1


def test_held_out_answers_are_mostly_right(sample, fitted):
    _, texts, Y, emb = sample
    P = fitted.predict(texts[300:], embeddings=emb[300:])
    assert (P == Y[300:]).mean() > 0.8


def test_too_little_data_is_a_clear_error(sample):
    tax, texts, Y, emb = sample
    with pytest.raises(ValueError, match="at least 10"):
        TaxonomyClassifier(codes=tax.codes).fit(texts[:5], Y[:5], embeddings=emb[:5])
