"""Hostile and malformed files: a clear, plain-English refusal, or every answer read - never a hang.

Each file in tests/fixtures/bad/ has an entry below (a test fails if one is missing). A refusal
must name the file, say what to do next, and contain no traceback, Python jargon or answer text.
Files too big to keep in the repository are built at run time.
"""
from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from nlp.ingest import MAX_CELL_CHARS, IngestError, iter_export, read_export

BAD = Path(__file__).parents[1] / "fixtures" / "bad"
SECONDS = 5  # every file, however hostile, is dealt with well within this

# file -> words the refusal must contain
REFUSED = {
    "empty.csv": "is empty",
    "blank_lines_only.csv": "is empty",
    "only_headers.csv": "has column headings but no responses",
    "no_free_text.csv": "has no column of written (free-text) answers",
    "headerless.csv": "does not seem to have a header row",
    "picture_renamed.csv": "is a PNG picture",
    "random_bytes.csv": "contains binary data",
    "program_renamed.csv": "contains binary data",
    "garbled_encoding.csv": "text encoding that could not be recognised",
    "json_renamed.csv": "is a JSON data file",
    "html_saved_as.xls": "is a web page (HTML)",
    "truncated.xlsx": "could not be opened as an Excel workbook",
    "nested_zip_renamed.xlsx": "is a zip archive",
    "zipped_csv_renamed.docx": "is a zip archive",
    "huge_declared_size.xlsx": "far more than any real export",
    "password_protected.xlsx": "is password-protected",
    "old_binary.xls": "old Excel 97-2003 (.xls) format",
    "header_only.xlsx": "has column headings but no responses",
    "charts_and_empty_sheets.xlsx": "has no column of written (free-text) answers",
    "slides_renamed.xlsx": "is a PowerPoint presentation",
    "libreoffice_spreadsheet.ods": "is an OpenDocument spreadsheet",
    "gzip_renamed.csv": "is a gzip archive",
    "rtf_renamed.docx": "is a Rich Text (RTF) document",
    "docx_without_comments.docx": "has no comments or quotes",
    "broken_word.docx": "could not be opened as a Word document",
    "image_only.pdf": "looks like a scanned or photographed document",
    "corrupt.pdf": "could not be opened as a PDF",
    "password_protected.pdf": "is password-protected",
    "unclosed_quote.csv": "is never closed",
}

GP = "More GP appointments in Maryport in the evenings."
PENRITH = "Keep the birth centre in Penrith open for local mums."
GOOD = ["A GP appointment within a week without ringing at 8am every morning.",
        "Keep the stroke unit at West Cumberland Hospital so we are not driven to Carlisle.",
        "Mental health support in Workington for young people, the wait is far too long."]
# file -> every answer it holds, in order
READABLE = {
    "ragged_rows.csv": [
        "A GP appointment within a week without ringing at 8am every morning.",
        "Keep the stroke unit open, the drive to Carlisle is too far, especially in winter",
        "More district nurses in Cockermouth and Keswick.",
        "Dentists. There are none taking NHS patients in Whitehaven."],
    "formula_cells.csv": [
        '=HYPERLINK("https://www.example.org","Click here for the survey results")',
        "-- The waiting list for hip operations at the Infirmary is far too long --",
        "+1 to everything said about dentists in Whitehaven, there are none taking patients.",
        "@NHS please open the minor injuries unit in Keswick at weekends again."],
    "formula_cells.xlsx": [
        "Please publish the waiting times for the Cumberland Infirmary online every week.",
        '="Keep"&" the minor injuries unit in Keswick open at weekends."',
        "Community transport from Alston to Carlisle for hospital appointments."],
    "mixed_line_endings.csv": [
        GP, "Keep the birth centre in Penrith.\nIt is an hour to Carlisle.",
        "Better buses from Silloth to the Cumberland Infirmary.",
        "A walk-in centre in Workington that is open at weekends."],
    "duplicate_headers.csv": [
        GP, "The car park at West Cumberland Hospital is always full.",
        PENRITH, "Online booking for blood tests would save a lot of phone calls."],
    "nul_bytes.csv": [GP, PENRITH],
    "utf16_no_bom.csv": ["More GP appointments in Maryport – evenings please.",
                         "Keep the birth centre in Penrith open, it’s £40 in a taxi to Carlisle."],
    "workbook_renamed.csv": GOOD,
    "false_dimensions.xlsx": GOOD,
}


def refusal(data: bytes, name: str) -> str:
    started = time.monotonic()
    with pytest.raises(IngestError) as caught:
        read_export(data, name, "public")
    assert time.monotonic() - started < SECONDS
    return str(caught.value)


