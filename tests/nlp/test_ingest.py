"""Behaviour of nlp.ingest on real-shaped exports (fixtures) and on the shared 2019 data set.

Hostile and malformed files are in test_bad_inputs.py; Word/PDF reports in test_documents.py.
"""
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
    describe_export,
    detect_format,
    iter_export,
    melt_answers,
    normalise_question,
    normalise_text,
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
    assert list(answers.columns) == ANSWER_COLUMNS + info.metadata_columns + ["layout", "double_submission"]
    assert answers["double_submission"].dtype == bool and not answers["double_submission"].any()
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


def test_answers_are_trimmed_and_line_breaks_unified_but_never_cut() -> None:
    answers, _ = export("smartsurvey_wide.csv", "public")
    by_id = answers.set_index("respondent_id")["text"]
    assert by_id["104850002"] == ("Keep the minor injuries unit in Keswick open at weekends, "
                                  "it saves a 60 mile round trip.")
    assert by_id["104850003"] == ("More district nurses.\nMore community beds in Cockermouth.\n"
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
    assert message.startswith("headless.xlsx does not seem to have a header row")


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
    assert list(answers.columns) == ANSWER_COLUMNS + ["labels", "sentiment", "layout", "double_submission"]
    assert info.question_column == "question"
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
    message = ingest_error((header + good + f"3,Other (please specify),{LONG_A}\n").encode(), "groups.csv", None)
    assert "'Other (please specify)'" in message and "--source" in message
    assert 'source_values: {"Other (please specify)": public}' in message


def test_the_suggested_source_values_are_yaml_an_officer_can_paste() -> None:
    """User test 6: the suggestion read {'Local business': partner; 'Prefer not to say': partner},
    which no YAML reader accepts."""
    import re

    import yaml

    header = "ID,Stakeholder group,Comments\n"
    places = ["Alston", "Keswick", "Penrith", "Wigton", "Maryport", "Millom", "Egremont", "Silloth", "Brampton"]
    rows = "".join(f'{i},"{g}",The surgery in {p} needs more appointments for working people in the evening\n'
                   for i, (g, p) in enumerate(zip(["Staff member"] * 6 + ['A ""local"" business', "Other", "Prefer not to say"],
                                                  places)))
    message = ingest_error((header + rows).encode(), "groups.csv", None)
    mapping = yaml.safe_load(re.search(r"source_values: (\{.*?\})", message).group(1))
    assert mapping == {'A "local" business': "partner", "Other": "public"}


def test_a_smartsurvey_are_you_column_and_user_numbers() -> None:
    """User test 7: "Are you..." was no source column, "Someone who uses our services" no group, and
    "UserNo" no respondent id; dropped into a group's folder, the file's own column was overridden
    without a word."""
    rows = [["UserNo", "Are you...", "What should we do over the next five years?"],
            ["1036", "Someone who uses our services", LONG_A], ["1037", "A carer", LONG_B],
            ["1038", "A member of staff", "Staff need clinical supervision that is not cancelled every time."],
            ["1039", "Someone who uses our services", "Crisis line answered within minutes, not hours please."]]
    data = "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in rows).encode()
    answers, info = read_export(data, "smartsurvey.csv")
    assert (info.id_column, info.source_column) == ("UserNo", "Are you...")
    assert answers["source"].tolist() == ["public", "public", "staff", "public"]
    assert answers["respondent_id"].tolist() == ["1036", "1037", "1038", "1039"]
    _, info = read_export(data, "smartsurvey.csv", "public")
    assert any("places 1 answer in staff, but every answer was counted as public" in n for n in info.notes)


def test_a_local_authority_s_own_words_for_its_groups() -> None:
    """A Jisc consultation's "Are you responding as..." column: professionals are staff, councillors
    partners, and the survey's own "Other" is whatever group the mapping's source_values say. The
    whole survey used to be quarantined for those values."""
    data = ("ID,Are you responding as...,Comments\n"
            f"1,A health or care professional,{LONG_A}\n2,A town or parish councillor,{LONG_B}\n"
            f"3,Other (please specify),{LONG_A} too\n4,A member of the public,{LONG_B} again\n").encode()
    assert "Other (please specify)" in ingest_error(data, "jisc.csv", None)
    described = describe_export(data, "jisc.csv")
    assert described["sources"] == {"staff": 1, "partner": 1, "public": 1, "not recognised": 1}
    assert any("would quarantine it" in n and "source_values" in n for n in described["notes"])
    mapping = {"source_values": {"other  (please SPECIFY)": "public"}}  # as typed: spacing and case do not matter
    answers, _ = read_export(data, "jisc.csv", mapping=mapping)
    assert answers["source"].tolist() == ["staff", "partner", "public", "public"]
    assert describe_export(data, "jisc.csv", mapping)["sources"] == {"public": 2, "staff": 1, "partner": 1}
    with pytest.raises(IngestError, match="source_values"):
        read_export(data, "jisc.csv", mapping={"source_values": {"Other (please specify)": "residents"}})


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


@needs_shared
def test_shared_exports_have_no_double_submissions() -> None:
    for name, source in (("smartsurvey_public_export.csv", "public"), ("labelled_responses.csv", None)):
        answers, _ = read_export((SHARED / name).read_bytes(), name, source)
        assert not answers["double_submission"].any(), name


# --- the survey tools officers really use -------------------------------------------------------------

SM_BLOCK = "What gets in the way of joined-up care in your day-to-day work?"
SM_FIVE = "What must the health and care system do over the next five years?"


def test_surveymonkey_xlsx_two_header_rows_with_merged_cells() -> None:
    answers, info = export("surveymonkey_staff.xlsx", "staff")
    assert (info.format, info.sheet, info.header_rows, info.id_column) == ("xlsx", "Sheet", 2, "Respondent ID")
    assert info.question_columns == [SM_BLOCK, SM_FIVE]
    multi = "Which of these would make North Cumbria a better place to work?"
    assert f"{multi} - Other (please specify)" in info.metadata_columns  # option columns under a merged cell
    assert f"{multi} - Staff housing" in info.metadata_columns
    assert info.metadata_roles["Start Date"] == "date"
    assert info.metadata_roles["Email Address"] == "email"
    assert info.metadata_roles["Which staff group are you in?"] == "role"
    assert len(answers) == 8  # the last respondent answered nothing
    first = answers.iloc[0]
    assert (first["respondent_id"], first["question"], first["Start Date"]) == (
        "11402117733", SM_BLOCK, "09/07/2019 08:14:02")
    assert answers.iloc[0][f"{multi} - Flexible rotas"] == "Flexible rotas"


def test_microsoft_forms_xlsx() -> None:
    answers, info = export("msforms_community_services.xlsx", "public")
    assert info.id_column == "ID"
    assert info.question_columns == [
        "What matters most to you about community health services?",
        "If you could change one thing about district nursing in your area, what would it be?"]
    assert info.metadata_columns == ["Start time", "Completion time", "Email", "Name", "Last modified time",
                                     "How old are you?", "Which area do you live in?"]
    assert [info.metadata_roles[c] for c in info.metadata_columns[:6]] == [
        "date", "date", "email", "name", "date", "age_band"]
    assert len(answers) == 9 and "5" not in set(answers["respondent_id"])  # respondent 5 wrote N/A twice
    assert answers.iloc[0]["Completion time"] == "15/07/2019 09:08:40"


def test_google_forms_csv_repairs_mojibake_and_keeps_line_breaks() -> None:
    answers, info = export("googleforms_young_people.csv", "public")
    assert (info.id_column, info.metadata_roles["Timestamp"]) == (None, "date")
    assert answers["respondent_id"].tolist() == ["1", "1", "2", "3", "3", "4", "4", "5", "5"]
    texts = answers["text"].tolist()
    assert "Somewhere to go in town that isn’t A&E when things get bad at night." in texts
    assert "The bus to Whitehaven costs £4.20 return which is a lot when you are 14." in texts
    assert ("Not having to tell my story again to every new person.\nThey should just read the notes."
            in texts)
    assert "no" in texts  # a typed non-answer is kept for the preprocess stage to judge


@pytest.mark.parametrize("name", ["citizenspace_consultation.csv", "citizenspace_consultation.xlsx"])
def test_citizen_space_exports(name: str) -> None:
    answers, info = export(name)
    assert info.id_column == "Response ID"
    assert info.source_column == "In what capacity are you responding?"
    assert [normalise_question(q) for q in info.question_columns] == [
        "please explain your answer, including anything we should consider about travel and access.",
        "what should the health and care system prioritise over the next five years? please tell us why."]
    agree = ("Question 1: To what extent do you agree with our ambition to keep consultant-led services at "
             "West Cumberland Hospital?")
    assert info.metadata_roles[agree] == "choice"
    assert info.metadata_roles["What is the name of your organisation?"] == "organisation"
    assert info.metadata_roles["What is the first part of your postcode?"] == "postcode_district"
    assert len(answers) == 9
    assert answers.drop_duplicates("respondent_id")["source"].tolist() == [
        "public", "partner", "staff", "public", "partner"]


def test_citizen_space_csv_and_xlsx_give_the_same_answers() -> None:
    csv_answers, _ = export("citizenspace_consultation.csv")
    xlsx_answers, _ = export("citizenspace_consultation.xlsx")
    columns = ["respondent_id", "question", "source", "text"]
    pd.testing.assert_frame_equal(csv_answers[columns], xlsx_answers[columns])


def test_generic_workbook_several_sheets_title_blank_rows_columns_and_merged_headings() -> None:
    answers, info = export("generic_multisheet.xlsx", "public")
    assert info.sheets == ["About", "Summary", "Responses"] and info.sheet == "Responses"
    assert (info.header_rows, info.id_column) == (2, "Ref")
    assert info.question_columns == ["What support do you get as a carer at the moment?",
                                     "What would make the biggest difference to you?"]
    # column F is blank throughout and dropped; G's heading is merged over both header rows
    assert info.metadata_columns == ["Age group", "Postcode district", "Date received"]
    assert info.n_rows == 5
    assert answers["respondent_id"].unique().tolist() == ["C-01", "C-02", "C-03", "C-04", "C-05"]
    assert answers.iloc[-1]["Date received"] == "16/08/2019"


def test_latin1_tab_delimited_with_quoted_line_breaks() -> None:
    answers, info = export("carers_latin1.txt", "public")
    assert (info.encoding, info.delimiter, info.id_column) == ("cp1252", "\t", "Ref")
    assert info.metadata_columns == ["Group"]  # the blank column between them is dropped
    assert answers["text"].tolist() == [
        "I've cared for my son for 20 years.\nNobody has ever asked how I am.",
        "The café at the Beacon is the only place I get to talk to other carers - keep it going.",
        "Prescriptions take a week. I pay £8 in taxi fares to collect them from Cockermouth.",
        "Respite beds in Maryport closed.\nThe nearest now is Carlisle, 30 miles away."]
    assert answers.iloc[0]["Group"] == "Workington carers' café"


@pytest.mark.parametrize(("name", "expected"), [
    ("smartsurvey_wide.csv", "csv"), ("mixed_responses.xlsx", "xlsx"),
    ("healthwatch_event_notes.docx", "docx"), ("healthwatch_eden_report.pdf", "pdf"),
])
def test_format_is_read_from_the_bytes_not_the_name(name: str, expected: str) -> None:
    data = (EXPORTS / name).read_bytes()
    assert detect_format(data, name) == expected
    assert detect_format(data, "renamed.txt") == expected


def test_workbook_saved_with_a_csv_name_is_read_as_a_workbook() -> None:
    data = (EXPORTS / "mixed_responses.xlsx").read_bytes()
    answers, info = read_export(data, "mixed_responses.csv")
    assert info.format == "xlsx" and len(answers) == 6


def test_csv_saved_with_an_xlsx_name_is_read_as_csv() -> None:
    data = (EXPORTS / "partners_semicolon.csv").read_bytes()
    answers, info = read_export(data, "partners.xlsx", "partner")
    assert (info.format, info.delimiter) == ("csv", ";") and len(answers) == 6


def test_metadata_roles_of_the_smartsurvey_export() -> None:
    _, info = export("smartsurvey_wide.csv", "public")
    assert info.metadata_roles == {"Started": "date", "Ended": "date", "IP Address": "ip_address",
                                   "Q3. Age group": "age_band", "Q4. Postcode district": "postcode_district"}


@pytest.mark.parametrize(("values", "role"), [
    (["CA28", "CA14", "LA18", "CA1 2HG"], "postcode_district"),
    (["18-24", "35-44", "75+", "Prefer not to say"], "age_band"),
    (["jo@example.org", "sam@example.com", "lee@example.net", "kim@example.org"], "email"),
    (["08/07/2019", "09/07/2019", "10/07/2019", "11/07/2019"], "date"),
    (["4", "2", "5", "3"], "number"),
])
def test_metadata_role_from_values_when_the_heading_does_not_say(values: list[str], role: str) -> None:
    rows = [["Ref", "Field", "Comments"]] + [[f"R{i}", v, f"{LONG_A} ({i})"] for i, v in enumerate(values)]
    data = "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in rows).encode()
    _, info = read_table(data, "roles.csv")
    assert info.metadata_roles["Field"] == role


# --- free-text detection --------------------------------------------------------------------------

def test_free_text_is_told_apart_from_names_options_and_codes() -> None:
    rows = [["Ref", "Organisation", "Services used", "Comments"],
            ["1", "Age UK West Cumbria", "GP surgery, A&E, Community hospital", LONG_A],
            ["2", "Cumbria Fire and Rescue Service", "A&E, Community hospital", LONG_B],
            ["3", "Carlisle Eden Mind Wellbeing Service", "GP surgery", "Dentists. There are none in Whitehaven."],
            ["4", "Citizens Advice Allerdale and Copeland", "GP surgery, A&E", "We need a bus to the Infirmary."]]
    data = "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in rows).encode()
    _, info = read_table(data, "partners.csv")
    assert info.question_columns == ["Comments"]
    assert info.metadata_roles["Organisation"] == "organisation"


def test_an_anything_else_column_of_mostly_no_is_still_written_answers() -> None:
    """User test 6: 11 sentences among 20 "no"s and blanks were kept as metadata, and lost."""
    said = ["Warm spaces in winter were a great idea, keep them going all year",
            "Parking at the hospital costs a fortune and there are never any spaces",
            "The new family hub in Eastbrook is brilliant, more of them please",
            "Our local pharmacy closed in January and the nearest one is 6 miles away",
            "More cycle lanes that actually join up instead of stopping at a junction",
            "Gambling shops and adverts everywhere on the high street, its ruining families"]
    extra = said + ["no"] * 12 + ["n/a", "nothing", "ok"] + [""] * 9
    rows = [["Timestamp", "What one thing would improve health where you live?", "Anything else you want to tell us?"]]
    rows += [[f"0{i % 9 + 1}/03/2025 10:{i:02d}", f"{LONG_A if i % 2 else LONG_B} ({i})", e] for i, e in enumerate(extra)]
    data = "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in rows).encode()
    _, info = read_table(data, "wave2.csv")
    assert info.question_columns == [rows[0][1], rows[0][2]]


def test_short_answers_to_an_open_question_are_written_answers() -> None:
    """User test 8: "Is there anything else you would like to tell us?" answered "Fix the roads" four
    times among "None"s and blanks was kept as metadata in wave 2, though wave 1 read it."""
    extra = ["Fix the roads"] * 4 + ["Car parking at the General is a disgrace, £4.50 for an hour", "Bins are late",
                                     "More buses please"] + ["None", "No", "n/a", "Nothing to add", "see above"] * 3
    rows = [["Ref", "What should we do over the next five years?", "Is there anything else you would like to tell us?"]]
    rows += [[str(i), f"{LONG_A if i % 2 else LONG_B} ({i})", e] for i, e in enumerate(extra)]
    data = "".join(",".join(f'"{c}"' for c in r) + "\r\n" for r in rows).encode()
    _, info = read_table(data, "wave2.csv")
    assert info.question_columns == rows[0][1:]


# --- the per-source mapping -----------------------------------------------------------------------

def test_mapping_overrides_every_guess() -> None:
    data = (EXPORTS / "smartsurvey_wide.csv").read_bytes()
    mapping = {"questions": {"Q2. What should we do over the next five years?": "Next five years"},
               "metadata": ["Q3. Age group"], "id_column": None}
    answers, info = read_export(data, "smartsurvey_wide.csv", "public", mapping=mapping)
    assert info.question_columns == [Q2] and info.metadata_columns == ["Q3. Age group"]
    assert info.id_column is None
    assert set(answers["question"]) == {"Next five years"}
    assert list(answers.columns) == ANSWER_COLUMNS + ["Q3. Age group", "layout", "double_submission"]
    assert answers["respondent_id"].iloc[0] == "1"  # row numbers once the ID column is switched off


def test_mapping_names_columns_loosely_and_can_pick_the_sheet_and_source() -> None:
    mapping = {"sheet": "responses", "questions": ["what would make health and care in north cumbria better"],
               "source_column": "respondent type", "id_column": "REFERENCE"}
    answers, info = read_export((EXPORTS / "mixed_responses.xlsx").read_bytes(), "mixed.xlsx", mapping=mapping)
    assert (info.sheet, info.source_column, info.id_column) == ("Responses", "Respondent type", "Reference")
    assert len(answers) == 6


def test_mapping_can_turn_a_metadata_column_into_a_question() -> None:
    data = (EXPORTS / "partners_semicolon.csv").read_bytes()
    _, guessed = read_table(data, "p.csv")
    assert "Organisation" in guessed.metadata_columns
    answers, info = read_export(data, "p.csv", "partner", mapping={"questions": ["Organisation"]})
    assert info.question_columns == ["Organisation"] and len(answers) == 4


def test_mapping_for_a_long_file() -> None:
    data = "ref,topic,what people said,who\n1,GP,More evening appointments in Maryport please,public\n".encode()
    mapping = {"id_column": "ref", "question_column": "topic", "questions": ["what people said"],
               "source_column": "who"}
    answers, info = read_export(data, "long.csv", mapping=mapping)
    assert (info.layout, info.question_column) == ("long", "topic")
    assert answers[["respondent_id", "question", "source"]].values.tolist() == [["1", "GP", "public"]]


@pytest.mark.parametrize(("mapping", "expected"), [
    ({"columns": ["Q1"]}, "unknown setting(s) 'columns'"),
    ({"questions": ["Q9. Favourite colour"]}, "names 'Q9. Favourite colour', which is not in this export"),
    ({"id_column": "Respondent number"}, "which is not in this export"),
    ({"questions": "Q1"}, "must be a list of column names"),
    ({"metadata": [Q1], "questions": [Q1]}, "both as metadata and as a question"),
    ({"sheet": "Responses"}, None),  # ignored for a CSV
    (["questions"], "must be a set of 'key: value' settings"),
])
def test_mapping_is_validated(mapping: object, expected: str | None) -> None:
    data = (EXPORTS / "smartsurvey_wide.csv").read_bytes()
    if expected is None:
        read_export(data, "smartsurvey_wide.csv", "public", mapping=mapping)
        return
    with pytest.raises(IngestError) as caught:
        read_export(data, "smartsurvey_wide.csv", "public", mapping=mapping)
    message = str(caught.value)
    assert message.startswith("smartsurvey_wide.csv") and expected in message
    if "not in this export" in expected:
        assert "'Response ID'" in message  # lists the columns the officer can use


def test_mapping_naming_a_missing_sheet_lists_the_sheets() -> None:
    with pytest.raises(IngestError, match="Sheets found: 'Cover', 'Responses'"):
        read_export((EXPORTS / "mixed_responses.xlsx").read_bytes(), "m.xlsx", mapping={"sheet": "Data"})


# --- engage inspect ---------------------------------------------------------------------------------

def test_describe_export_shows_what_would_be_read() -> None:
    described = describe_export((EXPORTS / "smartsurvey_wide.csv").read_bytes(), "smartsurvey_wide.csv")
    assert {k: described[k] for k in ("file", "format", "encoding", "delimiter", "sheet", "layout", "header_rows",
                                      "rows", "id_column", "source_column", "answers", "respondents",
                                      "double_submissions", "sources")} == {
        "file": "smartsurvey_wide.csv", "format": "csv", "encoding": "utf-8-sig", "delimiter": ",",
        "sheet": None, "layout": "wide", "header_rows": 1, "rows": 17, "id_column": "Response ID",
        "source_column": None, "answers": 23, "respondents": 15, "double_submissions": 0, "sources": None}
    assert described["questions"] == [{"column": Q1, "question": Q1, "answers": 13},
                                      {"column": Q2, "question": Q2, "answers": 10}]
    assert {"column": "Q4. Postcode district", "role": "postcode_district"} in described["metadata"]


def test_describe_export_of_a_long_file_counts_per_question_and_source() -> None:
    described = describe_export((EXPORTS / "long_format.csv").read_bytes(), "long_format.csv")
    assert described["layout"] == "long" and described["question_column"] == "question"
    assert sum(q["answers"] for q in described["questions"]) == 8
    assert described["sources"] == {"public": 3, "staff": 3, "healthwatch": 1, "partner": 2}


def test_describe_export_explains_an_unreadable_file() -> None:
    with pytest.raises(IngestError, match="no_free_text.csv has no column of written"):
        describe_export((EXPORTS / "no_free_text.csv").read_bytes(), "no_free_text.csv")


def test_describe_export_reports_repairs() -> None:
    data = (f"Ref,Comments,Age\r\nR1,{LONG_A},35-44\r\nR2,More buses, and later ones,55-64\r\n"
            f"R3,{LONG_B},65-74\r\n").encode()
    described = describe_export(data, "split.csv")
    assert described["notes"] and "joined back" in described["notes"][0]


# --- normalisation --------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "clean"), [
    ("  More GPs\u00a0please  ", "More GPs please"),
    ("Line one\r\nLine two\rLine three", "Line one\nLine two\nLine three"),
    ("Too   many\tspaces", "Too many spaces"),
    ("Zero\u200bwidth and BOM\ufeff", "Zerowidth and BOM"),
    ("Cafe\u0301 in Keswick", "Café in Keswick"),  # combining accent composed (NFC)
    ("It\u00e2\u20ac\u2122s \u00c2\u00a36 to park", "It’s £6 to park"),  # UTF-8 read as Windows-1252
    ("“Curly quotes” stay – as do dashes", "“Curly quotes” stay – as do dashes"),
    ("Para one\n\n\n\nPara two", "Para one\n\nPara two"),
    ("NUL\x00 removed", "NUL removed"),
])
def test_normalise_text(raw: str, clean: str) -> None:
    assert normalise_text(raw) == clean


