"""Healthwatch and event reports (DOCX, text PDF): comments and quotes become answers."""
from __future__ import annotations

import io
from pathlib import Path

import docx
import pandas as pd
import pytest

from nlp.documents import DEFAULT_QUESTION, _event, _unquote
from nlp.ingest import ANSWER_COLUMNS, IngestError, describe_export, read_export

EXPORTS = Path(__file__).parents[1] / "fixtures" / "exports"
DOCX = "healthwatch_event_notes.docx"
PDF = "healthwatch_eden_report.pdf"


def report(name: str, filename: str | None = None) -> tuple[pd.DataFrame, object]:
    return read_export((EXPORTS / name).read_bytes(), filename or name, "healthwatch")


def docx_bytes(build) -> bytes:
    document = docx.Document()
    build(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# --- the Word fixture ----------------------------------------------------------------------------

def test_docx_passages_sections_and_events() -> None:
    answers, info = report(DOCX)
    assert (info.format, info.layout, info.id_column, info.question_column) == ("docx", "document", "Passage",
                                                                                "Section")
    assert info.metadata_columns == ["Event", "Venue", "Date", "Attribution"]
    assert list(answers.columns) == ANSWER_COLUMNS + info.metadata_columns + ["layout", "double_submission"]
    assert answers["respondent_id"].tolist() == [str(i) for i in range(1, 11)]
    assert set(answers["source"]) == {"healthwatch"} and set(answers["layout"]) == {"document"}
    assert answers["question"].tolist() == ["GP appointments"] * 3 + ["Getting to hospital"] * 2 + \
        [DEFAULT_QUESTION] * 5
    assert answers["Event"].tolist() == ["Maryport drop-in"] * 5 + ["Keswick market stall"] * 3 + \
        ["Whitehaven carers' forum"] * 2
    assert answers["Venue"].tolist()[:5] == ["Maryport Methodist Church Hall"] * 5  # from "Venue: …"
    assert answers["Date"].tolist() == ["12/07/2019"] * 5 + ["20/07/2019"] * 3 + ["05/08/2019", "19/08/2019"]


def test_docx_bullets_quotes_and_table_rows_are_the_comments() -> None:
    answers, _ = report(DOCX)
    texts = answers["text"].tolist()
    assert texts[0] == "A carer said she rings the surgery at 8am every day for a week before she gets through."
    # a quoted paragraph loses its quotation marks; who said it becomes metadata
    assert texts[3] == ("The bus to the Cumberland Infirmary takes two hours each way and the last one back "
                        "leaves at five.")
    assert answers["Attribution"].iloc[3] == "carer, Maryport"
    assert texts[4].startswith("Patient transport was cancelled twice")  # Word's "Quote" style
    assert texts[7] == "the mountain rescue team was faster than the ambulance to Borrowdale"  # quote inside prose
    assert texts[8:] == ["Carers want respite that can be booked more than two weeks ahead.",
                         "Discharge from West Cumberland Hospital happened at 9pm with no care package in place."]


def test_docx_report_prose_and_boilerplate_sections_are_left_out() -> None:
    answers, _ = report(DOCX)
    joined = " ".join(answers["text"])
    for left_out in ("We spoke to 214 people", "Commissioners should review", "Visitors and residents stopped",
                     "Between July and August 2019"):
        assert left_out not in joined
    assert "Healthwatch Cumbria: what people told us, summer 2019" not in set(answers["question"])  # the title


def test_passage_numbers_are_stable() -> None:
    first, _ = report(DOCX)
    again, _ = report(DOCX, "copy of the notes.docx")
    assert first["respondent_id"].tolist() == again["respondent_id"].tolist()
    assert first["text"].tolist() == again["text"].tolist()


# --- the PDF fixture -----------------------------------------------------------------------------

def test_pdf_bullets_quotes_sections_and_events() -> None:
    answers, info = report(PDF)
    assert (info.format, info.layout) == ("pdf", "document")
    assert len(answers) == 8
    assert answers["question"].tolist() == ["Getting an appointment"] * 3 + ["Mental health"] + \
        [DEFAULT_QUESTION] * 4
    assert answers["Event"].tolist() == ["Penrith drop-in"] * 4 + ["Alston community café"] * 4
    assert answers["Venue"].tolist() == ["Penrith Library"] * 4 + ["Alston Town Hall"] * 4  # "at …" and "Venue:"
    assert answers["Date"].tolist() == ["03/08/2019"] * 4 + ["09/08/2019"] * 4


def test_pdf_lines_of_one_bullet_are_joined_and_page_furniture_dropped() -> None:
    answers, _ = report(PDF)
    texts = answers["text"].tolist()
    assert texts[0] == ("A farmer said he cannot leave the farm between eight and six, so he has not seen a GP "
                        "in four years and only goes to A&E when something is badly wrong.")
    assert texts[3] == "My son waited eleven months for CAMHS and by then he had left school."
    assert answers["Attribution"].iloc[3] == "parent, Penrith"
    assert texts[6].startswith("A couple in their eighties")  # the list carries on over the page break
    joined = " ".join(texts)
    assert "Page 1" not in joined and "Eden listening events 2019" not in joined  # footer
    assert "independent champion" not in joined and "We visit services" not in joined  # "About …" section


def test_describe_a_report() -> None:
    described = describe_export((EXPORTS / PDF).read_bytes(), PDF)
    assert (described["format"], described["layout"], described["answers"]) == ("pdf", "document", 8)
    assert described["questions"] == [
        {"column": "Comment", "question": "Getting an appointment", "answers": 3},
        {"column": "Comment", "question": "Mental health", "answers": 1},
        {"column": "Comment", "question": DEFAULT_QUESTION, "answers": 4}]


def test_report_with_a_misleading_name_is_read_by_content() -> None:
    answers, info = report(DOCX, "healthwatch notes.pdf")
    assert info.format == "docx" and len(answers) == 10


# --- Word documents built in the test ---------------------------------------------------------------

def test_bold_paragraph_headings_and_numbered_lists() -> None:
    def build(document: docx.Document) -> None:
        heading = document.add_paragraph()
        heading.add_run("Cleator Moor coffee morning, 2 August 2019").bold = True
        document.add_paragraph("Where: Cleator Moor Civic Hall")
        section = document.add_paragraph()
        section.add_run("What would help you stay well at home").bold = True
        document.add_paragraph("1. A community nurse who visits on the same day each week.")
        document.add_paragraph("2. Help with shopping when the weather is bad in winter.")

    answers, info = read_export(docx_bytes(build), "coffee.docx", "healthwatch")
    assert answers["text"].tolist() == ["A community nurse who visits on the same day each week.",
                                        "Help with shopping when the weather is bad in winter."]
    assert set(answers["question"]) == {"What would help you stay well at home"}
    assert answers[["Event", "Venue", "Date"]].drop_duplicates().values.tolist() == [
        ["Cleator Moor coffee morning", "Cleator Moor Civic Hall", "02/08/2019"]]


def test_document_without_events_gives_only_the_columns_it_has() -> None:
    def build(document: docx.Document) -> None:
        document.add_heading("What matters most to you about health and care?", level=1)
        document.add_paragraph("Being seen by someone who knows my history.", style="List Bullet")

    answers, info = read_export(docx_bytes(build), "notes.docx", "healthwatch")
    assert info.metadata_columns == []
    assert answers[["question", "text"]].values.tolist() == [
        ["What matters most to you about health and care?", "Being seen by someone who knows my history."]]


def test_document_needs_a_source() -> None:
    with pytest.raises(IngestError, match="--source"):
        read_export((EXPORTS / DOCX).read_bytes(), DOCX)


# --- pieces ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("heading", "expected"), [
    ("Maryport drop-in, 12 July 2019", {"Event": "Maryport drop-in", "Venue": "", "Date": "12/07/2019"}),
    ("Drop-in at Maryport Library – Friday 12th July 2019",
     {"Event": "Drop-in", "Venue": "Maryport Library", "Date": "12/07/2019"}),
    ("Workington listening event (15/08/2019)", {"Event": "Workington listening event", "Venue": "",
                                                 "Date": "15/08/2019"}),
    ("Egremont carers' forum", {"Event": "Egremont carers' forum", "Venue": "", "Date": ""}),
    ("GP appointments", {}),
    ("Access to mental health support", {}),
])
def test_event_headings(heading: str, expected: dict) -> None:
    assert _event(heading) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("“The bus takes two hours.” – carer, Maryport", ("The bus takes two hours.", "carer, Maryport")),
    ('"Nobody rings back."', ("Nobody rings back.", "")),
    ("‘I feel forgotten in Alston’", ("I feel forgotten in Alston", "")),
    ("“Short quote” and then the report carries on for a long while describing what happened at the event "
     "and why it mattered to the people there", None),
    ("No quotation marks at all", ("No quotation marks at all", "")),
])
def test_unquote(text: str, expected: tuple | None) -> None:
    assert _unquote(text) == (expected or (text, ""))


