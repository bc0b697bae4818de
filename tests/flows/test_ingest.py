"""Quarantine keeps every bad file and lets a fixed one in: `engage ingest` through Prefect's harness."""
from __future__ import annotations

from pathlib import Path

import duckdb

from tests.conftest import make_home


def answers(home: Path) -> int:
    with duckdb.connect(str(home / "data/processed/engage.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM answers").fetchone()[0]


def test_a_quarantined_file_is_kept_beside_its_namesake_and_ingested_once_its_source_is_given(
        tmp_path, prefect_harness, capsys):
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    first, second = tmp_path / "a" / "survey.csv", tmp_path / "b" / "survey.csv"
    first.parent.mkdir(), second.parent.mkdir()
    first.write_text("Response ID,What should we do over the next five years?\n"
                     "1,More GP appointments in the evenings please\n2,Keep the minor injuries unit open\n")
    second.write_text("Response ID,Age band\n1,35-44\n2,65+\n")
    # No source column and none given: quarantined, with a reason that says how to give it.
    assert main(["--home", str(home), "ingest", str(first)]) == 1
    q = home / "data/raw/quarantine"
    reason = (q / "survey.csv.reason.txt").read_text()
    assert not list((home / "data/raw/store").glob("*"))  # its store copy went, folder and all
    assert "--source" in reason and "data/raw/inbox/public/, inbox/staff/" in reason and reason.endswith("\n")
    # A different bad file with the same name does not overwrite the first.
    assert main(["--home", str(home), "ingest", str(second), "--source", "public"]) == 1
    kept = sorted(p.read_bytes() for p in q.iterdir() if not p.name.endswith(".reason.txt"))
    assert kept == sorted([first.read_bytes(), second.read_bytes()])
    assert len(list(q.glob("*.reason.txt"))) == 2
    # The same bytes again say the same thing, without a second read...
    assert main(["--home", str(home), "ingest", str(first)]) == 1
    # ...but with the source the reason asked for, the file goes in, once, and leaves quarantine
    # (its namesake, still unread, stays).
    assert main(["--home", str(home), "ingest", str(first), "--source", "public"]) == 0
    assert "its quarantined copy (survey.csv) and reason were removed" in capsys.readouterr().out
    assert main(["--home", str(home), "ingest", str(first), "--source", "public"]) == 0
    assert answers(home) == 2
    left = [p for p in q.iterdir() if not p.name.endswith(".reason.txt")]
    assert [p.read_bytes() for p in left] == [second.read_bytes()] and len(list(q.glob("*.reason.txt"))) == 1


def test_the_encoder_starts_loading_only_when_a_night_has_an_export_to_read(tmp_path, prefect_harness, monkeypatch):
    import flows.ingest as fi

    started: list[int] = []
    monkeypatch.setattr(fi, "preload_encoder", lambda: started.append(1))
    home = make_home(tmp_path, with_labels=False)
    inbox = home / "data/raw/inbox/public"
    inbox.mkdir(parents=True)
    header = "Response ID,What should we do over the next five years?\n"
    (inbox / "wave-1.csv").write_text(header + "1,More GP appointments in the evenings please\n")
    fi.ingest_flow(str(home), encode_next=True)
    assert started == [1] and answers(home) == 1
    # Nothing new: nothing to read, so nothing to encode and no encoder to load.
    fi.ingest_flow(str(home), encode_next=True)
    assert started == [1]
    # A standalone ingest encodes nothing, so it never loads the encoder.
    (inbox / "wave-2.csv").write_text(header + "2,Keep the minor injuries unit open\n")
    fi.ingest_flow(str(home))
    assert started == [1] and answers(home) == 2


def test_a_column_left_out_is_noted_and_the_mapping_the_note_suggests_reads_the_file_again(
        tmp_path, prefect_harness, capsys):
    from flows.cli import main
    from tests.nlp.test_ingest import _survey_with_a_repetitive_open_question

    home = make_home(tmp_path, with_labels=False)
    survey = tmp_path / "survey.csv"
    survey.write_bytes(_survey_with_a_repetitive_open_question())
    assert main(["--home", str(home), "ingest", str(survey), "--source", "public"]) == 0
    out = capsys.readouterr().out
    assert "note: 'Q2. Final remarks' reads like written answers" in out
    assert answers(home) == 40
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(out.split("column mapping (")[1].split(") and ingest")[0] + "\n")
    # The same bytes with the suggested mapping are read again, now with both questions...
    assert main(["--home", str(home), "ingest", str(survey), "--mapping", str(mapping)]) == 0
    out = capsys.readouterr().out
    assert "ingested  survey.csv  (80 answers)" in out and "note:" not in out
    assert answers(home) == 80
    # ...once: the same mapping again, or a night without one, changes nothing.
    assert main(["--home", str(home), "ingest", str(survey), "--mapping", str(mapping)]) == 0
    assert "unchanged  survey.csv  (80 answers)" in capsys.readouterr().out
    import flows.ingest as fi
    fi.ingest_flow(str(home))
    assert answers(home) == 80


def test_the_same_bytes_under_another_extension_are_stored_once(tmp_path, prefect_harness, capsys):
    """A user's renamed copy ('forms export copy.csv' of an .xlsx) left a second copy in the store."""
    from flows.cli import main

    home = make_home(tmp_path, with_labels=False)
    data = "Response ID,What should we do over the next five years?\n1,More GP appointments in the evenings please\n"
    first, copy = tmp_path / "survey.csv", tmp_path / "survey copy.txt"
    first.write_text(data)
    copy.write_text(data)
    assert main(["--home", str(home), "ingest", str(first), "--source", "public"]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "ingest", str(copy), "--source", "public"]) == 0
    assert "survey copy.txt is the same file as survey.csv, already in" in capsys.readouterr().out
    stored = [p.name for p in (home / "data/raw/store").rglob("*") if p.is_file()]
    assert len(stored) == 2 and sum(n.endswith(".meta.json") for n in stored) == 1 and answers(home) == 1
    # The same from the inbox, as a browser names a second download.
    from flows.ingest import ingest_flow

    (home / "data/raw/inbox/public").mkdir(parents=True)
    (home / "data/raw/inbox/public/survey (1).csv").write_text(data)
    assert ingest_flow(str(home))["renamed_copies"] == [{"file": "survey (1).csv", "same_as": "survey.csv"}]


def test_full_postcodes_in_a_metadata_column_are_stored_as_their_district():
    """Redaction before storage keeps where people live to the district (what the reports print),
    while a postcode inside an answer is still redacted whole."""
    import json

    import pandas as pd

    from flows.ingest import redact_chunk

    answers = pd.DataFrame({"respondent_id": ["1", "2"], "question": ["Q"] * 2, "source": ["public"] * 2,
                            "source_file": ["f.csv"] * 2,
                            "text": ["Write to me at LA9 4DT please", "More buses"],
                            "Your postcode": ["LA9 4DT", "la23 1ab"], "Venue": ["Kendal Town Hall", ""]})
    out = redact_chunk.fn(answers)
    assert [json.loads(m).get("Your postcode") for m in out["metadata"]] == ["LA9", "LA23"]
    assert out["text"].iloc[0] == "Write to me at [POSTCODE] please"