def test_long_answers_are_never_cut() -> None:
    essay = " ".join(["The wait for an appointment at Workington is far too long for working people."] * 1200)
    answers, _ = read_export(f"Ref,Comments\r\nR1,\"{essay}\"\r\nR2,{LONG_A}\r\n".encode(), "essay.csv", "public")
    assert answers["text"].iloc[0] == essay and len(essay) > 90_000


# --- double submissions ----------------------------------------------------------------------------

def test_double_submissions_are_flagged_on_the_later_copy_only() -> None:
    answers, _ = export("double_submissions.csv", "public")
    flagged = answers.groupby("respondent_id")["double_submission"].all()
    # 105100002: an exact resubmission 4 minutes later; 105100008: the same person, a word changed.
    assert sorted(flagged[flagged].index) == ["105100002", "105100008"]
    # Kept: the same words from someone of another age and postcode (105100004), "No comment" from
    # two people (105100006), and a near-identical answer sent three days later (105100009).
    assert not answers["double_submission"][answers["respondent_id"].isin(
        ["105100001", "105100004", "105100006", "105100009"])].any()
    assert len(answers) == 17  # flagged answers are kept, not dropped


def test_same_respondent_id_twice_is_a_double_submission() -> None:
    rows = [f"{1000 + i},{age},Answer number {i} about the GP surgery in Wigton and the buses to Carlisle"
            for i, age in zip(range(40), ["35-44", "55-64"] * 20)]
    rows.append("1003,55-64,Answer number 3 about the GP surgery in Wigton and the buses to Carlisle")
    rows.append("1004,35-44,A different answer from the same person about dentists in Silloth")
    answers, info = read_export(("Respondent ID,Age group,Comments\n" + "\n".join(rows)).encode(),
                                "ids.csv", "public")
    assert info.id_column == "Respondent ID"  # one or two repeats do not disqualify an ID column
    assert answers.loc[answers["double_submission"], "respondent_id"].tolist() == ["1003"]
    assert answers["respondent_id"].tolist().count("1004") == 2  # new content from a repeated ID is kept


