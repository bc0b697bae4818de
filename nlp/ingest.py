"""Survey exports (CSV or Excel, as the survey tool produced them) to one row per free-text answer.

Engagement officers drop in whatever SmartSurvey, SurveyMonkey, Excel or a colleague gave them,
so nothing here relies on fixed column names: the encoding, delimiter, header rows, response sheet,
ID column and free-text question columns are all worked out from the bytes. Anything that cannot
be read raises `IngestError` with a message written for the person who dropped the file in.
This module is pure: it parses the bytes it is given and touches no database or flow.
"""
from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import PureWindowsPath
from collections.abc import Iterable, Sequence

import pandas as pd

ANSWER_COLUMNS = ["source_file", "respondent_id", "question", "source", "text"]
SOURCES = ("public", "staff", "healthwatch", "partner")

_REDOWNLOAD = "Re-download the export from the survey tool and drop it in again."
# Cells that mean "not answered". Typed non-answers ("no comment") are kept for a later stage.
_NOT_ANSWERED = {"", "n/a", "-"}
_DELIMITERS = ",;\t|"
_SNIFF_ROWS = 50
# SurveyMonkey's second header row: the per-column sub-headings under each question.
_SUBHEADINGS = {"response", "responses", "open-ended response", "open ended response",
                "other (please specify)"}
# Sub-headings that add nothing to the question, so the column is simply named after the question.
_PLAIN_SUBHEADINGS = {"", "response", "responses", "open-ended response", "open ended response"}
_QUESTION_HEADERS = {"question", "question text", "question asked", "question wording"}
_TEXT_HEADERS = {"text", "answer", "answer text", "response", "response text", "comment", "comments",
                 "verbatim", "feedback", "free text"}
_SOURCE_HEADERS = {"source", "source type", "respondent type", "respondent group", "respondent category",
                   "type of respondent", "stakeholder", "stakeholder group", "stakeholder type"}
# Words that identify a source value; checked in this order so "public sector partner" is a partner.
_SOURCE_WORDS = (
    ("healthwatch", {"healthwatch"}),
    ("staff", {"staff", "employee", "employees", "colleague", "colleagues"}),
    ("partner", {"partner", "partners", "partnership", "voluntary", "organisation", "organisations",
                 "organization", "sector", "charity", "vcse", "council"}),
    ("public", {"public", "patient", "patients", "resident", "residents", "carer", "carers", "citizen"}),
)
_ID_HEADER = re.compile(r"\b(id|ids|ref|reference|identifier|uid|uuid)\b"
                        r"|^(respondent|response)( no| number)?$")
# "Q1. ", "Q2a)", "Question 3:", "4) ", "5. ", "2.1 " - but not "5 year plan" or "2019: …".
_QUESTION_NUMBER = re.compile(r"^\s*(?:(?:question|q)\s*\d+[a-z]?(?:\.\d+)*\s*[.):\-–]?"
                              r"|\d{1,3}(?:\.\d+)+(?=\s)"
                              r"|\d{1,3}[a-z]?(?:\.\d+)*\s*[.):\-–])\s*", re.IGNORECASE)
_NUMBER_OR_DATE = re.compile(r"^[£$€]?[+-]?\d[\d,]*(\.\d+)?%?$|^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")
_WORD = re.compile(r"[^\W\d_]{2,}")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")


class IngestError(ValueError):
    """A file that cannot be turned into answers.

    The message is plain English for an engagement officer: what is wrong with the file and what
    to do next. It never contains a traceback or Python jargon.
    """


@dataclass
class ExportInfo:
    """What `read_table` found out about an export, so `melt_answers` need not guess again.

    `header_rows` counts the rows that make up the column headings (2 for SurveyMonkey); a title
    row above them is skipped, not counted. In a long layout `question_columns` holds the one
    answer column and the question comes from the column headed "question".
    """

    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    layout: str
    id_column: str | None
    question_columns: list[str]
    metadata_columns: list[str]
    source_column: str | None
    header_rows: int
    n_rows: int


def normalise_question(q: str) -> str:
    """Key that matches one question across exports ("Q1. What…" and "what…" are the same)."""
    return _SPACES.sub(" ", _QUESTION_NUMBER.sub("", q, count=1)).strip().casefold()