def test_event_notes_written_as_paragraphs_are_the_comments() -> None:
    """Healthwatch notes are often plain paragraphs in the third person under each event's heading;
    the note-taker's own lines (who was there, who took the notes) and the report's prose are not."""
    def build(d) -> None:
        d.add_heading("Engagement events, spring 2024", level=0)
        d.add_paragraph("This report summarises what people told Healthwatch Cumbria at five events.")
        d.add_heading("Maryport drop-in, Maryport Library, 12 March 2024", level=1)
        d.add_paragraph("Healthwatch Cumbria staff present: [NAME] and [NAME]. Attendees: 23.")
        d.add_paragraph("A carer at the Maryport drop-in said she had never been offered a carer's assessment.")
        d.add_paragraph("Several attendees said there was no NHS dentist taking patients in Maryport.")
        d.add_paragraph("It was noted that carers were not always recognised by the GP practice.")
        d.add_heading("Alston community event, 4 April 2024", level=1)
        d.add_paragraph("Notes taken by the engagement officer.")
        d.add_paragraph("A farmer said the ambulance had taken 80 minutes to reach his neighbour.")

    answers, _ = read_export(docx_bytes(build), "notes.docx", "healthwatch")
    assert answers["text"].tolist() == [
        "A carer at the Maryport drop-in said she had never been offered a carer's assessment.",
        "Several attendees said there was no NHS dentist taking patients in Maryport.",
        "It was noted that carers were not always recognised by the GP practice.",
        "A farmer said the ambulance had taken 80 minutes to reach his neighbour."]