def test_same_email_twice_with_short_answers_is_a_double_submission() -> None:
    short = "More buses from Silloth to Carlisle please"  # under eight words: needs the e-mail to link
    data = (f"Email,Comments,Other comments\njo@example.org,{short},No\n"
            f"sam@example.org,Evening GP appointments in Wigton,No\njo@example.org,{short},No\n").encode()
    answers, _ = read_export(data, "emails.csv", "public")
    assert answers["double_submission"].tolist() == [False, False, True]


def test_the_same_answers_from_another_site_are_another_person() -> None:
    """A user's staff pulse survey (no IDs, no times) lost row 47 as a repeat of row 38, nine rows
    earlier, though the two named different sites."""
    same = "Not enough staff on the ward to cover sickness and we are always running to catch up"
    rows = [f"Nursing,{site},{same}" for site in ("Cumberland Infirmary", "Community - Allerdale")]
    filler = [f"Therapies,West Cumberland Hospital,{t}" for t in (
        "The car park is full by eight", "Rotas come out two days before", "No hot food on nights",
        "The IT logs us out every ten minutes", "Agency staff who do not know the ward", "Too many meetings",
        "Waiting for porters to move patients", "Discharge letters take days to type")]
    data = ("Staff group,Site,What gets in the way of good patient care?\n"
            + "\n".join([rows[0], *filler, rows[1], rows[1]]) + "\n").encode()
    answers, info = read_export(data, "pulse.csv", "staff")
    assert info.metadata_roles["Site"] == "choice"
    assert answers["double_submission"].tolist() == [False] * 10 + [True]  # the same site twice is one person


