import pickle

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from nlp.vectorise import CharNgramTfidf

PARAMS = dict(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, strip_accents="unicode",
              dtype=np.float32)
ODD = ["", "   ", "A&E!!! A&E", "café CAFÉ cafe", "tabs\tand\nnew lines  and   spaces", "x", "appt w/ docter 2moro",
       "Ünïcödé ‘quotes’ — dashes", "ok ok ok ok ok"]


def test_same_matrix_as_scikit_learn_s_char_wb(labelled_csv):
    texts = pd.read_csv(labelled_csv, dtype=str, keep_default_na=False)["text"].tolist()
    train, other = texts[:600] + ODD, texts[600:] + ODD + [t.upper() for t in texts[:50]]
    ours, theirs = CharNgramTfidf(**PARAMS).fit(train), TfidfVectorizer(**PARAMS).fit(train)
    assert ours.vocabulary_ == theirs.vocabulary_
    for batch in (train, other, other):  # the second pass over `other` comes from the word cache
        a, b = ours.transform(batch), theirs.transform(batch)
        assert a.shape == b.shape and a.dtype == b.dtype
        assert (a != b).nnz == 0
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


def test_refit_forgets_the_old_vocabulary_and_pickles_without_the_cache():
    v = CharNgramTfidf(**PARAMS).fit(["hospital parking", "hospital food", "parking fines"])
    v.transform(["hospital parking again"])
    v.fit(["dentists dentists", "dentists please"])
    assert (v.transform(["dentists"]) != TfidfVectorizer(**PARAMS).fit(["dentists dentists", "dentists please"])
            .transform(["dentists"])).nnz == 0
    restored = pickle.loads(pickle.dumps(v))
    assert "_word_features" not in restored.__dict__
    assert (restored.transform(["dentists"]) != v.transform(["dentists"])).nnz == 0


def test_other_analysers_are_scikit_learn_s_own():
    docs = ["more GP appointments", "GP appointments at weekends"]
    a = CharNgramTfidf(min_df=1).fit(docs).transform(docs)
    b = TfidfVectorizer(min_df=1).fit(docs).transform(docs)
    assert (a != b).nnz == 0
