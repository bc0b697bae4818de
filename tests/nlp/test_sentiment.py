import numpy as np
import pandas as pd
import pytest

from nlp.embed import embed
from nlp.sentiment import SENTIMENTS, SentimentClassifier


@pytest.fixture(scope="module")
def fitted(labelled_csv):
    df = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False).sample(500, random_state=2)
    texts = df["text"].tolist()
    emb = embed(texts)
    clf = SentimentClassifier().fit(texts[:400], df["sentiment"][:400], embeddings=emb[:400])
    return clf, texts[400:], df["sentiment"].to_numpy()[400:], emb[400:]


def test_obvious_cases(fitted):
    clf = fitted[0]
    pred = clf.predict(["The nurses on ward 5 were wonderful, thank you so much for the care my mum received",
                        "Absolutely disgraceful. Waited 9 hours in A&E and nobody cared, it is a shambles",
                        "More GP appointments in the evenings and at weekends"])
    assert pred.tolist() == ["positive", "negative", "neutral"]


def test_probabilities_cover_the_classes(fitted):
    clf, texts, _, emb = fitted
    P = clf.predict_proba(texts, embeddings=emb)
    assert P.shape == (len(texts), len(clf.classes_)) and set(clf.classes_) <= set(SENTIMENTS)
    assert np.allclose(P.sum(axis=1), 1)
    assert clf.predict([]).shape == (0,)


def test_held_out_answers_are_mostly_right(fitted):
    clf, texts, y, emb = fitted
    assert (clf.predict(texts, embeddings=emb) == y).mean() > 0.7


def test_unknown_sentiment_is_an_error():
    with pytest.raises(ValueError, match="unknown sentiment"):
        SentimentClassifier().fit(["a", "b"], ["happy", "negative"], embeddings=np.zeros((2, 384)))