def test_long_file_flags_a_repeated_answer_from_the_same_respondent_and_question() -> None:
    others = "".join(f"{100 + i},What matters most?,Answer {i} about GP appointments in Maryport\n" for i in range(20))
    data = ("respondent_id,question,answer\n"
            f"7,What matters most?,{LONG_A}\n7,What should change?,{LONG_A}\n"
            f"8,What matters most?,{LONG_A}\n{others}7,What matters most?,{LONG_A}.\n").encode()
    answers, info = read_export(data, "long.csv", "public")
    assert (info.layout, info.id_column) == ("long", "respondent_id")
    assert answers["double_submission"].tolist() == [False] * 23 + [True]


# --- large exports in chunks --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["smartsurvey_wide.csv", "double_submissions.csv", "generic_multisheet.xlsx",
                                  "long_format.csv", "healthwatch_event_notes.docx"])
def test_iter_export_gives_the_same_answers_as_read_export(name: str, tmp_path: Path) -> None:
    data = (EXPORTS / name).read_bytes()
    whole, _ = read_export(data, name, "public")
    for source in (data, EXPORTS / name):
        chunks = list(iter_export(source, name, "public", chunk_rows=3))
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)


def test_iter_export_reads_a_big_csv_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rng = random.Random(3)
    vocabulary = ("we need more GP appointments dentists buses nurses in Whitehaven Workington Maryport Keswick "
                  "Penrith Carlisle Wigton and the hospital is too far away to travel please keep open evening "
                  "clinics for working people with children who cannot take time off").split()
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("Response ID,Started,Comments,Age group\r\n")
        for i in range(25_000):
            minutes = 8 * 60 + i  # one response a minute
            f.write(f"{500000 + i},{1 + minutes // 1440:02d}/07/2019 {minutes // 60 % 24:02d}:{minutes % 60:02d}:00,"
                    f"\"{' '.join(rng.choices(vocabulary, k=12))}\",{('35-44', '55-64', '75+')[i % 3]}\r\n")
    sizes, flagged = [], 0
    for chunk in iter_export(path, path.name, "public", chunk_rows=10_000):
        sizes.append(len(chunk))
        flagged += int(chunk["double_submission"].sum())
    assert sizes == [10_000 - 1, 10_000, 5_000 + 1]  # the header takes one row of the first chunk
    assert flagged == 0


