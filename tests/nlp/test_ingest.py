"""Behaviour of nlp.ingest on real-shaped exports (fixtures) and on the shared 2019 data set."""
from __future__ import annotations

import io
import random
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from nlp.ingest import (
    ANSWER_COLUMNS,
    SOURCES,
    ExportInfo,
    IngestError,
    melt_answers,
    normalise_question,
    read_export,
    read_table,
)

EXPORTS = Path(__file__).parents[1] / "fixtures" / "exports"
SHARED = Path(__file__).parents[3] / "shared" / "data" / "engagement-2019"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared data set not found at {SHARED}")

Q1 = "Q1. What matters most to you about health and care?"
Q2 = "Q2. What should we do over the next five years?"
LONG_A = "Longer opening hours at the GP surgery for people who work shifts"
LONG_B = "Keep the maternity unit open at West Cumberland as it is a long way to Carlisle"


def export(name: str, source: str | None = None) -> tuple[pd.DataFrame, ExportInfo]:
    return read_export((EXPORTS / name).read_bytes(), name, source)


def ingest_error(data: bytes, filename: str, source: str | None = "public") -> str:
    with pytest.raises(IngestError) as caught:
        read_export(data, filename, source)
    return str(caught.value)


# --- SmartSurvey wide export (BOM, all fields quoted, CRLF) -----------------------------------------

def test_smartsurvey_layout_and_columns() -> None:
    answers, info = export("smartsurvey_wide.csv", "public")
    assert (info.format, info.encoding, info.delimiter, info.sheet) == ("csv", "utf-8-sig", ",", None)
    assert (info.layout, info.header_rows, info.id_column) == ("wide", 1, "Response ID")
    assert info.question_columns == [Q1, Q2]
    assert info.metadata_columns == ["Started", "Ended", "IP Address", "Q3. Age group",
                                     "Q4. Postcode district"]
    assert info.n_rows == 17  # the blank row between respondents is dropped
    assert list(answers.columns) == ANSWER_COLUMNS + info.metadata_columns + ["layout"]
    assert set(answers["layout"]) == {"wide"}
    assert set(answers["source"]) == {"public"}
    assert set(answers["source_file"]) == {"smartsurvey_wide.csv"}


def test_smartsurvey_answers_drop_only_empty_cells() -> None:
    answers, _ = export("smartsurvey_wide.csv", "public")
    assert len(answers) == 23
    assert not answers["text"].str.strip().str.casefold().isin(["", "n/a", "-"]).any()
    assert "104850001" not in set(answers["respondent_id"])  # answered only "n/a" and "-"
    assert answers.loc[answers["respondent_id"] == "104850004", "text"].tolist() == ["no comment"]
    assert answers.loc[answers["respondent_id"] == "104845663", "text"].tolist() == ["No", "No"]


def test_smartsurvey_rows_follow_respondent_then_question_order() -> None:
    answers, _ = export("smartsurvey_wide.csv", "public")
    first = answers.iloc[:2]
    assert first["respondent_id"].tolist() == ["104833363", "104833363"]
    assert first["question"].tolist() == [Q1, Q2]
    assert first["Q3. Age group"].tolist() == ["55-64", "55-64"]
    assert answers.iloc[2]["Q4. Postcode district"] == "CA13"


def test_answers_are_trimmed_at_the_ends_only() -> None:
    answers, _ = export("smartsurvey_wide.csv", "public")
    by_id = answers.set_index("respondent_id")["text"]
    assert by_id["104850002"] == ("Keep the minor injuries unit in Keswick open at weekends, "
                                  "it saves a 60 mile round trip.")
    assert by_id["104850003"] == ("More district nurses.\r\nMore community beds in Cockermouth.\r\n"
                                  "Fewer trips to Carlisle.")
    assert by_id["104833553"].startswith('My surgery\'s "total triage" means')