def read_export(data: bytes, filename: str, source: str | None = None) -> tuple[pd.DataFrame, ExportInfo]:
    """The whole ingest step: bytes of an export to one row per answer."""
    _check_source(source)
    table, info = read_table(data, filename)
    return melt_answers(table, info, filename, source), info


def read_table(data: bytes, filename: str) -> tuple[pd.DataFrame, ExportInfo]:
    """Parse an export into a table of strings (one column per export column) and describe it."""
    name = _basename(filename)
    if not data.strip():
        raise IngestError(f"{name} is empty. {_REDOWNLOAD}")
    if _is_xlsx(data, name):
        return _read_xlsx(data, name)
    rows, encoding, delimiter = _read_csv_rows(data, name)
    table, header_rows = _build_table(rows, name)
    layout = _analyse(table)
    if not layout["question_columns"]:
        raise _no_free_text(name, table.columns)
    info = ExportInfo(format="csv", encoding=encoding, delimiter=delimiter, sheet=None,
                      header_rows=header_rows, n_rows=len(table), **layout)
    return table, info


def melt_answers(table: pd.DataFrame, info: ExportInfo, source_file: str, source: str | None) -> pd.DataFrame:
    """One row per non-empty answer: ANSWER_COLUMNS, then the respondent metadata, then `layout`."""
    _check_source(source)
    name = _basename(source_file)
    if not info.question_columns:
        raise _no_free_text(name, table.columns)
    question_text = table.attrs.get("questions", {})
    long_question = _long_question_column(table, info) if info.layout == "long" else None
    rows = table.reset_index(drop=True)
    ids = rows[info.id_column] if info.id_column else pd.Series(
        [str(i) for i in range(1, len(rows) + 1)], dtype="str")
    meta = {_unclash(c): rows[c] for c in info.metadata_columns}
    parts = {}
    for order, column in enumerate(info.question_columns):
        question = pd.Series(question_text.get(column, column), index=rows.index, dtype="str")
        if long_question is not None:
            asked = rows[long_question].str.strip()
            question = question.where(asked == "", asked)
        parts[order] = pd.DataFrame({"respondent_id": ids, "question": question,
                                     "text": rows[column].str.strip(), **meta})
    # Index (row, question order): answers come out respondent by respondent, questions left to right.
    out = pd.concat(parts).swaplevel().sort_index()
    out = out[~out["text"].str.casefold().isin(_NOT_ANSWERED)]
    if source:
        out["source"] = source
    elif info.source_column:
        answered_rows = out.index.get_level_values(0)
        out["source"] = _map_sources(rows[info.source_column].iloc[answered_rows], info.source_column,
                                     name).to_numpy()
    else:
        raise IngestError(f"{name} does not say who the respondents are (there is no column such as "
                          f"'source' or 'respondent type'). Add it again with --source "
                          f"{'/'.join(SOURCES)} to say which group answered this survey.")
    out["source_file"] = name
    out["layout"] = info.layout
    return out[ANSWER_COLUMNS + list(meta) + ["layout"]].astype("str").reset_index(drop=True)


def _check_source(source: str | None) -> None:
    """Refuse a mistyped --source before any work is done."""
    if source is not None and source not in SOURCES:
        raise IngestError(f"'{source}' is not a respondent source this tool knows. "
                          f"Use one of: {', '.join(SOURCES)}.")


def _map_sources(values: pd.Series, column: str, name: str) -> pd.Series:
    """The export's own source values mapped onto SOURCES; unknown ones are an error, not a guess."""
    mapped = values.map(_map_source)
    unknown = sorted(set(values[mapped.isna()]))
    if unknown:
        shown = ", ".join(f"'{v}'" if v else "(blank)" for v in unknown[:5])
        raise IngestError(f"{name}: the '{column}' column has values that are not one of "
                          f"{', '.join(SOURCES)}: {shown}. Correct those rows, or add the file again "
                          "with --source to give one source for every answer.")
    return mapped


def _map_source(value: str) -> str | None:
    """'Staff member' -> staff, 'Member of the public' -> public, …; None if it is not a source."""
    words = set(_NON_ALNUM.sub(" ", value.casefold()).split())
    return next((source for source, vocabulary in _SOURCE_WORDS if words & vocabulary), None)