def test_double_submission_across_a_chunk_boundary() -> None:
    lines = ["Response ID,Started,Comments,Age group"]
    places = ["Brampton", "Wigton", "Silloth", "Alston", "Appleby", "Maryport", "Egremont", "Millom", "Keswick",
              "Seascale", "Aspatria", "Dalston", "Longtown", "Kirkby Stephen", "Cleator Moor", "Harrington"]
    topics = ["the bus to the Infirmary takes an hour each way", "we have had no dentist for two years",
              "the GP surgery never answers the phone before ten", "the pharmacy closes at lunchtime"]
    lines += [f"{9000 + i},08/07/2019 {8 + i // 6:02d}:{i % 6 * 10:02d}:00,"
              f"In {places[i % 16]} {topics[i % 4]},35-44" for i in range(29)]
    repeat = "I waited nine hours in A&E at the Cumberland Infirmary with my daughter last winter"
    lines += [f"9100,10/07/2019 12:00:00,{repeat},25-34", f"9101,10/07/2019 12:03:10,{repeat},25-34"]
    data = "\n".join(lines).encode()
    whole, _ = read_export(data, "boundary.csv", "public")
    chunked = pd.concat(iter_export(data, "boundary.csv", "public", chunk_rows=30), ignore_index=True)
    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked["double_submission"].tolist() == [False] * 30 + [True]