def test_read_table_gives_strings_only() -> None:
    table, info = read_table((EXPORTS / "smartsurvey_wide.csv").read_bytes(), "smartsurvey_wide.csv")
    assert all(dtype == "str" for dtype in table.dtypes)
    assert table["Response ID"].iloc[0] == "104833363"
    assert len(table) == info.n_rows
    assert not any(c.startswith("Column ") for c in table.columns)  # trailing empty column dropped


# --- SurveyMonkey: question row then "Response"/"Open-Ended Response" row -----------------------------

def test_surveymonkey_two_header_rows() -> None:
    answers, info = export("surveymonkey_two_header.csv", "public")
    question = "What could we do to improve services in West Cumbria?"
    used = "Which of these services have you used in the last year?"
    assert info.header_rows == 2
    assert info.id_column == "Respondent ID"  # not "Collector ID", which repeats
    assert info.question_columns == [question]
    assert f"{used} - Other (please specify)" in info.metadata_columns
    assert f"{used} - A&E" in info.metadata_columns
    assert "How old are you?" in info.metadata_columns
    assert answers["respondent_id"].tolist() == ["11384622041", "11384629317", "11384655108", "11384671993"]
    assert set(answers["question"]) == {question}
    assert answers.iloc[1]["How old are you?"] == "65-74"


def test_surveymonkey_question_text_is_carried_across_merged_cells() -> None:
    data = ("Respondent ID,Please tell us about your experience,,Age\r\n"
            ",Open-Ended Response,Other (please specify),Response\r\n"
            f"1,{LONG_A},\"I was seen at the community hospital in Keswick, which was quick\",35-44\r\n"
            f"2,{LONG_B},\"The out of hours service took four hours to call me back on a Sunday\",55-64\r\n")
    answers, info = read_export(data.encode(), "sm.csv", "public")
    assert info.question_columns == ["Please tell us about your experience",
                                     "Please tell us about your experience - Other (please specify)"]
    assert set(answers["question"]) == {"Please tell us about your experience"}
    assert len(answers) == 4


# --- Excel: cover sheet first, responses on the second sheet --------------------------------------

def test_xlsx_picks_the_responses_sheet() -> None:
    answers, info = export("mixed_responses.xlsx")
    assert (info.format, info.sheet, info.encoding, info.delimiter) == ("xlsx", "Responses", None, None)
    assert info.id_column == "Reference"
    assert info.source_column == "Respondent type"
    assert info.question_columns == ["What would make health and care in North Cumbria better?"]
    assert info.metadata_columns == ["Date submitted", "Team or organisation", "Score"]
    assert info.n_rows == 7
    assert len(answers) == 6  # 5007 left the question blank


def test_xlsx_numbers_and_dates_read_as_written() -> None:
    answers, _ = export("mixed_responses.xlsx")
    assert answers["respondent_id"].tolist() == ["5001", "5002", "5003", "5004", "5005", "5006"]
    assert answers["Score"].tolist() == ["7", "4", "2.5", "", "6", "5"]
    assert answers["Date submitted"].iloc[0] == "09/07/2019 14:03:00"


def test_source_column_synonyms_map_onto_sources() -> None:
    answers, _ = export("mixed_responses.xlsx")
    # Staff member, Patient, Member of the public, Healthwatch, Partner organisation, Voluntary sector
    assert answers["source"].tolist() == ["staff", "public", "public", "healthwatch", "partner", "partner"]


def test_single_sheet_workbook_reports_its_own_problem() -> None:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Export"
    workbook.active.append([104833363, "08/07/2019", LONG_A])
    buffer = io.BytesIO()
    workbook.save(buffer)
    message = ingest_error(buffer.getvalue(), "headless.xlsx")
    assert message.startswith("headless.xlsx (sheet 'Export') does not seem to have a header row")


def test_corrupt_xlsx_is_explained() -> None:
    message = ingest_error(b"PK\x03\x04 half a zip file", "smartsurvey.xlsx")
    assert message == ("smartsurvey.xlsx could not be opened as an Excel workbook (it may be damaged or "
                       "password-protected). Re-download the export from the survey tool and drop it "
                       "in again.")