def _unclash(column: str) -> str:
    """Keep a metadata column's own name unless it would overwrite one of the output columns."""
    return f"{column} (export)" if column in ANSWER_COLUMNS or column == "layout" else column


def _long_question_column(table: pd.DataFrame, info: ExportInfo) -> str | None:
    """The column naming the question in a long file (it is in none of ExportInfo's lists)."""
    listed = {info.id_column, info.source_column, *info.question_columns, *info.metadata_columns}
    return next((c for c in table.columns
                 if c not in listed and _header_key(c) in _QUESTION_HEADERS), None)


def _basename(filename: str) -> str:
    """The file's own name, whether the caller gave a POSIX or a Windows path."""
    return PureWindowsPath(filename).name or filename


# --- reading bytes -------------------------------------------------------------------------------

def _is_xlsx(data: bytes, name: str) -> bool:
    """Decide by content as well as name: a renamed workbook is still a workbook."""
    suffix = PureWindowsPath(name).suffix.casefold()
    if data.startswith(b"\xd0\xcf\x11\xe0") and suffix == ".xls":
        raise IngestError(f"{name} is in the old Excel 97-2003 (.xls) format, which cannot be read. "
                          "Open it in Excel, use File > Save As > Excel Workbook (.xlsx), "
                          "and drop the new file in.")
    return data.startswith(b"PK\x03\x04") or suffix in {".xlsx", ".xlsm"}


def _read_xlsx(data: bytes, name: str) -> tuple[pd.DataFrame, ExportInfo]:
    """Read every sheet and keep the one that looks like the responses (the most free text)."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            sheets = [(ws.title, [[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)])
                      for ws in workbook.worksheets]
        finally:
            workbook.close()
    except Exception as exc:  # zip, XML and encryption errors all mean the same thing to the user
        raise IngestError(f"{name} could not be opened as an Excel workbook (it may be damaged or "
                          f"password-protected). {_REDOWNLOAD}") from exc
    best: tuple[int, str, pd.DataFrame, int, dict] | None = None
    problems = []
    for title, rows in sheets:
        try:
            table, header_rows = _build_table(rows, f"{name} (sheet '{title}')")
        except IngestError as problem:
            problems.append(problem)
            continue
        layout = _analyse(table)
        chars = sum(_answered(table[c]).str.len().sum() for c in layout["question_columns"])
        if best is None or chars > best[0]:
            best = (chars, title, table, header_rows, layout)
    if best is None:
        # With one sheet its own problem is the most useful message.
        raise problems[0] if len(sheets) == 1 else IngestError(
            f"{name} has no sheet with column headings and responses. {_REDOWNLOAD}")
    chars, title, table, header_rows, layout = best
    if not chars:
        raise _no_free_text(name, table.columns)
    info = ExportInfo(format="xlsx", encoding=None, delimiter=None, sheet=title,
                      header_rows=header_rows, n_rows=len(table), **layout)
    return table, info


def _cell_text(value: object) -> str:
    """An Excel cell as the user sees it: 5003 not 5003.0, UK dates, no None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y" if value.time() == time() else "%d/%m/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    return str(value).strip()


def _read_csv_rows(data: bytes, name: str) -> tuple[list[list[str]], str, str]:
    """Decode, find the delimiter and split into rows (quoted line breaks stay inside their cell)."""
    text, encoding = _decode(data, name)
    controls = sum(1 for ch in text[:65536] if ch < " " and ch not in "\t\r\n")
    if controls > 0.01 * min(len(text), 65536):
        raise IngestError(f"{name} does not look like a CSV or Excel file (it contains binary data). "
                          "Export the responses from the survey tool as CSV or Excel (.xlsx) and drop "
                          "that file in instead.")
    delimiter = _sniff_delimiter(text)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise IngestError(f"{name} could not be read as a CSV file ({exc}). {_REDOWNLOAD}") from exc
    return [[cell.strip() for cell in row] for row in rows], encoding, delimiter