def test_name_email_and_ip_columns_keep_only_that_something_was_given() -> None:
    """A name outside the redactor's gazetteer must not be stored as typed because it sat in a column."""
    data = ("Response ID,Q1. Your name (optional),Email address,IP Address,Q2. What should we do next?,Age band\n"
            "1,Chidi Okafor,chidi@example.org,192.0.2.10,Keep the minor injuries unit open,35-44\n"
            "2,Anonymous,,,More dentists taking NHS patients,65+\n").encode()
    answers, info = read_export(data, "named.csv", "public")
    assert info.metadata_roles["Q1. Your name (optional)"] == "name"
    assert answers["Q1. Your name (optional)"].tolist() == ["[NAME]", "Anonymous"]
    assert answers["Email address"].tolist()[0] == "[EMAIL]"
    assert answers["IP Address"].tolist()[0] == "[IP_ADDRESS]"
    assert answers["Age band"].tolist() == ["35-44", "65+"]
    assert "Chidi" not in answers.to_csv()


@pytest.mark.parametrize("tail", ['3,"Unfinished answer about hospital car parks and', "3,Good luck with the str"])
def test_an_export_cut_short_mid_row_is_refused_not_half_read(tail) -> None:
    answers = ["More GP appointments in the evenings for people who work", "Keep the minor injuries unit open at "
               "weekends please", "Buses to the hospital that run after visiting time ends"]
    data = ("Response ID,What should we do next?,Postcode district,Age band\n"
            + "".join(f"{i},{a},CA2{i},35-44\n" for i, a in enumerate(answers)) + tail).encode()
    assert "ends part-way through its last row" in ingest_error(data, "cut.csv")
    whole = data.replace(tail.encode(), b"3,A whole answer about the car park,CA14,25-34")  # no final break
    assert len(read_export(whole, "whole.csv", "public")[0]) == 4


def _survey_with_a_repetitive_open_question() -> bytes:
    """Written answers that repeat (five stock replies) under a heading that asks no question, beside
    a varied open question: it could be an option list worded as sentences."""
    stock = ["Thanks for asking.", "Please get in touch with me about this.", "Nothing else to add from me.",
             "I am happy to be contacted by the team.", "Good luck with the strategy."]
    rng = random.Random(4)
    places = ["Penrith", "Keswick", "Maryport", "Alston", "Wigton", "Brampton", "Egremont", "Millom"]
    rows = ["Response ID,Q1. What should we do over the next five years?,Q2. Final remarks"]
    for i in range(40):
        place = places[i % len(places)]
        rows.append(f"{i + 1},Keep the {place} surgery open at weekends for the {i + 3} people who need it,"
                    f"{rng.choice(stock)}")
    return ("\n".join(rows) + "\n").encode()