def test_password_protected_xlsx_is_explained() -> None:
    # Encrypted workbooks are OLE2 containers, not zip files.
    message = ingest_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "locked.xlsx")
    assert "password-protected" in message


def test_old_xls_asks_for_save_as_xlsx() -> None:
    message = ingest_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "old.xls")
    assert message.startswith("old.xls is in the old Excel 97-2003 (.xls) format") and ".xlsx" in message


# --- Windows-1252 and delimiters --------------------------------------------------------------------

def test_cp1252_pound_signs_and_curly_quotes_survive() -> None:
    answers, info = export("staff_cp1252.csv", "staff")
    assert info.encoding == "cp1252"
    assert info.question_columns == ["What would make North Cumbria a better place to work?",
                                     "Any other comments?"]
    assert info.metadata_columns == ["Team"]
    texts = answers["text"].tolist()
    assert ("Free parking. Paying £6 a day to park at the Cumberland Infirmary – on my wages – is a joke."
            in texts)
    assert "“Proper breaks” and somewhere to eat that isn’t the corridor." in texts
    assert "We’re told we’re ‘valued’, but nothing changes." in texts
    assert "No" in texts and "n/a" not in texts
    assert len(answers) == 7
    assert set(answers["source"]) == {"staff"}


def test_semicolon_delimiter_keeps_commas_inside_answers() -> None:
    answers, info = export("partners_semicolon.csv", "partner")
    assert info.delimiter == ";"
    assert info.id_column == "Ref"
    assert info.metadata_columns == ["Submitted", "Organisation"]
    assert len(answers) == 6  # one "-" and one blank cell
    assert answers.iloc[0]["text"] == ("Involve us at the start, not when the plan is already written, "
                                       "and share the data you hold")
    assert answers.iloc[0]["Organisation"] == "Age UK West Cumbria"


@pytest.mark.parametrize(("delimiter", "encoding"), [("\t", "utf-8"), ("|", "utf-8"), ("\t", "utf-16")])
def test_other_delimiters_and_utf16(delimiter: str, encoding: str) -> None:
    rows = [["Ref", "Age", "Comments"], ["R1", "35-44", f"{LONG_A} £5"], ["R2", "55-64", LONG_B]]
    text = "".join(delimiter.join(row) + "\r\n" for row in rows)
    answers, info = read_export(text.encode(encoding), "comments.txt", "public")
    assert info.delimiter == delimiter
    assert info.encoding == encoding
    assert answers["text"].tolist() == [f"{LONG_A} £5", LONG_B]
    assert answers["Age"].tolist() == ["35-44", "55-64"]


# --- long layout ------------------------------------------------------------------------------------

def test_long_format_reads_question_source_and_labels() -> None:
    answers, info = export("long_format.csv")
    assert info.layout == "long"
    assert (info.id_column, info.source_column) == ("response_id", "source")
    assert info.question_columns == ["text"]
    assert info.metadata_columns == ["labels", "sentiment"]
    assert len(answers) == 8  # STF-9001 is "N/A"
    assert list(answers.columns) == ANSWER_COLUMNS + ["labels", "sentiment", "layout"]
    first = answers.iloc[0]
    assert (first["respondent_id"], first["source"], first["question"], first["labels"]) == (
        "PUB-0001", "public", "What matters most to you about health and care?", "ENC")
    assert answers["source"].tolist() == ["public"] * 3 + ["staff"] * 2 + ["healthwatch"] + ["partner"] * 2


def test_long_file_without_question_column_uses_text_header() -> None:
    data = f"id,comment\n1,{LONG_A}\n2,{LONG_B}\n".encode()
    answers, info = read_export(data, "comments.csv", "healthwatch")
    assert info.layout == "long"
    assert set(answers["question"]) == {"comment"}


def test_long_file_with_repeated_respondent_ids() -> None:
    data = (f"respondent_id,question,answer\n7,What matters most?,{LONG_A}\n"
            f"7,What should change?,{LONG_B}\n8,What matters most?,N/A\n").encode()
    answers, info = read_export(data, "long.csv", "public")
    assert info.id_column == "respondent_id"
    assert answers["respondent_id"].tolist() == ["7", "7"]
    assert answers["question"].tolist() == ["What matters most?", "What should change?"]