def _decode(data: bytes, name: str) -> tuple[str, str]:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252, else charset_normalizer's guess.

    Windows-1252 (what Excel's plain "CSV" save produces in the UK) is tried before the
    charset_normalizer guess because that library labels short cp1252 files as cp1250,
    which would turn every £ into Ł.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if b"\x00" in data:
        raise IngestError(f"{name} does not look like a CSV or Excel file (it contains binary data). "
                          "Export the responses from the survey tool as CSV or Excel (.xlsx) and drop "
                          "that file in instead.")
    for encoding in ("utf-8", "cp1252", _charset_hint(data)):
        if encoding:
            try:
                return data.decode(encoding), encoding
            except (UnicodeDecodeError, LookupError):
                continue
    raise IngestError(f"{name} uses a text encoding that could not be recognised. Open it in Excel, "
                      "use Save As > 'CSV UTF-8 (Comma delimited)', and drop the new file in.")


def _charset_hint(data: bytes) -> str | None:
    """charset_normalizer's best guess when it is installed (it is optional)."""
    try:
        from charset_normalizer import from_bytes
    except ImportError:
        return None
    best = from_bytes(data).best()
    return best.encoding if best else None


def _sniff_delimiter(text: str) -> str:
    """csv.Sniffer's answer if it splits the rows consistently, else the most consistent delimiter."""
    try:
        sniffed = csv.Sniffer().sniff(text[:65536], delimiters=_DELIMITERS).delimiter
    except csv.Error:
        sniffed = ","
    scores = {d: _consistency(text, d) for d in _DELIMITERS}
    top = max(scores.values())
    return sniffed if scores.get(sniffed) == top else next(d for d in _DELIMITERS if scores[d] == top)


def _consistency(text: str, delimiter: str) -> float:
    """Share of the first rows that have as many cells as the header (0 if the header is one cell)."""
    try:
        rows = [r for r in itertools.islice(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter),
                                            _SNIFF_ROWS) if any(c.strip() for c in r)]
    except csv.Error:
        return 0.0
    if not rows or len(rows[0]) < 2:
        return 0.0
    return sum(len(r) == len(rows[0]) for r in rows) / len(rows)


# --- from rows to a table ------------------------------------------------------------------------

def _build_table(rows: Sequence[Sequence[str]], name: str) -> tuple[pd.DataFrame, int]:
    """Find the header row(s), name the columns and drop blank rows and unnamed blank columns."""
    rows = [list(r) for r in rows if any(r)]
    if not rows:
        raise IngestError(f"{name} has no rows. {_REDOWNLOAD}")
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    start = _header_start(rows)
    header = rows[start]
    questions: dict[str, str] = {}
    header_rows = 1
    if len(rows) > start + 1 and any(c.casefold() in _SUBHEADINGS for c in rows[start + 1]):
        header, questions = _two_row_header(header, rows[start + 1])
        header_rows = 2
    data = rows[start + header_rows:]
    looks_like_data = [h for h in header if _NUMBER_OR_DATE.match(h)]
    if looks_like_data:
        raise IngestError(f"{name} does not seem to have a header row: the first row holds answers "
                          f"(such as '{looks_like_data[0]}') rather than column names. Export it again "
                          "with the column headings (question text) included, then drop it in again.")
    if not data:
        raise IngestError(f"{name} has column headings but no responses. {_REDOWNLOAD}")
    keep = [i for i in range(width) if header[i] or any(r[i] for r in data)]
    names = _unique([header[i] or f"Column {i + 1}" for i in keep])
    table = pd.DataFrame([[r[i] for i in keep] for r in data], columns=names, dtype="str")
    if questions:
        table.attrs["questions"] = {names[k]: questions[header[i]] for k, i in enumerate(keep)
                                    if header[i] in questions}
    return table, header_rows


def _header_start(rows: Sequence[Sequence[str]]) -> int:
    """Skip title lines above the headings: the header is the first row with 2+ filled cells."""
    counts = [sum(1 for c in r if c) for r in rows[:20]]
    needed = min(2, max(counts))
    return next(i for i, count in enumerate(counts) if count >= needed)


def _two_row_header(questions_row: list[str], sub_row: list[str]) -> tuple[list[str], dict[str, str]]:
    """SurveyMonkey headings: the question sits over its first column only (merged cells).

    Returns unique column names ("question - option" when the sub-heading says something) and the
    question text behind each column name.
    """
    names, questions, current = [], {}, ""
    for question, sub in zip(questions_row, sub_row):
        if question or not sub:
            current = question
        column_question = current or sub
        name = column_question if sub.casefold() in _PLAIN_SUBHEADINGS else f"{column_question} - {sub}"
        names.append(name)
        if column_question:
            questions[name] = column_question
    return names, questions


