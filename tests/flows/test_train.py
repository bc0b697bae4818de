"""Training: zero-shot cold start for a taxonomy without labels, the trained model taking over as
labels arrive, and the sentiment model trained from the labels' sentiment column."""
from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from tests.conftest import REPO, make_home

LABELLED = REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv"


@pytest.fixture(scope="module")
def cold_home(tmp_path_factory, prefect_harness):
    """A working area with 40 staff answers and no labelled data at all."""
    from flows.cli import main

    root = tmp_path_factory.mktemp("cold")
    home = make_home(root, with_labels=False)
    lab = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    lab[lab["source"] == "staff"].head(40)[["response_id", "question", "text"]].to_csv(root / "staff.csv", index=False)
    assert main(["--home", str(home), "ingest", str(root / "staff.csv"), "--source", "staff"]) == 0
    assert main(["--home", str(home), "run"]) == 0
    return home


def meta(home) -> dict:
    return json.loads((home / "data/processed/models/north-cumbria-2019-2024/meta.json").read_text())


def test_a_taxonomy_without_labels_classifies_zero_shot(cold_home, capsys):
    from flows.cli import main

    m = meta(cold_home)
    assert m["mode"] == "zero-shot" and m["n_train"] == 0 and m["oof_macro_f1"] is None
    con = duckdb.connect(str(cold_home / "data/processed/engage.duckdb"), read_only=True)
    assigned = con.execute("SELECT count(DISTINCT answer_id) FROM predictions WHERE assigned").fetchone()[0]
    codes = {c for (c,) in con.execute("SELECT DISTINCT code FROM predictions WHERE assigned").fetchall()}
    con.close()
    assert assigned == 40  # every answer lands somewhere…
    assert len(codes) >= 3  # …and not all in one place
    doc = json.loads((cold_home / "reports/north-cumbria-2019-2024/they-said.json").read_text())
    assert any(c["statements"] for c in doc["categories"])
    assert doc["classifier"]["mode"] == "zero-shot"  # and the report says so
    assert "zero-shot" in (cold_home / "reports/north-cumbria-2019-2024/they-said.md").read_text()
    # No labels, so no tone: asking for negative quotes says why, not "no quotes match those filters".
    capsys.readouterr()
    assert main(["--home", str(cold_home), "quotes", "--sentiment", "negative"]) == 1
    assert "a sentiment model is trained from labelled answers with a sentiment column" in capsys.readouterr().err


def test_labels_short_of_a_trained_model_are_counted(cold_home, tmp_path, capsys):
    """20 labelled answers keep the zero-shot model, and the console says 20, not the 0 it was built with."""
    from flows.cli import main

    some = tmp_path / "some-labels.csv"
    pd.read_csv(LABELLED, dtype=str, keep_default_na=False).head(20).to_csv(some, index=False)
    assert main(["--home", str(cold_home), "train", "--labels", str(some)]) == 0
    out = capsys.readouterr().out
    assert "20 different labelled answers so far; a trained model takes over from 50" in out
    assert "in every category; so far AIM1 has 3, ENA has 3, ENB has 3, ENC has 4, END has 4, OTHER has 0" in out
    assert meta(cold_home)["mode"] == "zero-shot"


def test_the_trained_model_takes_over_when_labels_arrive(cold_home, tmp_path, capsys):
    from flows.cli import main

    few = tmp_path / "first-labels.csv"
    pd.read_csv(LABELLED, dtype=str, keep_default_na=False).head(120).to_csv(few, index=False)
    assert main(["--home", str(cold_home), "train", "--labels", str(few)]) == 0
    m = meta(cold_home)
    assert m["mode"] == "trained" and m["n_train"] == 120 and 0 <= m["oof_macro_f1"] <= 1
    assert m["previous"]["mode"] == "zero-shot"
    assert "cross-validated" in capsys.readouterr().out
    assert (cold_home / "data/processed/models/north-cumbria-2019-2024/sentiment.joblib").exists()