# --- respondent ids ----------------------------------------------------------------------------------

def test_row_numbers_when_there_is_no_id_column() -> None:
    data = f"Age,Comments\n35-44,{LONG_A}\n55-64,n/a\n65-74,{LONG_B}\n".encode()
    answers, info = read_export(data, "no_ids.csv", "public")
    assert info.id_column is None
    assert answers["respondent_id"].tolist() == ["1", "3"]


def test_duplicated_ids_are_not_used_as_respondent_ids() -> None:
    data = f"ID,Comments\n1,{LONG_A}\n1,{LONG_B}\n".encode()
    answers, info = read_export(data, "dup.csv", "public")
    assert info.id_column is None
    assert answers["respondent_id"].tolist() == ["1", "2"]
    assert answers["ID"].tolist() == ["1", "1"]


# --- source rules ------------------------------------------------------------------------------------

def test_source_argument_must_be_known() -> None:
    data = (EXPORTS / "smartsurvey_wide.csv").read_bytes()
    message = ingest_error(data, "smartsurvey_wide.csv", "patients")
    assert "'patients'" in message and all(s in message for s in SOURCES)
    table, info = read_table(data, "smartsurvey_wide.csv")
    with pytest.raises(IngestError):
        melt_answers(table, info, "smartsurvey_wide.csv", "Public")


def test_missing_source_asks_for_source_option() -> None:
    message = ingest_error((EXPORTS / "smartsurvey_wide.csv").read_bytes(), "smartsurvey_wide.csv", None)
    assert message.startswith("smartsurvey_wide.csv does not say who the respondents are")
    assert "--source" in message


def test_source_argument_overrides_the_column() -> None:
    answers, _ = export("long_format.csv", "staff")
    assert set(answers["source"]) == {"staff"}


def test_stakeholder_group_column_and_unknown_values() -> None:
    header = "ID,Stakeholder group,Comments\n"
    good = f"1,Staff member,{LONG_A}\n2,Member of the public,{LONG_B}\n"
    answers, info = read_export((header + good).encode(), "groups.csv")
    assert info.source_column == "Stakeholder group"
    assert answers["source"].tolist() == ["staff", "public"]
    message = ingest_error((header + good + f"3,Councillor,{LONG_A}\n").encode(), "groups.csv", None)
    assert "'Councillor'" in message and "--source" in message


def test_channel_column_called_source_is_metadata() -> None:
    data = f"ID,Source,Comments\n1,Facebook,{LONG_A}\n2,Email,{LONG_B}\n".encode()
    answers, info = read_export(data, "channels.csv", "public")
    assert info.source_column is None
    assert answers["Source"].tolist() == ["Facebook", "Email"]
    assert answers["source"].tolist() == ["public", "public"]


# --- headers, names and unreadable files -------------------------------------------------------------

def test_title_row_above_header_is_skipped() -> None:
    data = f"North Cumbria survey export\n\nRef,Comments\nR1,{LONG_A}\nR2,{LONG_B}\n".encode()
    answers, info = read_export(data, "titled.csv", "public")
    assert info.id_column == "Ref"
    assert answers["respondent_id"].tolist() == ["R1", "R2"]


def test_metadata_named_like_an_output_column_is_renamed() -> None:
    data = f"ID,text,Comments\n1,x,{LONG_A}\n2,y,{LONG_B}\n".encode()
    answers, _ = read_export(data, "clash.csv", "public")
    assert answers["text"].tolist() == [LONG_A, LONG_B]
    assert answers["text (export)"].tolist() == ["x", "y"]


@pytest.mark.parametrize("path", ["C:\\Users\\jo\\Downloads\\smartsurvey_wide.csv",
                                  "/srv/inbox/smartsurvey_wide.csv", "smartsurvey_wide.csv"])