def test_a_heading_that_asks_for_written_answers_is_read_however_much_they_repeat() -> None:
    """A user's staff pulse survey lost "What gets in the way of good patient care?" (29 different
    answers among 77, staff giving the same reply) to a note; and an option list asked as a question
    ("Which of these describes you? (tick all that apply)") raised a false alarm."""
    stock = ["Not enough staff on the ward to cover sickness.", "The IT systems crash and we lose the notes.",
             "Waiting for social care packages so people can go home.", "Too much paperwork for every admission.",
             "Beds blocked by people who are medically fit to leave."]
    roles = ["I am a carer for a family member.", "I work for the NHS or a care provider.",
             "I use health services in North Cumbria."]
    rng = random.Random(7)
    rows = ["Staff group,What would make your working life better?,What gets in the way of good patient care?,"
            "Which of these describes you? (tick all that apply)"]
    for i in range(40):
        rows.append(f"Nursing,Being able to take my breaks on shift {i} without feeling guilty about it,"
                    f"{rng.choice(stock)},{rng.choice(roles)}")
    info = describe_export(("\n".join(rows) + "\n").encode(), "pulse.csv")
    assert [q["column"] for q in info["questions"]] == ["What would make your working life better?",
                                                       "What gets in the way of good patient care?"]
    assert not info["notes"]


def test_a_repetitive_open_question_is_not_dropped_without_a_word() -> None:
    data = _survey_with_a_repetitive_open_question()
    info = describe_export(data, "survey.csv")
    assert [q["column"] for q in info["questions"]] == ["Q1. What should we do over the next five years?"]
    [note] = [n for n in info["notes"] if "Q2. Final remarks" in n]
    assert "5 different among 40" in note and "not analysed" in note
    assert ("questions: ['Q1. What should we do over the next five years?', "
            "'Q2. Final remarks']") in note
    # The note's advice works, and once the officer has said which columns are questions it is not repeated.
    mapping = {"questions": ["Q1. What should we do over the next five years?",
                             "Q2. Final remarks"]}
    mapped = describe_export(data, "survey.csv", mapping=mapping)
    assert len(mapped["questions"]) == 2 and not any("not analysed" in n for n in mapped["notes"])
    # None of the real-shaped exports (SmartSurvey, SurveyMonkey, Forms, CitizenSpace...) gets such a note.
    for path in EXPORTS.iterdir():
        if path.name != "no_free_text.csv":
            assert not any("not analysed" in n for n in describe_export(path.read_bytes(), path.name)["notes"])


# --- Qualtrics: short names, question text and import ids over the answers --------------------------
QUALTRICS_Q1 = "What is the one thing we should change over the next five years?"


def qualtrics_csv(import_ids: bool = True) -> bytes:
    rows = [
        "StartDate,Status,IPAddress,ResponseId,LocationLatitude,LocationLongitude,DistributionChannel,Q1,Q2,Q3",
        f"Start Date,Response Type,IP Address,Response ID,Location Latitude,Location Longitude,"
        f"Distribution Channel,{QUALTRICS_Q1},What is your age?,What is the first part of your postcode?",
    ]
    if import_ids:
        rows.append('"{""ImportId"": ""startDate""}","{""ImportId"": ""status""}","{""ImportId"": ""ipAddress""}",'
                    '"{""ImportId"": ""_recordId""}","{""ImportId"": ""locationLatitude""}",'
                    '"{""ImportId"": ""locationLongitude""}","{""ImportId"": ""distributionChannel""}",'
                    '"{""ImportId"": ""QID1_TEXT""}","{""ImportId"": ""QID2""}","{""ImportId"": ""QID3_TEXT""}"')
    rows += [
        "2025-02-01 09:00:00,Survey Preview,,R_prev1,,,preview,test test,25-34,LA1",
        "2025-02-03 17:28:00,IP Address,86.167.173.24,R_a1,54.1234,-2.8012,anonymous,"
        "More talking therapies without a six month wait,65-74,FY8",
        "2025-02-03 18:02:00,IP Address,81.2.69.160,R_a2,53.8041,-3.0511,anonymous,"
        "Crisis support that is not A&E,45-54,LA5",
        "2025-02-04 10:15:00,Spam,10.0.0.1,R_spam,,,anonymous,buy cheap pills,,",
    ]
    return ("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8")


@pytest.mark.parametrize("import_ids", [True, False])
def test_qualtrics_header_rows_are_headings_not_respondents(import_ids: bool) -> None:
    answers, info = read_export(qualtrics_csv(import_ids), "qualtrics.csv", "public")
    assert info.header_rows == (3 if import_ids else 2)
    assert info.id_column == "Response ID"
    assert info.question_columns == [QUALTRICS_Q1]
    assert answers["question"].unique().tolist() == [QUALTRICS_Q1]
    # The survey tool's own previews and spam are not people.
    assert answers["respondent_id"].tolist() == ["R_a1", "R_a2"]
    assert info.metadata_roles["What is your age?"] == "age_band"
    assert info.metadata_roles["What is the first part of your postcode?"] == "postcode_district"
    d = describe_export(qualtrics_csv(import_ids), "qualtrics.csv")
    assert d["respondents"] == 2
    assert any("2 response(s) marked as a survey preview, test or spam" in n for n in d["notes"])


def test_qualtrics_ip_address_and_map_position_are_not_kept() -> None:
    answers, info = read_export(qualtrics_csv(), "qualtrics.csv", "public")
    assert info.metadata_roles["IP Address"] == "ip_address"
    assert info.metadata_roles["Location Latitude"] == info.metadata_roles["Location Longitude"] == "geolocation"
    kept = answers.to_csv()
    for value in ("86.167.173.24", "81.2.69.160", "54.1234", "-2.8012", "53.8041"):
        assert value not in kept
    assert answers["Location Latitude"].tolist() == ["[LOCATION]", "[LOCATION]"]