def test_a_category_with_too_few_labels_keeps_zero_shot_and_comes_first_for_review(tmp_path, prefect_harness, capsys):
    """65 labels with one OTHER among them (user test 3) trained a model that never predicted OTHER and
    filed "The new bins collection is a mess" under a priority. A trained model now waits until every
    category has 5 labelled answers, and the review workbook lists the answers likely to fill the gap."""
    from openpyxl import load_workbook

    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    every = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    lab = pd.concat([every[every["labels"] != "OTHER"].head(80), every[every["labels"] == "OTHER"].head(2)])
    unlabelled = pd.concat([every[every["labels"] != "OTHER"].iloc[80:110], every[every["labels"] == "OTHER"].iloc[2:12]])
    pd.concat([lab, unlabelled])[["response_id", "question", "text"]].to_csv(tmp_path / "answers.csv", index=False)
    assert main(["--home", str(home), "ingest", str(tmp_path / "answers.csv"), "--source", "public"]) == 0
    lab.to_csv(tmp_path / "labels.csv", index=False)
    assert main(["--home", str(home), "train", "--labels", str(tmp_path / "labels.csv")]) == 0
    m = meta(home)
    assert m["mode"] == "zero-shot" and m["n_train"] == 82 and m["thin_categories"] == {"OTHER": 2}
    assert main(["--home", str(home), "run"]) == 0
    out = capsys.readouterr().out
    assert "takes over once every category has 5 labelled answers, and so far OTHER has 2" in out
    md = (home / "reports/north-cumbria-2019-2024/they-said.md").read_text()
    assert "zero-shot" in md and "so far OTHER has 2" in md
    xlsx = tmp_path / "review.xlsx"
    assert main(["--home", str(home), "review", "export", str(xlsx), "-n", "5", "--sample", "0"]) == 0
    rows = [(r[3].value, r[7].value) for r in load_workbook(xlsx)["review"].iter_rows(min_row=2)]
    assert [why for _, why in rows] == ["likely OTHER (2 labelled so far)"] * 10 + ["uncertain"] * 5
    assert not {text for text, _ in rows} & set(lab["text"])  # an answer labelled already is not asked again