def test_source_file_is_the_bare_filename(path: str) -> None:
    answers, _ = read_export((EXPORTS / "smartsurvey_wide.csv").read_bytes(), path, "public")
    assert set(answers["source_file"]) == {"smartsurvey_wide.csv"}


def test_no_free_text_column_is_explained() -> None:
    message = ingest_error((EXPORTS / "no_free_text.csv").read_bytes(), "no_free_text.csv")
    assert message.startswith("no_free_text.csv has no column of written (free-text) answers")
    assert "'Postcode district'" in message


@pytest.mark.parametrize(("data", "expected"), [
    (b"", "is empty"),
    (b" \r\n \r\n", "is empty"),
    (random.Random(7).randbytes(4096) + b"\x00", "does not look like a CSV or Excel file"),
    (bytes(range(1, 32)) * 40, "does not look like a CSV or Excel file"),
    (f"104833363,08/07/2019 10:13:57,{LONG_A}\n104833364,08/07/2019 11:02:00,{LONG_B}\n".encode(),
     "does not seem to have a header row"),
    (b"ID,Comments\r\n\r\n", "has column headings but no responses"),
])
def test_unreadable_csv_is_explained(data: bytes, expected: str) -> None:
    message = ingest_error(data, "export.csv")
    assert message.startswith("export.csv ") and expected in message
    assert "Traceback" not in message and "Error" not in message


def test_ingest_error_is_a_value_error() -> None:
    assert issubclass(IngestError, ValueError)


@pytest.mark.parametrize(("question", "key"), [
    (Q1, "what matters most to you about health and care?"),
    ("What matters most to you about health and care?", "what matters most to you about health and care?"),
    ("1) What should change?", "what should change?"),
    ("Question 2: What should change?", "what should change?"),
    ("Q2 What  should\nchange? ", "what should change?"),
    ("Q10 - Any other comments?", "any other comments?"),
    ("2.1 Any other comments?", "any other comments?"),
    ("5 year plan: what do you think?", "5 year plan: what do you think?"),
    ("Quality of care", "quality of care"),
])
def test_normalise_question(question: str, key: str) -> None:
    assert normalise_question(question) == key


# --- the shared 2019 data set ------------------------------------------------------------------------

@needs_shared
def test_shared_smartsurvey_export_gives_400_answers() -> None:
    path = SHARED / "smartsurvey_public_export.csv"
    answers, info = read_export(path.read_bytes(), path.name, "public")
    assert len(answers) == 400
    assert info.n_rows == 254
    assert info.question_columns == [Q1, Q2]
    assert {"Q3. Age group", "Q4. Postcode district", "Started"} <= set(info.metadata_columns)
    assert answers.iloc[0]["respondent_id"] == "104833363"
    assert set(answers["question"]) == {Q1, Q2}
    # Same answers, same order and byte-identical text as the public rows of the labelled file.
    mapping = pd.read_csv(SHARED / "public_id_map.csv", dtype=str, keep_default_na=False)
    assert answers["respondent_id"].tolist() == mapping["smartsurvey_response_id"].tolist()
    labelled = pd.read_csv(SHARED / "labelled_responses.csv", dtype=str, keep_default_na=False)
    assert answers["text"].tolist() == labelled["text"].iloc[:400].tolist()


@needs_shared
def test_shared_labelled_file_gives_900_answers() -> None:
    path = SHARED / "labelled_responses.csv"
    answers, info = read_export(path.read_bytes(), path.name)
    assert len(answers) == 900
    assert (info.layout, info.id_column, info.source_column) == ("long", "response_id", "source")
    assert info.metadata_columns == ["labels", "sentiment"]
    assert answers.iloc[0]["respondent_id"] == "PUB-0001"
    assert answers["source"].value_counts().to_dict() == {"public": 400, "staff": 250, "healthwatch": 150,
                                                         "partner": 100}
    assert len(answers[["source", "question"]].drop_duplicates()) == 11  # the README's question table
    assert {normalise_question(q) for q in answers.loc[answers["source"] == "public", "question"]} == {
        normalise_question(Q1), normalise_question(Q2)}