def _unique(names: Iterable[str]) -> list[str]:
    """Repeated headings get " (2)", " (3)" so every column can be addressed."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


# --- what each column is -------------------------------------------------------------------------

def _analyse(table: pd.DataFrame) -> dict:
    """Layout, ID, source, free-text and metadata columns, worked out from headers and values."""
    columns = list(table.columns)
    source_column = next((c for c in columns if _header_key(c) in _SOURCE_HEADERS
                          and _mostly_sources(table[c])), None)
    question_column = next((c for c in columns if _header_key(c) in _QUESTION_HEADERS
                            and c != source_column), None)
    id_column = _id_column(table, question_column, exclude={source_column, question_column})
    free_text = [c for c in columns if c not in {source_column, question_column, id_column}
                 and _is_free_text(table[c])]
    generic = [c for c in free_text if _header_key(c) in _TEXT_HEADERS]
    if question_column and free_text:
        layout, answer_columns = "long", [(generic or free_text)[0]]
    elif len(free_text) == 1 and generic:
        layout, answer_columns = "long", free_text
    else:
        layout, answer_columns = "wide", free_text
    taken = {source_column, question_column if layout == "long" else None, id_column, *answer_columns}
    return {"layout": layout, "id_column": id_column, "question_columns": answer_columns,
            "metadata_columns": [c for c in columns if c not in taken], "source_column": source_column}


def _header_key(header: str) -> str:
    """'Response_ID', 'ResponseID' and 'response id' compare equal."""
    return " ".join(_NON_ALNUM.sub(" ", _CAMEL.sub(" ", header).casefold()).split())


def _mostly_sources(values: pd.Series) -> bool:
    """A source-named column counts if most filled values map onto SOURCES.

    Not all: a stray 'Councillor' should be reported by name, not make the column invisible.
    A 'Source' column of channels ('Facebook', 'Email') maps to nothing and stays metadata.
    """
    filled = values[values != ""]
    return len(filled) > 0 and filled.map(_map_source).notna().mean() >= 0.5


def _id_column(table: pd.DataFrame, question_column: str | None, exclude: set) -> str | None:
    """An ID-like heading whose values are filled, short and unique (per question in a long file).

    Headings naming the respondent or response ("Respondent ID") win over other IDs
    ("Collector ID") when both qualify.
    """
    candidates = []
    for position, column in enumerate(table.columns):
        key = _header_key(column)
        values = table[column]
        if column in exclude or not _ID_HEADER.search(key) or (values == "").any():
            continue
        if values.str.len().mean() > 40:
            continue
        keys = [values, table[question_column]] if question_column else [values]
        if pd.DataFrame(dict(enumerate(keys))).duplicated().any():
            continue
        candidates.append((not ("respondent" in key or "response" in key), position, column))
    return min(candidates)[2] if candidates else None


def _answered(values: pd.Series) -> pd.Series:
    """The cells that hold an answer (not blank, N/A or '-'), stripped."""
    stripped = values.str.strip()
    return stripped[~stripped.str.casefold().isin(_NOT_ANSWERED)]


def _is_free_text(values: pd.Series) -> bool:
    """Long, varied, sentence-like answers; rules out IDs, dates, age bands, postcodes and names.

    Organisation and team names are long and varied in a small file too, so the share of
    lower-case words (sentences have them, proper names do not) is what tells them apart.
    """
    answers = _answered(values)
    if answers.empty:
        return False
    words = answers.map(_WORD.findall)
    n_words = words.map(len)
    lower = sum(w[0].islower() for ws in words for w in ws)
    return bool(answers.str.len().mean() > 25 and n_words.mean() >= 4
                and answers.nunique() / len(answers) >= 0.5 and lower / n_words.sum() >= 0.3)


def _no_free_text(name: str, columns: Iterable[str]) -> IngestError:
    """The error for an export with nothing to analyse, listing what it does contain."""
    found = list(columns)
    shown = ", ".join(f"'{c}'" for c in found[:8]) + (", …" if len(found) > 8 else "")
    return IngestError(f"{name} has no column of written (free-text) answers, so there is nothing to "
                       f"analyse. Columns found: {shown}. Check that you exported the individual "
                       "responses (not a summary or chart) with the open questions included, then drop "
                       "it in again.")