def test_a_table_column_named_for_who_spoke_holds_the_comments() -> None:
    """User test 5: a "Theme | What carers said" table gave one comment of five and counted its
    header cell as a person."""
    said = ["Respite is impossible to book, the waiting list is months long.",
            "Mum was discharged from the Cumberland Infirmary at 10pm with nothing in place.",
            "I think I am depressed but there is nobody to tell."]

    def build(d):
        d.add_heading("Event 3: carers' group", level=2)
        t = d.add_table(rows=1, cols=2)
        t.rows[0].cells[0].text, t.rows[0].cells[1].text = "Theme", "What carers said"
        for theme, text in zip(["Respite", "Discharge", "Mental health"], said):
            row = t.add_row().cells
            row[0].text, row[1].text = theme, text
    answers, _ = read_export(docx_bytes(build), "carers.docx", "healthwatch")
    assert answers["text"].tolist() == said


def test_notes_that_open_at_the_event_and_a_summary_table_are_both_read() -> None:
    """User test 6: notes opening "At Hollingford College, students told us …" were not read (the
    comma broke the lead-in), so of a Healthwatch report only its summary table was."""
    notes = ["At the Ashbury carers coffee morning (14 attendees), carers said respite is almost impossible "
             "to arrange.",
             "At Hollingford College, students told us there is nothing to do in the evenings.",
             "At the Rural East parish meeting, residents raised the loss of the bus service."]

    def build(d):
        d.add_heading("Healthwatch Wealdshire: what people told us", level=0)
        d.add_paragraph("Engagement report for the Health and Wellbeing Board, prepared by Healthwatch Wealdshire.")
        d.add_heading("Event notes", level=1)
        for n in notes:
            d.add_paragraph(n)
        d.add_heading("Summary of themes", level=1)
        t = d.add_table(rows=1, cols=3)
        for cell, text in zip(t.rows[0].cells, ["Theme", "What people told us", "Number of people"]):
            cell.text = text
        row = t.add_row().cells
        row[0].text, row[1].text, row[2].text = "Transport", "Rural buses stop too early for appointments", "23"
    answers, _ = read_export(docx_bytes(build), "healthwatch.docx", "healthwatch")
    assert answers["text"].tolist() == notes + ["Rural buses stop too early for appointments"]
