import numpy as np
import pytest

from flows.settings import resolve_taxonomy
from nlp.zeroshot import ZeroShotClassifier, prototypes

# A few categories of the NHS patient-experience framework (pxtextmining), described as a taxonomy
# file would describe them.
PX = {
    "STAFF_MANNER": "Staff manner & personal attributes. Staff attitude and behaviour: kind, caring, friendly, "
                    "polite, compassionate or rude staff",
    "TIMELINESS": "Timeliness of care. Waiting times, delays, waiting lists, how quickly care was given",
    "FOOD": "Food & drink provision & facilities. Hospital meals, drinks, snacks, menu choice",
    "PARKING": "Parking. Car parking spaces and charges at the hospital",
}


@pytest.fixture(scope="module")
def north_cumbria():
    return ZeroShotClassifier.from_taxonomy(resolve_taxonomy("north-cumbria-2019-2024")).fit()


def test_prototypes_split_a_description_into_its_themes():
    p = prototypes("Be a great place to work. Pay, rotas and workload; staff housing, training and careers")
    assert p[0] == "Be a great place to work"
    assert "staff housing" in p and "Pay, rotas and workload" in p


def test_obvious_answers_get_the_obvious_category(north_cumbria):
    codes = north_cumbria.codes
    texts = ["I can never get a GP appointment", "no comment", "Staff are exhausted, underpaid and overworked",
             "Stop smoking services and more exercise classes"]
    P = north_cumbria.predict(texts)
    assert P[0, codes.index("AIM2")] == 1
    assert P[1].tolist() == [int(c == "OTHER") for c in codes]
    assert P[2, codes.index("ENA")] == 1
    assert P[3, codes.index("AIM1")] == 1


def test_obvious_answer_in_another_taxonomy():
    zs = ZeroShotClassifier(codes=list(PX), descriptions=PX).fit()
    P = zs.predict(["my nurse was so kind", "the food was cold", "waited six hours to be seen"])
    assert P[0, 0] == 1 and P[1, 2] == 1 and P[2, 1] == 1
    assert zs.predict_proba(["my nurse was so kind"]).argmax() == 0


def test_pseudo_probabilities_follow_similarity(north_cumbria):
    texts = ["We need more dentists and a GP surgery that answers the phone", "hello"]
    S = north_cumbria.similarities(texts)
    P = north_cumbria.predict_proba(texts)
    assert P.shape == S.shape and ((P >= 0) & (P <= 1)).all()
    o = north_cumbria.codes.index("OTHER")
    for i in range(len(texts)):
        sub = [j for j in range(S.shape[1]) if j != o]
        order = np.argsort(S[i, sub])
        assert (np.diff(P[i, sub][order]) >= -1e-12).all()  # higher similarity, higher probability
        assert P[i, sub][order[-1]] == P[i, sub].max()
    assert (north_cumbria.thresholds_ == 0.5).all()


def test_nothing_similar_enough_is_other(north_cumbria):
    P = north_cumbria.predict(["n/a", "I like turtles"])
    assert P.tolist() == [[int(c == "OTHER") for c in north_cumbria.codes]] * 2


def test_descriptions_must_match_codes():
    with pytest.raises(ValueError, match="descriptions"):
        ZeroShotClassifier(codes=["A", "B"], descriptions=["only one"]).fit()