def assert_plain_english(message: str, name: str, data: bytes) -> None:
    assert message.startswith(name), message
    assert re.search(r"\b(drop|Drop|Open|Save|Export|Ask|Unzip|Unpack|Re-download|Check|Remove|Correct|type)\b",
                     message), f"no next step in: {message}"
    for jargon in ("Traceback", "Error", "Exception", "errno", "\\x", "0x", "None", "utf-8'", "codec"):
        assert jargon not in message, message
    assert len(message) < 700
    # never a respondent's words (the header row, holding column names, may be quoted)
    text = data.decode("utf-8", errors="ignore").replace("\x00", "")
    for cell in re.split(r"[,\t\r\n\"]+", text.split("\n", 1)[1] if "\n" in text else ""):
        if len(cell.strip()) >= 20:
            assert cell.strip() not in message, message


def test_every_bad_file_has_an_expectation() -> None:
    assert {p.name for p in BAD.iterdir()} == set(REFUSED) | set(READABLE)
    assert len(REFUSED) + len(READABLE) >= 25


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_a_plain_reason(name: str) -> None:
    data = (BAD / name).read_bytes()
    message = refusal(data, name)
    assert REFUSED[name] in message
    assert_plain_english(message, name, data)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_chunked_reading_refuses_the_same_way(name: str) -> None:
    data = (BAD / name).read_bytes()
    with pytest.raises(IngestError) as caught:
        list(iter_export(data, name, "public", chunk_rows=100))
    assert REFUSED[name] in str(caught.value)


@pytest.mark.parametrize("name", sorted(READABLE))
def test_readable_despite_the_damage_and_nothing_lost(name: str) -> None:
    started = time.monotonic()
    answers, _ = read_export((BAD / name).read_bytes(), name, "public")
    assert time.monotonic() - started < SECONDS
    assert answers["text"].tolist() == READABLE[name]


def test_ragged_row_keeps_its_postcode_and_says_it_was_repaired() -> None:
    answers, info = read_export((BAD / "ragged_rows.csv").read_bytes(), "ragged_rows.csv", "public")
    assert answers["Postcode district"].tolist() == ["CA28", "CA14", "", "CA28"]
    assert "joined back" in info.notes[0]


def test_formula_without_a_saved_result_is_noted() -> None:
    _, info = read_export((BAD / "formula_cells.xlsx").read_bytes(), "formula_cells.xlsx", "public")
    assert any("formula" in note for note in info.notes)


# --- built at run time (too big for the repository) ------------------------------------------------

def test_a_10_mb_cell_is_refused_quickly() -> None:
    data = b"Ref,Comments\r\nR1,\"" + b"Waiting lists in Whitehaven are far too long. " * 230_000 + b"\"\r\n"
    assert len(data) > 10_000_000
    message = refusal(data, "giant_cell.csv")
    assert f"more than {MAX_CELL_CHARS:,} characters" in message and "line 2" in message
    assert_plain_english(message, "giant_cell.csv", b"")


def test_an_extremely_long_line_within_the_limit_is_read_whole() -> None:
    answer = "The bus from Millom to the Cumberland Infirmary takes most of the day. " * 1_600
    data = ("Ref,Comments,Age\r\nR1,\"" + answer + "\",35-44\r\nR2,\"" + GP + "\",55-64\r\n").encode()
    answers, _ = read_export(data, "long_line.csv", "public")
    assert answers["text"].tolist() == [answer.strip(), GP] and len(answer) > 100_000


def test_a_zip_bomb_posing_as_a_workbook_is_refused_before_unpacking() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 << 20))
    data = buffer.getvalue()
    assert len(data) < 200_000
    message = refusal(data, "bomb.xlsx")
    assert "far more than any real export" in message
    assert_plain_english(message, "bomb.xlsx", b"")


def test_a_zip_with_thousands_of_parts_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(10_001):
            archive.writestr(f"xl/p{i}", b"")
    message = refusal(buffer.getvalue(), "parts.xlsx")
    assert "10,001 parts" in message


def test_truncated_utf16_is_refused() -> None:
    data = "Ref\tComments\r\nR1\tMore GP appointments\r\n".encode("utf-16")[:-1]
    message = refusal(data, "cut.csv")
    assert "could not be recognised" in message


def test_many_ragged_rows_in_a_big_file_are_all_read(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Ref", "Comments", "Age"])
        for i in range(3_000):
            writer.writerow([f"R{i}", f"Comment {i} about the surgery in Egremont and the long wait", "45-54"][
                            : 3 if i % 10 else 2])
    chunks = list(iter_export(path, path.name, "public", chunk_rows=1_000))
    assert sum(len(c) for c in chunks) == 3_000


def test_an_oversized_report_is_refused_without_being_parsed() -> None:
    data = b"%PDF-1.4\n" + b"0" * (50 << 20)
    message = refusal(data, "scanned_minutes.pdf")
    assert "larger than any report this tool reads" in message
    assert_plain_english(message, "scanned_minutes.pdf", b"")


@pytest.mark.parametrize("name, what", [("minutes.pdf", "a PDF"), ("notes.docx", "a Word document")])
def test_a_document_whose_bytes_are_not_one_says_so(name: str, what: str) -> None:
    """A 1-byte 'bad.pdf' was quarantined as 'has column headings but no responses'."""
    with pytest.raises(IngestError, match=f"could not be opened as {what}: its contents are not"):
        read_export(b"%", name, "public")