def test_camel_case_headings_with_acronyms_are_recognised() -> None:
    data = ("ResponseID,IPAddress,GPSLatitude,What should we do next?\n"
            "1,192.0.2.10,54.5,Keep the minor injuries unit open at weekends\n"
            "2,192.0.2.11,54.6,More dentists taking on NHS patients in the town\n").encode()
    answers, info = read_export(data, "camel.csv", "public")
    assert info.metadata_roles == {"IPAddress": "ip_address", "GPSLatitude": "geolocation"}
    assert "192.0.2.10" not in answers.to_csv() and "54.5" not in answers.to_csv()


def test_how_long_is_not_a_map_position() -> None:
    data = ("ID,How long did you wait?,What should we do next?\n"
            "1,3 weeks,Keep the minor injuries unit open at weekends\n"
            "2,2 months,More dentists taking on NHS patients in the town\n").encode()
    answers, info = read_export(data, "waits.csv", "public")
    assert info.metadata_roles["How long did you wait?"] != "geolocation"
    assert answers["How long did you wait?"].tolist() == ["3 weeks", "2 months"]


@pytest.mark.parametrize("header, asks", [
    ("If you could change one thing, what would it be?", True), ("Q2. Anything else you want to tell us?", True),
    ("What gets in the way of good patient care?", True), ("What is your postcode district?", False),
    ("Which of these describes you? (tick all that apply)", False), ("How satisfied are you?", False),
    ("Final remarks", False)])
def test_headings_that_ask_for_written_answers(header: str, asks: bool) -> None:
    from nlp.ingest import _open_question

    assert _open_question(header) is asks


def test_short_post_it_answers_to_an_open_question_are_read_and_shorter_ones_get_a_mapping() -> None:
    """A youth-voice session's post-its ("more buses!!!", "exams stress") under an open question are
    read; single words are too short to be taken for written answers unasked, and the error names the
    mapping that reads them (it used to blame a summary export)."""
    notes = ["more buses!!!", "exams stress", "free period products", "climate change", "more buses!!!",
             "a place to hang out thats not mcdonalds", "exams stress", "youth club on a friday"]
    rows = "".join(f"Kendal Youth Forum,{n}\n" for n in notes)
    answers, _ = read_export(f"Session,Post-it: What worries you?\n{rows}".encode(), "youth.csv", "public")
    assert answers["text"].tolist() == notes
    words = ["buses", "exams", "money", "climate", "buses", "bullying", "exams", "transport"]
    data = ("Session,Post-it: What worries you?\n" + "".join(f"Kendal Youth Forum,{w}\n" for w in words)).encode()
    message = ingest_error(data, "youth.csv", "public")
    assert "'Post-it: What worries you?' asks an open question" in message
    assert "questions: ['Post-it: What worries you?']" in message and "summary" in message
    answers, _ = read_export(data, "youth.csv", "public", mapping={"questions": ["Post-it: What worries you?"]})
    assert answers["text"].tolist() == words


def test_a_few_rows_of_no_known_group_are_counted_as_public_with_a_note() -> None:
    """User test 4: a 129-respondent consultation was quarantined for 5 "Other (please specify)" rows."""
    rows = [("A member of the public", LONG_A), ("A health or care professional", LONG_B),
            ("A member of the public", LONG_A + " again"), ("A town or parish councillor", LONG_B + " too"),
            ("A member of the public", LONG_A + " also"), ("Other (please specify)", LONG_B + " as well")]
    data = ("ID,Are you responding as...,Comments\n" + "".join(f"{i},{g},{t}\n" for i, (g, t) in enumerate(rows, 1))).encode()
    answers, info = read_export(data, "jisc.csv")
    assert answers["source"].tolist() == ["public", "staff", "public", "partner", "public", "public"]
    assert any("'Other (please specify)'" in n and "counted as public" in n and "source_values" in n for n in info.notes)
    assert any("would be counted as public" in n for n in describe_export(data, "jisc.csv")["notes"])


def test_a_first_respondent_who_ticked_other_is_an_answer_not_a_second_header_row() -> None:
    """User test 5: "Other (please specify)" is also a SurveyMonkey sub-heading, so a first row holding
    it was taken for one: that person's answer was lost and "Postcode - CA16 6LL" became a column name."""
    data = ("Response ID,Are you responding as...,Postcode,Comments\n"
            f"1024,Other (please specify),CA16 6LL,{LONG_A}\n1000,Member of the public,CA11 8QP,{LONG_B}\n"
            f"1001,Member of the public,CA11 9QP,{LONG_A} again\n1002,Member of the public,CA10 1AA,{LONG_B} too\n"
            f"1003,Member of the public,CA12 4AB,{LONG_A} also\n1004,Member of the public,CA12 5AB,{LONG_B} as well\n").encode()
    answers, info = read_export(data, "other-first.csv")
    assert info.header_rows == 1 and answers["respondent_id"].iloc[0] == "1024"
    assert not any("CA16" in c for c in answers.columns)



@pytest.mark.parametrize("value, group", [("Member of the public (not a health professional)", "public"),
                                          ("Unpaid carer of a family member who is a clinician", "public"),
                                          ("A health or care professional", "staff"), ("Local business owner", None)])
def test_the_first_word_that_names_a_group_decides(value, group) -> None:
    """A final review found "Member of the public (not a health professional)" counted as staff."""
    from nlp.ingest import _map_source

    assert _map_source(value) == group
