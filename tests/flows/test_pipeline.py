"""The whole pipeline on a small real export, through Prefect's test harness and the CLI."""
from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from tests.conftest import REPO, make_home

SAMPLE = REPO / "data/raw/engagement-2019"


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    """60 public respondents (SmartSurvey shape), 60 staff answers (long shape), one broken file."""
    d = tmp_path_factory.mktemp("exports")
    with open(SAMPLE / "smartsurvey_public_export.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    with open(d / "public_survey.csv", "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows[:61])
    lab = pd.read_csv(SAMPLE / "labelled_responses.csv", dtype=str, keep_default_na=False)
    lab[lab["source"] == "staff"].head(60)[["response_id", "question", "text"]].to_csv(d / "staff_survey.csv", index=False)
    (d / "broken.xlsx").write_bytes(b"PK\x03\x04 this is not really a workbook")
    return d


@pytest.fixture(scope="module")
def home(tmp_path_factory, exports, prefect_harness) -> Path:
    from flows.cli import main

    home = make_home(tmp_path_factory.mktemp("work"))
    assert main(["--home", str(home), "ingest", str(exports / "staff_survey.csv"), "--source", "staff"]) == 0
    assert (exports / "staff_survey.csv").exists()  # the officer's own copy is left alone
    shutil.copy(exports / "public_survey.csv", home / "data/raw/public_survey.csv")
    (home / "config").mkdir()
    (home / "config/sources.yaml").write_text(yaml.safe_dump({"files": [{"pattern": "public_survey.csv",
                                                                         "source": "public"}]}))
    (home / "data/raw/inbox").mkdir(exist_ok=True)
    shutil.copy(exports / "broken.xlsx", home / "data/raw/inbox/broken.xlsx")
    assert main(["--home", str(home), "run"]) == 1  # the broken file makes the run exit non-zero…
    return home


def report(home: Path) -> dict:
    return json.loads((home / "reports/north-cumbria-2019-2024/they-said.json").read_text())


def db(home: Path):
    return duckdb.connect(str(home / "data/processed/engage.duckdb"), read_only=True)


def test_broken_file_is_quarantined_with_a_reason_and_the_rest_runs(home):
    q = home / "data/raw/quarantine"
    assert (q / "broken.xlsx").read_bytes().startswith(b"PK\x03\x04")  # the original bytes, kept
    reason = (q / "broken.xlsx.reason.txt").read_text()
    assert "broken.xlsx" in reason and "again" in reason
    assert not list((home / "data/raw/inbox").iterdir())  # moved out of the inbox
    assert not any(p.suffix == ".xlsx" for p in (home / "data/raw/store").rglob("*"))
    doc = report(home)  # …but the good files were analysed and reported
    assert sum(c["n_responses"] for c in doc["categories"]) > 50


def test_files_added_through_the_cli_are_kept_by_content(home, exports):
    from flows.cli import main

    stored = [p for p in (home / "data/raw/store").rglob("*.csv")]
    assert len(stored) == 1 and stored[0].read_bytes() == (exports / "staff_survey.csv").read_bytes()
    # the same bytes under another name are recognised and not counted twice
    renamed = exports / "staff_again.csv"
    shutil.copy(exports / "staff_survey.csv", renamed)
    assert main(["--home", str(home), "ingest", str(renamed), "--source", "staff"]) == 0
    assert len(list((home / "data/raw/store").rglob("*.csv"))) == 1
    assert db(home).execute("SELECT count(*) FROM answers WHERE source = 'staff'").fetchone()[0] == 60


def test_answers_are_stored_once_redacted_with_stable_identity(home):
    con = db(home)
    files = dict(con.execute("SELECT source_file, n_answers FROM files WHERE status = 'ingested'").fetchall())
    assert set(files) == {"staff_survey.csv", "public_survey.csv"} and files["staff_survey.csv"] == 60
    ids = {r[0] for r in con.execute("SELECT respondent_id FROM answers WHERE source = 'public'").fetchall()}
    assert "104833363" in ids and not any(i.endswith(".0") for i in ids)
    texts = " ".join(r[0] for r in con.execute("SELECT text FROM answers").fetchall())
    assert "07700 900" not in texts and "@example" not in texts
    sources = dict(con.execute("SELECT source, count(*) FROM answers GROUP BY source").fetchall())
    assert set(sources) == {"public", "staff"}


def test_report_schema_and_traceable_evidence(home):
    doc = report(home)
    assert doc["heading"].startswith("When we asked people")
    codes = [c["code"] for c in doc["categories"]]
    assert codes == ["AIM1", "AIM2", "AIM3", "ENA", "ENB", "ENC", "END"]
    t = doc["totals"]  # the headline's bracket counts people, as it says; answers beside it
    assert sum(t["by_source"].values()) == t["people"] < t["answers"] == sum(t["answers_by_source"].values())
    con = db(home)
    known = {tuple(r) for r in con.execute("SELECT source_file, respondent_id, question FROM answers").fetchall()}
    n_statements = 0
    for c in doc["categories"]:
        assert {"code", "title", "n_responses", "statements"} <= set(c)
        ns = [s["n"] for s in c["statements"]]
        assert ns == sorted(ns, reverse=True)
        for s in c["statements"]:
            n_statements += 1
            assert 4 <= len(s["text"].split()) <= 15 and "[" not in s["text"]
            assert sum(s["by_source"].values()) == s["n"] > 0
            assert 1 <= len(s["quotes"]) <= 3
            for q in s["quotes"]:
                assert {"text", "source", "source_file", "respondent_id"} <= set(q)
            assert s["answers"] and all((a["source_file"], a["respondent_id"], a["question"]) in known
                                        for a in s["answers"])
            assert len({(a["source_file"], a["respondent_id"]) for a in s["answers"]}) == s["n"]
            # How far the statement speaks for its people, and whether it is printed as one.
            assert 0.0 <= s["agreement"] <= 1.0 and s["mixed"] == (s["agreement"] < 0.15 and not s["named_by_keywords"])
    assert n_statements >= 7
    md = (home / "reports/north-cumbria-2019-2024/they-said.md").read_text()
    assert "When we asked people" in md and "## AIM2" in md