def test_labels_zero_shot_still_beats_file_their_answers_and_change_no_model(tmp_path, prefect_harness, capsys):
    """User test 6: 75 labels lost to zero-shot (0.63 against 0.67), yet every answer was classified
    again, themes refitted, changes.md said "now zero-shot (was zero-shot)", and "Please sort out the
    planning department", labelled OTHER, stayed quoted under a priority."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    every = pd.read_csv(LABELLED, dtype=str, keep_default_na=False)
    first = every["labels"].str.split(";").str[0]
    lab = pd.concat([every[first == c].head(7) for c in ["AIM1", "AIM2", "AIM3", "ENA", "ENB", "ENC", "END", "OTHER"]])
    lab[["response_id", "question", "text"]].to_csv(tmp_path / "answers.csv", index=False)
    assert main(["--home", str(home), "ingest", str(tmp_path / "answers.csv"), "--source", "public"]) == 0
    assert main(["--home", str(home), "run"]) == 0
    before = meta(home)["model_version"]
    lab.to_csv(tmp_path / "labels.csv", index=False)
    assert main(["--home", str(home), "train", "--labels", str(tmp_path / "labels.csv")]) == 0
    m = meta(home)
    assert m["mode"] == "zero-shot" and m["trained_macro_f1"] < m["zero_shot_macro_f1"]
    assert m["model_version"] == before  # the same zero-shot model: nothing to classify again
    capsys.readouterr()
    assert main(["--home", str(home), "run"]) == 0  # not "nothing new": the labels changed
    assert "nothing new" not in capsys.readouterr().out
    assert "The classifier changed" not in (home / "reports/north-cumbria-2019-2024/changes.md").read_text()
    con = duckdb.connect(str(home / "data/processed/engage.duckdb"), read_only=True)
    filed = con.execute("SELECT a.text, string_agg(p.code, ';' ORDER BY p.code) FROM predictions p JOIN answers a "
                        "USING (answer_id) WHERE p.assigned GROUP BY a.text").fetchall()
    con.close()
    from nlp.redact import default_redactor

    redact = default_redactor().redact
    want = {redact(t): ";".join(sorted(l.split(";"))) for t, l in zip(lab["text"], lab["labels"])}
    assert {t: codes for t, codes in filed} == want
    assert json.loads((home / "reports/north-cumbria-2019-2024/they-said.json").read_text())["classifier"][
        "coder_labelled"] == len(lab)


def test_labels_with_an_unknown_sentiment_are_refused_with_the_valid_values(cold_home, tmp_path, capsys):
    from flows.cli import main

    bad = tmp_path / "bad-sentiment.csv"
    bad.write_text("text,labels,sentiment\nMore buses to the hospital please,AIM1,angry\n")
    assert main(["--home", str(cold_home), "train", "--labels", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "angry" in err and "negative, neutral, positive, mixed" in err


def test_written_examples_train_but_are_neither_counted_nor_scored(tmp_path, prefect_harness, capsys):
    """Answers written to illustrate the coding frame (`engage train --examples`, kept in
    labels/<taxonomy>/examples/) train a model from the first night, are not counted as labelled
    answers, and the F1 quoted is the labelled answers'."""
    import joblib
    from sklearn.metrics import f1_score

    from flows.cli import main
    from flows.train import fit_classifier
    from nlp.classify import labels_to_matrix

    home = make_home(tmp_path, with_labels=False)
    labels = home / "data/raw/labels/north-cumbria-2019-2024"
    examples = pd.read_csv(REPO / "data/raw/labels/north-cumbria-2019-2024/examples/coding-frame-examples.csv",
                           dtype=str, keep_default_na=False).head(80)
    examples.to_csv(tmp_path / "our-examples.csv", index=False)
    assert main(["--home", str(home), "train", "--examples", str(tmp_path / "our-examples.csv")]) == 0
    assert (labels / "examples/our-examples.csv").is_file() and not list(labels.glob("*.csv"))
    assert "trained on 0 labelled answers and 80 written examples of the coding frame; its F1 is measured once 50" \
        in capsys.readouterr().out
    r = meta(home)
    assert (r["mode"], r["n_train"], r["n_examples"], r["oof_macro_f1"]) == ("trained", 0, 80, None)

    # 60 labelled answers, one with the same words as an example: the labelled one replaces it.
    lab = pd.read_csv(LABELLED, dtype=str, keep_default_na=False).head(60)
    lab.loc[0, "text"] = examples.loc[5, "text"]
    lab.to_csv(labels / "labelled.csv", index=False)
    r = fit_classifier.fn(str(home), "north-cumbria-2019-2024")
    assert (r["n_train"], r["n_examples"]) == (60, 79)
    clf = joblib.load(home / "data/processed/models/north-cumbria-2019-2024/classifier.joblib")
    assert len(clf.oof_scores_) == 139
    # Examples come first in the training data: the last 60 out-of-fold rows are the labelled answers.
    Y = labels_to_matrix([l.split(";") for l in lab["labels"]], clf.codes)
    pred = clf.decide(clf.oof_scores_[-60:])
    has = Y.sum(axis=0) > 0
    assert r["oof_macro_f1"] == pytest.approx(f1_score(Y[:, has], pred[:, has], average="macro", zero_division=0))


def test_the_console_says_when_a_trained_model_replaces_the_zero_shot_start():
    from flows.cli import model_summary

    base = {"taxonomy_id": "t", "n_train": 60, "n_examples": 0, "min_labelled": 50, "min_per_category": 5}
    first = model_summary({**base, "trained": True, "mode": "zero-shot", "n_train": 0})
    assert "set up: zero-shot" in first and "retrained" not in first
    assert "unchanged: zero-shot" in model_summary({**base, "trained": False, "mode": "zero-shot"})
    switched = model_summary({**base, "trained": True, "mode": "trained", "oof_micro_f1": 0.58, "oof_macro_f1": 0.53,
                              "previous": {"mode": "zero-shot", "n_train": 0, "oof_micro_f1": None, "oof_macro_f1": None}})
    assert "It replaces the zero-shot start" in switched and "not because people said something new" in switched