def test_rerun_is_idempotent(home):
    from flows.cli import main

    before = report(home)
    con = db(home)
    n_before = con.execute("SELECT count(*) FROM answers").fetchone()[0]
    con.close()
    assert main(["--home", str(home), "run"]) == 0  # the quarantined file was reported when it was dropped
    con = db(home)
    assert con.execute("SELECT count(*) FROM answers").fetchone()[0] == n_before
    assert report(home) == before
    assert not list((home / "reports").rglob("*.tmp"))


def test_a_killed_run_resumes_to_the_same_result(home, exports, tmp_path):
    """Kill -9 a run part-way (after ingest, during analysis), run again: the database and reports
    equal those of the uninterrupted run, with no duplicates and no half-written files.

    The copy starts from the same model and embedding cache as the reference working area: the
    encoder's float output differs in the 7th decimal with batch composition, which a topic model
    can amplify, so only equal starting states can be compared exactly."""
    other = tmp_path / "home"
    shutil.copytree(home / "data/raw", other / "data/raw", ignore=shutil.ignore_patterns("quarantine"))
    shutil.copytree(home / "config", other / "config")
    shutil.copytree(home / "data/processed/models", other / "data/processed/models")  # same labels: no retraining
    from flows.store import connect

    with connect(other / "data/processed/engage.duckdb") as con:
        con.execute(f"ATTACH '{home / 'data/processed/engage.duckdb'}' AS ref (READ_ONLY)")
        con.execute("INSERT INTO embeddings SELECT * FROM ref.embeddings")
        con.execute("DETACH ref")
    shutil.copy(exports / "broken.xlsx", other / "data/raw/inbox/broken.xlsx")
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL",)}
    env["PREFECT_HOME"] = str(other / ".prefect")
    cmd = [sys.executable, "-m", "flows.cli", "--home", str(other), "run"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    dbfile = other / "data/processed/engage.duckdb"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (other / "data/raw/quarantine").exists():  # ingest is under way
            break
    time.sleep(3)  # part-way: answers are being stored, or classification or themes are under way
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (other / "reports/north-cumbria-2019-2024/they-said.json").exists()
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert rerun.returncode in (0, 1), rerun.stderr  # 1 if the killed run had not yet quarantined broken.xlsx
    assert report(other) == report(home)
    a = duckdb.connect(str(dbfile), read_only=True)
    b = db(home)
    q = "SELECT answer_id, text, duplicate_of FROM answers ORDER BY answer_id"
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    q = "SELECT answer_id, code, round(score, 6), assigned FROM predictions ORDER BY answer_id, code"
    assert a.execute(q).fetchall() == b.execute(q).fetchall()
    assert not list(other.rglob("*.tmp"))


def test_a_file_quarantined_on_a_night_with_no_new_answers_still_reaches_the_report(home, tmp_path):
    """Such a night changes no answer, which used to skip the reports, so they did not list the file."""
    from flows.nightly import nightly_flow

    other = tmp_path / "home"
    shutil.copytree(home, other, ignore=shutil.ignore_patterns("inbox"))
    assert nightly_flow(str(other))["skipped"]  # nothing new at all: nothing redone
    inbox = other / "data/raw/inbox/public"
    inbox.mkdir(parents=True)
    (inbox / "wave-3.csv").write_text("Response ID,Age band\n1,35-44\n2,65+\n")  # no written answers
    assert not nightly_flow(str(other))["skipped"]
    assert "wave-3.csv" in [f["source_file"] for f in report(other)["files"] if f["status"] == "quarantined"]
    assert "wave-3.csv" in (other / "reports/north-cumbria-2019-2024/they-said.md").read_text()


def test_a_small_addition_keeps_last_runs_themes_and_refit_starts_afresh(home, tmp_path):
    """One new answer is far under THEME_REFIT_SHARE of most categories: they keep their themes (ids,
    wording, every old segment's theme) and the new segments join them; --refit-themes refits all."""
    from flows.nightly import nightly_flow

    other = tmp_path / "home"
    shutil.copytree(home, other, ignore=shutil.ignore_patterns("quarantine", "inbox"))
    # Nothing new, but no record of a completed run (as after a kill between themes and reports): every
    # category keeps its themes, and the report is the one the uninterrupted run wrote.
    with duckdb.connect(str(other / "data/processed/engage.duckdb")) as con:
        con.execute("DELETE FROM runs")
    again = nightly_flow(str(other))
    assert not again["skipped"] and not any(s["refitted"] for s in again["analyse"]["themes"].values())
    assert report(other) == report(home)
    q_themes = "SELECT code, theme_id, statement FROM themes ORDER BY ALL"
    q_assigned = "SELECT code, answer_id, seg_index, theme_id, fitted FROM theme_assignments ORDER BY ALL"
    with db(other) as con:
        themes_before, assigned_before = con.execute(q_themes).fetchall(), con.execute(q_assigned).fetchall()
    assert assigned_before and all(fitted for *_, fitted in assigned_before)
    inbox = other / "data/raw/inbox/staff"
    inbox.mkdir(parents=True)
    pd.DataFrame({"response_id": ["NEW-1"], "question": ["What must the health and care system do over the next "
                                                         "five years?"],
                  "text": ["Recruit more nurses and stop relying on agency staff on the wards."]}
                 ).to_csv(inbox / "late_staff.csv", index=False)
    result = nightly_flow(str(other))
    summary = result["analyse"]["themes"]
    kept = [c for c, s in summary.items() if s["themes"] and not s["refitted"]]
    assert kept, summary
    with db(other) as con:
        themes_after, assigned_after = con.execute(q_themes).fetchall(), con.execute(q_assigned).fetchall()
        new_ids = {r[0] for r in con.execute("SELECT answer_id FROM answers WHERE source_file = 'late_staff.csv'")
                   .fetchall()}
    assert len(new_ids) == 1
    before = {(c, a, i): (t, f) for c, a, i, t, f in assigned_before}
    for code in kept:
        assert [r for r in themes_after if r[0] == code] == [r for r in themes_before if r[0] == code]
        ids = {t for c, t, _ in themes_before if c == code}
        for c, a, i, t, fitted in assigned_after:
            if c != code:
                continue
            if a in new_ids:  # a new segment joins one of the kept themes (or none) and was not fitted on
                assert not fitted and (t is None or t in ids)
            else:
                assert before[(c, a, i)] == (t, fitted)
    assert any(a in new_ids for _, a, *_ in assigned_after), "the new answer should speak to some category"

    refit = nightly_flow(str(other), refit_themes=True)
    assert not refit["skipped"]
    assert all(s["refitted"] for s in refit["analyse"]["themes"].values() if s["segments"])
    with db(other) as con:
        assert all(f for (f,) in con.execute("SELECT fitted FROM theme_assignments").fetchall())
        now = {t for (t,) in con.execute("SELECT theme_id FROM themes").fetchall()}
    # A theme the refit numbered afresh says where its answers were; one gone, where they went.
    from flows.report import build_changes

    doc = build_changes(str(other), None)
    assert doc["classifier_retrained"] is None  # the same model since the run before
    changes = doc["changes"]
    assert {e["theme_id"] for e in changes if e["change"] != "vanished"} == now
    for e in changes:
        assert ("from_themes" in e) <= (e["change"] == "new") and ("to_themes" in e) <= (e["change"] == "vanished")
        for t in e.get("from_themes", []):
            assert t["theme_id"] in {tid for _, tid, _ in themes_after} and 0.25 <= t["share"] <= 1
        for t in e.get("to_themes", []):
            assert t["theme_id"] in now
        # Shares are of the theme's sentences, each in one theme: together never more than all of them.
        assert sum(t["share"] for t in e.get("to_themes", []) + e.get("from_themes", [])) <= 1.0 + 1e-9


def test_export_responses_csv(home, tmp_path):
    from flows.cli import main

    out = tmp_path / "answers.csv"
    assert main(["--home", str(home), "export", "responses", "--out", str(out)]) == 0
    df = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(df.columns[:6]) == ["source_file", "respondent_id", "question", "source", "text", "labels"]
    assert {"score_AIM1", "score_OTHER", "theme"} <= set(df.columns)
    assert len(df) == db(home).execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
    assert (df["labels"] != "").all()
    assert not df["text"].str.match(r"^[=+@]").any()


def test_quotes_and_report_commands(home, capsys):
    from flows.cli import main

    assert main(["--home", str(home), "quotes", "--category", "ENA", "--source", "staff", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("— staff") == 3
    assert ".csv" not in out and "#" not in out  # no file or respondent id on screen: it may be pasted
    assert main(["--home", str(home), "quotes", "--category", "NOPE"]) == 1
    assert "not a category" in capsys.readouterr().err
    assert main(["--home", str(home), "quotes", "--theme", "AIM9-1"]) == 1
    err = capsys.readouterr().err
    assert "there is no theme 'AIM9-1'" in err and "AIM1-1" in err
    assert main(["--home", str(home), "quotes", "--category", "OTHER"]) == 1
    assert "no themes, so no quotes" in capsys.readouterr().err
    assert main(["--home", str(home), "report", "--format", "md"]) == 0
    assert "they-said.md" in capsys.readouterr().out
    # Another system's taxonomy, never run here: a clear error, not a report of zeros.
    for command in (["report", "--format", "md"], ["quotes"]):
        assert main(["--home", str(home), *command, "--taxonomy", "cumbria-system-objectives"]) == 1
        err = capsys.readouterr().err
        assert "cumbria-system-objectives has not been run" in err and "--taxonomy north-cumbria-2019-2024" in err
    assert not (home / "reports/cumbria-system-objectives").exists()


def test_quotes_filters_search_and_docx(home, capsys, tmp_path):
    from docx import Document
    from flows.cli import main

    assert main(["--home", str(home), "quotes", "--about", "waiting for an ambulance", "-n", "2", "--format", "csv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert len(df) == 2 and df["quote"].str.contains("ambulance", case=False).any()
    assert main(["--home", str(home), "quotes", "--locality", "CA28", "-n", "50", "--format", "csv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert len(df) > 0 and df["attribution"].str.startswith("member of the public, CA28").all()
    out = tmp_path / "q.docx"
    assert main(["--home", str(home), "quotes", "--category", "AIM3", "-n", "3", "--format", "docx", "--out", str(out)]) == 0
    assert sum(p.style.name == "Quote" for p in Document(str(out)).paragraphs) == 3
    capsys.readouterr()
    # Quotes with redacted personal details only on request, and the same words once.
    assert main(["--home", str(home), "quotes", "-n", "5000", "--format", "csv"]) == 0
    plain = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert not plain["quote"].str.contains(r"\[(?:NAME|PHONE|EMAIL|ADDRESS)\]").any()
    assert not plain["quote"].str.casefold().duplicated().any()
    about = ["--home", str(home), "quotes", "--source", "staff", "--about", "the only reason I stayed", "-n", "3",
             "--format", "csv"]
    assert main(about) == 0
    assert "[NAME] on 5B" not in capsys.readouterr().out
    assert main(about + ["--with-redacted"]) == 0
    assert "[NAME] on 5B is the only reason I stayed" in capsys.readouterr().out


def test_quotes_about_finds_a_sentence_close_to_no_theme(home, capsys):
    """A search by meaning covers every classified sentence: one that joined no theme is still found,
    and says it is in none (it used to be invisible to `engage quotes`)."""
    from flows.cli import main

    con = db(home)
    row = con.execute("""SELECT a.code, s.text FROM theme_assignments a JOIN segments s USING (answer_id, seg_index)
                         WHERE a.theme_id IS NULL AND length(s.text) > 40 AND NOT regexp_matches(s.text, '\\[[A-Z]+\\]')
                         ORDER BY a.answer_id, a.seg_index LIMIT 1""").fetchone()
    con.close()
    assert row is not None, "the sample run should leave some sentence in no theme"
    code, text = row
    assert main(["--home", str(home), "quotes", "--category", code, "--about", text, "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert text.rstrip(" ;,") in out and f"{code}, close to none of its themes" in out


def test_sentiment_per_answer_and_segment_in_counts_quotes_and_export(home, capsys, tmp_path):
    from flows.cli import main

    con = db(home)
    per_answer = con.execute("SELECT count(*), count(DISTINCT sentiment) FROM sentiments WHERE seg_index = -1").fetchone()
    counted = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
    segs = con.execute("SELECT count(*) FROM sentiments s JOIN segments g USING (answer_id, seg_index)").fetchone()[0]
    values = {v for (v,) in con.execute("SELECT DISTINCT sentiment FROM sentiments").fetchall()}
    con.close()
    assert per_answer[0] == counted and per_answer[1] >= 2 and segs > counted
    assert values <= {"negative", "neutral", "positive", "mixed"}
    for c in report(home)["categories"]:
        for s in c["statements"]:  # each person counted once in the breakdown
            assert sum(s["by_sentiment"].values()) == s["n"]
    assert "Their tone:" in (home / "reports/north-cumbria-2019-2024/they-said.md").read_text()
    assert main(["--home", str(home), "quotes", "--sentiment", "negative", "-n", "5", "--format", "csv"]) == 0
    df = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype=str)
    assert len(df) > 0 and (df["sentiment"] == "negative").all()
    assert main(["--home", str(home), "export", "responses", "--out", str(tmp_path / "r.csv")]) == 0
    exported = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert set(exported["sentiment"]) <= {"negative", "neutral", "positive", "mixed"} and len(set(exported["sentiment"])) >= 2


def test_same_answers_in_two_exports_count_once(tmp_path, exports, prefect_harness):
    """The SmartSurvey export and the labelled copy of the same public answers: each counted once."""
    from flows.ingest import ingest_flow

    home = make_home(tmp_path, with_labels=False)
    lab = pd.read_csv(SAMPLE / "labelled_responses.csv", dtype=str, keep_default_na=False)
    pub = lab[lab["source"] == "public"].head(40)  # the first 40 public answers (from the first respondents)
    pub.to_csv(tmp_path / "labelled_copy.csv", index=False)
    result = ingest_flow(str(home), [str(tmp_path / "labelled_copy.csv"), str(exports / "public_survey.csv")], "public")
    con = db(home)
    counted = con.execute("SELECT source_file, count(*) FROM answers WHERE duplicate_of IS NULL GROUP BY 1").fetchall()
    total_public = con.execute("SELECT count(*) FROM answers WHERE source_file = 'public_survey.csv'").fetchone()[0]
    assert result["duplicates"] == result["copies"] == 40 and result["double_submissions"] == 0
    assert dict(counted) == {"public_survey.csv": total_public}


def test_cli_help_reads_like_a_manual(capsys):
    from flows.cli import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for word in ("ingest", "train", "run", "export", "report", "quotes", "serve", "working area", "data/raw"):
        assert word in out


def test_cli_mistakes_get_one_line_and_create_nothing(home, tmp_path, capsys):
    from flows.cli import main

    typo = tmp_path / "no-such-home"
    for argv in (["report"], ["quotes", "--about", "parking"], ["review", "export", str(tmp_path / "r.xlsx")]):
        assert main(["--home", str(typo), *argv]) == 1
        assert "check --home" in capsys.readouterr().err
    assert not typo.exists()  # a mistyped --home is not made into a new, empty working area
    assert main(["--home", str(home), "report", "--format", "pdf"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("engage: unknown report format(s) pdf") and "Traceback" not in err
    assert main(["--home", str(home), "report", "--taxonomy", "nosuch"]) == 1
    assert "north-cumbria-2019-2024" in capsys.readouterr().err


def test_review_round_trip_retrains_and_reports_the_f1_change(home, tmp_path, capsys):
    """Last in this module: it changes the labelled data of the shared working area."""
    from openpyxl import load_workbook

    from flows.cli import main

    # Every answer of the shared area is labelled already: a new export brings answers to review.
    lab = pd.read_csv(SAMPLE / "labelled_responses.csv", dtype=str, keep_default_na=False)
    new = lab[lab["source"] == "partner"].head(20)[["response_id", "question", "text"]]
    new.assign(text=new["text"] + " Thank you for asking.").to_csv(tmp_path / "partners.csv", index=False)
    assert main(["--home", str(home), "ingest", str(tmp_path / "partners.csv"), "--source", "partner"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "run"]) == 0
    out = capsys.readouterr().out  # user test 6: it said "unchanged", though new since the last report
    assert re.search(r"new  partners\.csv  \(20 answers\)\n\s+note: read by `engage ingest` since the last report", out)
    assert re.search(r"unchanged  staff_survey\.csv", out)
    xlsx = tmp_path / "review.xlsx"
    assert main(["--home", str(home), "review", "export", str(xlsx), "-n", "5", "--sample", "2"]) == 0
    wb = load_workbook(xlsx)
    ws = wb["review"]
    header = [c.value for c in ws[1]]
    assert header[:7] == ["answer_id", "source", "question", "text", "predicted", "labels", "notes"]
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 7 and [r[7].value for r in rows].count("random sample") == 2
    rows[0][5].value = "AIM3"
    rows[1][5].value = "enb, end"  # officers type what they type
    wb.save(xlsx)
    capsys.readouterr()
    assert main(["--home", str(home), "review", "import", str(xlsx)]) == 0
    assert "imported 2 reviewed answers" in capsys.readouterr().out
    imported = pd.read_csv(next((home / "data/raw/labels/north-cumbria-2019-2024").glob("review-*.csv")), dtype=str)
    assert imported["labels"].tolist() == ["AIM3", "ENB;END"]
    bad = tmp_path / "bad.xlsx"
    rows[0][5].value = "AIM9"
    wb.save(bad)
    assert main(["--home", str(home), "review", "import", str(bad)]) == 1
    assert "AIM9" in capsys.readouterr().err
    main(["--home", str(home), "run"])
    out = capsys.readouterr().out
    assert "retrained" in out and "was " in out and "macro" in out
    # changes.md says the classifier changed at this run, before the theme changes it may explain.
    changes = (home / "reports/north-cumbria-2019-2024/changes.md").read_text()
    assert "The classifier changed at this run: now trained on" in changes
    # The reviewed answers are filed as the officer said, whatever the retrained model makes of them;
    # the export says whose labels each answer has, and the report how many a person filed.
    reviewed = {rows[0][0].value: {"AIM3"}, rows[1][0].value: {"ENB", "END"}}

    def filed() -> dict:
        with db(home) as con:
            got = con.execute("SELECT answer_id, code FROM predictions WHERE taxonomy_id = 'north-cumbria-2019-2024' "
                              "AND assigned AND answer_id IN (?, ?)", list(reviewed)).fetchall()
        return {a: {c for b, c in got if b == a} for a in reviewed}
    assert filed() == reviewed
    assert main(["--home", str(home), "export", "responses", "--out", str(tmp_path / "r.csv")]) == 0
    out = pd.read_csv(tmp_path / "r.csv", dtype=str, keep_default_na=False)
    assert set(out["labels_from"]) == {"person", "classifier"}  # 2019's labels file every answer but the partners'
    assert report(home)["classifier"]["coder_labelled"] == (out["labels_from"] == "person").sum()
    assert "filed under the categories a person gave them" in \
        (home / "reports/north-cumbria-2019-2024/they-said.md").read_text()
    # A label taken back gives the classifier's decision again, at the next run.
    for f in (home / "data/raw/labels/north-cumbria-2019-2024").glob("review-*.csv"):
        f.unlink()
    assert main(["--home", str(home), "run"]) == 0
    with db(home) as con:
        assert con.execute("SELECT count(*) FROM coder_labels WHERE answer_id IN (?, ?)", list(reviewed)).fetchone()[0] == 0
        scores = con.execute("SELECT answer_id, code, score FROM predictions WHERE taxonomy_id = "
                             "'north-cumbria-2019-2024' AND answer_id IN (?, ?)", list(reviewed)).df()
    from flows.settings import resolve_taxonomy, workspace
    from flows.train import load_model

    tax = resolve_taxonomy(None, home)
    clf, _ = load_model(workspace(home), tax)
    matrix = scores.pivot(index="answer_id", columns="code", values="score").reindex(index=list(reviewed),
                                                                                     columns=tax.codes)
    decided = clf.decide(matrix.to_numpy())
    assert filed() == {a: {c for c, on in zip(tax.codes, row) if on} for a, row in zip(reviewed, decided)}


def test_inbox_reports_double_submissions_and_mappings(tmp_path, prefect_harness, capsys):
    """Documents dropped in inbox/<source>/, a double submission counted once, a column mapping
    from config/sources.yaml, and `engage inspect` - all without training anything."""
    from flows.cli import main
    from flows.ingest import ingest_flow

    fx = REPO / "tests/fixtures/exports"
    home = make_home(tmp_path, with_labels=False)
    (home / "data/raw/inbox/healthwatch").mkdir(parents=True)
    shutil.copy(fx / "healthwatch_event_notes.docx", home / "data/raw/inbox/healthwatch/")
    shutil.copy(fx / "double_submissions.csv", home / "data/raw/double_submissions.csv")
    (home / "config").mkdir()
    (home / "config/sources.yaml").write_text(yaml.safe_dump({"files": [{
        "pattern": "double_submissions.csv", "source": "public",
        "mapping": {"questions": ["Q1. What matters most to you about health and care?"]}}]}))
    result = ingest_flow(str(home))
    assert {r["file"]: r["status"] for r in result["files"]} == {"healthwatch_event_notes.docx": "ingested",
                                                                  "double_submissions.csv": "ingested"}
    con = db(home)
    rows = dict(con.execute("SELECT source_file, count(*) FROM answers GROUP BY 1").fetchall())
    assert rows == {"healthwatch_event_notes.docx": 10, "double_submissions.csv": 10}  # Q2 left out by the mapping
    counted = con.execute("SELECT count(*) FROM answers WHERE source_file = 'double_submissions.csv' "
                          "AND duplicate_of IS NULL").fetchone()[0]
    assert counted < 10
    assert con.execute("SELECT DISTINCT source FROM answers WHERE source_file LIKE '%.docx'").fetchall() == [("healthwatch",)]
    meta = json.loads(con.execute("SELECT metadata FROM answers WHERE source_file LIKE '%.docx' LIMIT 1").fetchone()[0])
    assert "Venue" in meta or "Event" in meta
    assert con.execute("SELECT layout FROM files WHERE source_file LIKE '%.docx'").fetchone()[0] == "document"
    con.close()
    assert main(["--home", str(home), "inspect", str(fx / "double_submissions.csv")]) == 0
    out = capsys.readouterr().out
    assert "double submission" in out and "flagged" in out and "Q2. What should we do" in out
    assert main(["--home", str(home), "inspect", str(fx / "no_free_text.csv")]) == 1
    assert "no_free_text.csv" in capsys.readouterr().err


def test_segments_cut_by_another_segmenter_version_are_cut_again(tmp_path, prefect_harness):
    """A store keeps what an older version cut; the new version cuts those answers again where it
    cuts them differently, and drops what was derived from the old segments, so a store never
    mixes two ways of cutting (here: a list typed on two lines, once one segment)."""
    from flows.ingest import ingest_flow
    from nlp.preprocess import SEGMENTER_VERSION

    home = make_home(tmp_path, with_labels=False)
    export = tmp_path / "lists.csv"
    pd.DataFrame({"respondent_id": ["1", "2"],
                  "text": ["- More GPs in Barrow\n- Keep A&E open at night",
                           "Keep the maternity unit at Whitehaven open please"]}).to_csv(export, index=False)
    assert ingest_flow(str(home), [str(export)], "public")["recut"] == 0
    path = str(home / "data/processed/engage.duckdb")
    with duckdb.connect(path) as con:
        listed = con.execute("SELECT answer_id FROM answers WHERE respondent_id = '1'").fetchone()[0]
        assert con.execute("SELECT list(text ORDER BY seg_index) FROM segments WHERE answer_id = ?",
                           [listed]).fetchone()[0] == ["More GPs in Barrow", "Keep A&E open at night"]
        # As the version before kept them: the list as one segment, no version, and a score from it.
        con.execute("DELETE FROM segments WHERE answer_id = ?", [listed])
        con.execute("INSERT INTO segments VALUES (?, 0, ?, 'x', 'x', NULL)",
                    [listed, "- More GPs in Barrow\n- Keep A&E open at night"])
        con.execute("UPDATE segments SET segmenter = NULL")
        con.execute("INSERT INTO segment_scores VALUES ('north-cumbria-2019-2024', ?, 0, 'AIM2', 0.9)", [listed])
    again = ingest_flow(str(home), [str(export)], "public")
    assert again["recut"] == 1
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT list(text ORDER BY seg_index) FROM segments WHERE answer_id = ?",
                           [listed]).fetchone()[0] == ["More GPs in Barrow", "Keep A&E open at night"]
        assert con.execute("SELECT DISTINCT segmenter FROM segments").fetchall() == [(SEGMENTER_VERSION,)]
        assert con.execute("SELECT count(*) FROM segment_scores WHERE answer_id = ?", [listed]).fetchone()[0] == 0
    assert ingest_flow(str(home), [str(export)], "public")["recut"] == 0


def test_answers_that_say_nothing_are_told_again_in_a_store_an_older_version_read(tmp_path, prefect_harness):
    """An older version counted "See previous answer" as something said: the next ingest flags it
    empty, and drops its segments and scores, so it is neither counted nor themed."""
    from flows.ingest import ingest_flow

    home = make_home(tmp_path, with_labels=False)
    export = tmp_path / "nothing.csv"
    pd.DataFrame({"respondent_id": ["1", "2"],
                  "text": ["See previous answer", "Keep the maternity unit at Whitehaven open please"]}
                 ).to_csv(export, index=False)
    assert ingest_flow(str(home), [str(export)], "public")["empty_flags_changed"] == 0
    path = str(home / "data/processed/engage.duckdb")
    with duckdb.connect(path) as con:
        said = con.execute("SELECT answer_id FROM answers WHERE respondent_id = '1'").fetchone()[0]
        con.execute("UPDATE answers SET is_empty = false WHERE answer_id = ?", [said])
        con.execute("INSERT INTO segments VALUES (?, 0, 'See previous answer', 'x', 'x', NULL)", [said])
        con.execute("INSERT INTO segment_scores VALUES ('north-cumbria-2019-2024', ?, 0, 'AIM2', 0.9)", [said])
    assert ingest_flow(str(home), [str(export)], "public")["empty_flags_changed"] == 1
    with duckdb.connect(path, read_only=True) as con:
        assert con.execute("SELECT is_empty FROM answers WHERE answer_id = ?", [said]).fetchone()[0]
        for table in ("segments", "segment_scores"):
            assert con.execute(f"SELECT count(*) FROM {table} WHERE answer_id = ?", [said]).fetchone()[0] == 0
    assert ingest_flow(str(home), [str(export)], "public")["empty_flags_changed"] == 0


def test_review_export_lists_the_same_words_once(tmp_path, prefect_harness):
    """Several people typing the same words is one text to label: a user's export of 120 rows held 94 texts."""
    from openpyxl import load_workbook

    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)  # labelled answers are not listed again
    lab = pd.read_csv(SAMPLE / "labelled_responses.csv", dtype=str, keep_default_na=False)
    texts = lab[lab["source"] == "public"]["text"].iloc[100:124].tolist()
    texts += texts[:6]  # six people wrote what others wrote, word for word
    export = tmp_path / "repeats.csv"
    pd.DataFrame({"respondent_id": [f"R{i}" for i in range(len(texts))], "text": texts}).to_csv(export, index=False)
    assert main(["--home", str(home), "ingest", str(export), "--source", "public"]) == 0
    assert main(["--home", str(home), "run"]) == 0
    xlsx = tmp_path / "review.xlsx"
    assert main(["--home", str(home), "review", "export", str(xlsx), "-n", "500", "--sample", "0"]) == 0
    listed = [r[3].value for r in load_workbook(xlsx)["review"].iter_rows(min_row=2)]
    assert len(listed) == len({" ".join(str(t).casefold().split()) for t in listed})
    assert {str(t) for t in texts[:6]} <= {str(t).lstrip("'") for t in listed}


def test_a_first_night_with_no_answers_says_what_to_do_and_writes_no_report(tmp_path, prefect_harness, capsys):
    """Day one: nothing dropped yet, then only a file that must be quarantined. Both used to end in a
    KeyError traceback from the themes stage; now neither writes a report of zeros."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    assert main(["--home", str(home), "run"]) == 0
    out = capsys.readouterr().out
    assert "no answers to analyse yet, so no report" in out and str(home / "data/raw/inbox") in out
    (home / "data/raw/inbox").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "tests/fixtures/bad/no_free_text.csv", home / "data/raw/inbox/no_free_text.csv")
    assert main(["--home", str(home), "run"]) == 1
    captured = capsys.readouterr()
    assert "QUARANTINED no_free_text.csv" in captured.err
    assert captured.err.count("no_free_text.csv") == 1  # user test 8: "X: X has no column …"
    assert "after fixing the quarantined files above" in captured.out and "Traceback" not in captured.err
    assert not (home / "reports/north-cumbria-2019-2024").exists()
    assert main(["--home", str(home), "report"]) == 1  # no report of zeros on request either
    assert "no answers in this working area yet" in capsys.readouterr().err
    for command in (["review", "export", str(tmp_path / "r.xlsx")], ["export", "responses", "--out", str(tmp_path / "r.csv")]):
        assert main(["--home", str(home), *command]) == 1
        assert "no answers in this working area yet" in capsys.readouterr().err
    assert not (home / "reports/north-cumbria-2019-2024").exists()


def test_a_working_area_remembers_the_taxonomy_it_ran(tmp_path, prefect_harness, capsys):
    """User test 3 ran `engage run --taxonomy westmorland.yaml`, then forgot --taxonomy once: the night
    analysed Westmorland's answers under North Cumbria's aims, and the file's id was unknown."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    mine = tmp_path / "our-objectives.yaml"
    tax = yaml.safe_load((REPO / "config/taxonomies/cumbria-system-objectives.yaml").read_text())
    mine.write_text(yaml.safe_dump({**tax, "id": "our-objectives"}))
    lab = pd.read_csv(REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv", dtype=str,
                      keep_default_na=False)
    lab[lab["source"] == "staff"].head(30)[["response_id", "question", "text"]].to_csv(tmp_path / "s.csv", index=False)
    assert main(["--home", str(home), "ingest", str(tmp_path / "s.csv"), "--source", "staff"]) == 0
    assert main(["--home", str(home), "run", "--taxonomy", str(mine)]) == 0
    assert (home / "config/taxonomies/our-objectives.yaml").read_text() == mine.read_text()
    assert "later commands here can give --taxonomy our-objectives" in capsys.readouterr().err
    assert main(["--home", str(home), "report", "--format", "md"]) == 0
    assert "the one this working area last ran" in capsys.readouterr().err
    assert (home / "reports/our-objectives/they-said.md").exists()
    assert not (home / "reports/north-cumbria-2019-2024").exists()
    assert main(["--home", str(home), "quotes", "--taxonomy", "our-objectives", "-n", "1"]) == 0


def test_the_taxonomy_of_a_first_night_with_no_answers_is_remembered(tmp_path, prefect_harness, capsys):
    """User test 4: a first run with --taxonomy found only quarantined files; the next, without it, used
    North Cumbria's aims."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    mine = tmp_path / "our-objectives.yaml"
    shutil.copy(REPO / "config/taxonomies/cumbria-system-objectives.yaml", mine)
    assert main(["--home", str(home), "run", "--taxonomy", str(mine)]) == 0
    lab = pd.read_csv(REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv", dtype=str,
                      keep_default_na=False)
    (home / "data/raw/inbox/staff").mkdir(parents=True, exist_ok=True)
    lab[lab["source"] == "staff"].head(20)[["response_id", "question", "text"]].to_csv(
        home / "data/raw/inbox/staff/s.csv", index=False)
    capsys.readouterr()
    assert main(["--home", str(home), "run"]) == 0
    assert "taxonomy: cumbria-system-objectives, the one this working area last ran" in capsys.readouterr().err
    assert (home / "reports/cumbria-system-objectives/they-said.md").exists()
    assert not (home / "reports/north-cumbria-2019-2024").exists()


def test_a_taxonomy_that_lists_its_questions_summarises_only_their_answers(tmp_path, prefect_harness, capsys):
    """User test 4: a staff survey's "What does the Trust do well?" was summarised under "When we asked
    our staff what would make the Trust a better place to work, they said:"."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    tax = yaml.safe_load((REPO / "config/taxonomies/north-cumbria-2019-2024.yaml").read_text())
    tax["id"], tax["questions"] = "better-place-to-work", ["better place to work"]
    (tmp_path / "tax.yaml").write_text(yaml.safe_dump(tax))
    lab = pd.read_csv(REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv", dtype=str,
                      keep_default_na=False)
    staff = lab[lab["source"] == "staff"].head(40)[["response_id", "question", "text"]]
    staff.to_csv(tmp_path / "staff.csv", index=False)
    covered = staff["question"].str.contains("better place to work").sum()
    assert 0 < covered < len(staff)
    assert main(["--home", str(home), "ingest", str(tmp_path / "staff.csv"), "--source", "staff"]) == 0
    # A report's section headings are no survey questions: its 10 passages count (user test 6 lost a
    # Healthwatch report whole under "answers to other questions").
    assert main(["--home", str(home), "ingest", str(REPO / "tests/fixtures/exports/healthwatch_event_notes.docx"),
                 "--source", "healthwatch"]) == 0
    assert main(["--home", str(home), "run", "--taxonomy", str(tmp_path / "tax.yaml")]) == 0
    out_dir = home / "reports/better-place-to-work"
    doc = json.loads((out_dir / "they-said.json").read_text())
    assert doc["totals"]["answers"] == covered + 10
    sections = {"GP appointments", "Getting to hospital", "Comments recorded at the event"}
    left = doc["totals"]["other_questions"]
    assert sum(q["answers"] for q in left) == len(staff) - covered
    assert all("better place to work" not in q["question"] for q in left)
    assert "to other questions" in (out_dir / "they-said.md").read_text()
    for c in doc["categories"]:
        for s in c["statements"]:
            assert all("better place to work" in a["question"] or a["question"] in sections for a in s["answers"])
    out = tmp_path / "r.csv"
    assert main(["--home", str(home), "export", "responses", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == covered + 10


def test_a_taxonomy_whose_questions_match_no_answer_says_so_and_changes_nothing(tmp_path, prefect_harness, capsys):
    """A final review: `questions: ["zzz"]` crashed the run with tracebacks and deleted the predictions."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    lab = pd.read_csv(REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv", dtype=str,
                      keep_default_na=False)
    lab[lab["source"] == "staff"].head(20)[["response_id", "question", "text"]].to_csv(tmp_path / "s.csv", index=False)
    assert main(["--home", str(home), "ingest", str(tmp_path / "s.csv"), "--source", "staff"]) == 0
    tax = yaml.safe_load((REPO / "config/taxonomies/cumbria-system-objectives.yaml").read_text())
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({**tax, "id": "our-aims", "questions": ["zzz no such question"]}))
    capsys.readouterr()
    assert main(["--home", str(home), "run", "--taxonomy", str(tmp_path / "t.yaml")]) == 1
    err = capsys.readouterr().err
    assert "no answer is to a question containing 'zzz no such question'" in err and "Traceback" not in err
    assert "better place to work" in err  # the questions there are
    assert not (home / "reports/our-aims").exists()


def test_a_draft_with_a_shipped_taxonomy_s_id_is_used_but_never_saved_over_it(tmp_path, prefect_harness, capsys):
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    (home / "config/taxonomies").mkdir(parents=True)
    draft = yaml.safe_load((REPO / "config/taxonomies/north-cumbria-2019-2024.yaml").read_text())
    (tmp_path / "draft.yaml").write_text(yaml.safe_dump({**draft, "questions": ["next five years"]}))
    assert main(["--home", str(home), "train", "--taxonomy", str(tmp_path / "draft.yaml")]) == 0
    assert "ships with engage: used for this command only, not saved" in capsys.readouterr().err
    assert not (home / "config/taxonomies/north-cumbria-2019-2024.yaml").exists()
