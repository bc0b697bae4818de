"""Whatever an engagement officer drops in (survey exports, spreadsheets, event reports) to one row per answer.

Officers do not reformat files: they download an export from SmartSurvey, SurveyMonkey, Microsoft or
Google Forms or Citizen Space, save a colleague's spreadsheet, or forward a Healthwatch report. So
nothing here relies on fixed column names or on the file's extension: the format is decided from the
bytes, and the encoding, delimiter, header rows, response sheet, ID column and free-text question
columns are worked out from the content. A per-source mapping (from YAML, parsed by the caller) can
override any guess. Anything that cannot be read raises `IngestError` with a message written for the
person who dropped the file in: what is wrong and what to do next, naming the file, never quoting an
answer. Hostile files are refused before they can exhaust memory or time (size and zip-ratio guards).

This module is pure: it parses the bytes (or file) it is given and touches no database or flow.
Healthwatch/event reports (DOCX, PDF) are turned into passages by `nlp.documents`.
"""
from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import json
import re
import warnings
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path, PureWindowsPath
from typing import IO

import charset_normalizer
import ftfy
import pandas as pd

from nlp.preprocess import is_empty_answer

ANSWER_COLUMNS = ["source_file", "respondent_id", "question", "source", "text"]
SOURCES = ("public", "staff", "healthwatch", "partner")
MAPPING_KEYS = ("sheet", "id_column", "source_column", "source_values", "question_column", "questions", "metadata")

# Guards against hostile files. No genuine answer is longer than a CSV cell may be (Excel itself stops
# at 32,767 characters); a survey workbook never unpacks to a gigabyte; deflate cannot compress real
# spreadsheet XML a thousandfold, only padding built to exhaust memory.
MAX_CELL_CHARS = 131_072
MAX_UNZIPPED_BYTES = 1 << 30
MAX_ZIP_MEMBERS = 10_000
_BOMB_RATIO = 1000
_BOMB_MIN_BYTES = 10 << 20

_REDOWNLOAD = "Re-download the export from the survey tool and drop it in again."
_SAVE_AS_XLSX = ("Open it in Excel, use File > Save As > Excel Workbook (.xlsx), and drop the new file in.")
# Cells that mean "not answered" (blank, N/A, a dash, an Excel error value). Typed non-answers such as
# "no comment" are kept for a later stage to judge.
_NOT_ANSWERED = {"", "n/a", "-", "#n/a", "#value!", "#ref!", "#name?", "#div/0!", "#null!", "#num!"}
_DELIMITERS = ",;\t|"
_SNIFF_ROWS = 50
_SAMPLE = 2000          # values per column looked at when guessing what a column is
_HEAD_BYTES = 1 << 16   # bytes looked at to recognise a format or an encoding
_MIN_FIRST_CHUNK = 25   # rows: enough to get past title rows to the headings and some answers
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
_SOURCE_HEADER_PHRASES = re.compile(r"best describes you|responding (as|on behalf)|in what capacity"
                                    r"|which group do you|^are you$|^are you a\b")
# Words that identify a source value; checked in this order so "public sector partner" is a partner.
_SOURCE_WORDS = (
    ("healthwatch", {"healthwatch"}),
    ("staff", {"staff", "employee", "employees", "colleague", "colleagues", "professional", "professionals",
               "clinician", "clinicians", "practitioner", "practitioners"}),
    ("partner", {"partner", "partners", "partnership", "voluntary", "organisation", "organisations",
                 "organization", "sector", "charity", "vcse", "council", "councillor", "councillors", "parish"}),
    ("public", {"public", "patient", "patients", "resident", "residents", "carer", "carers", "citizen",
                "individual", "individuals", "user", "users", "uses", "family", "relative", "relatives"}),
)
_ID_HEADER = re.compile(r"\b(id|ids|ref|reference|identifier|uid|uuid)\b"
                        r"|^(respondent|response|user|participant|submission)( no| number)?$")
# What a short heading says a metadata column holds; checked in order ("Organisation name" is not a name).
_ROLE_HEADERS = (
    ("email", re.compile(r"\be ?mail\b")),
    ("ip_address", re.compile(r"\bip( address)?\b")),
    # Not "long" alone: "How long did you wait?" is a question.
    ("geolocation", re.compile(r"\b(latitude|longitude|geo ?location|coordinates|gps|lat long|lat lng)\b")),
    ("date", re.compile(r"\b(date|time|timestamp|started|ended|submitted|completed|completion|modified"
                        r"|created|updated)\b")),
    ("age_band", re.compile(r"\bage\b|\bhow old\b")),
    ("postcode_district", re.compile(r"\bpost ?code\b|\bpostal code\b")),
    ("organisation", re.compile(r"\borgani[sz]ation|\bcompany\b|\bemployer\b|\bteam\b|\bdepartment\b"
                                r"|\bpractice\b|\btrust\b")),
    ("role", re.compile(r"\brole\b|\bjob\b|\bposition\b|\bprofession|\boccupation|\bstaff group\b"
                        r"|\bcapacity\b|\bdescribes you\b|\bresponding as\b")),
    ("name", re.compile(r"\bname\b|\bsurname\b")),
    ("id", _ID_HEADER),
)
# Columns headed like this hold facts about the respondent, never their written answer.
_NEVER_TEXT = {"email", "ip_address", "geolocation", "date", "age_band", "postcode_district", "name", "id"}
_ASKS_FOR_TEXT = re.compile(r"\b(comments?|feedback|tell|describe|explain|why|what|how)\b")
# A heading that asks for an answer in the respondent's own words ("What gets in the way of good
# patient care?", "Is there anything else you would like to tell us?") ...
_OPEN_QUESTION = re.compile(
    r"^(?:what(?!\s+(?:is|was|are)\s+your\b)|why|how(?!\s+(?:satisfied|likely|often|many|much|old|long"
    r"|would you rate|do you rate)\b)|is there anything|are there any|anything else|any other|tell us|please "
    r"(?:tell|describe|explain|give|share|add)|describe|explain|if you (?:have|would like|could|were)|do you have any"
    r"(?: other| further)? (?:comments|suggestions|ideas|thoughts))\b", re.IGNORECASE)
# ... and one that offers options ("Which of these describes you? (tick all that apply)").
_CHOICE_QUESTION = re.compile(r"\b(?:tick|select|choose|which of (?:these|the following)|all that apply"
                              r"|describes? you|rate)\b", re.IGNORECASE)
_AGE_BAND = re.compile(r"^(under \d+|\d{1,2}\s*(-|–|to)\s*\d{1,2}|\d{1,2}\s*(\+|and over|or over|plus)"
                       r"|prefer not to say)$", re.IGNORECASE)
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?( ?\d[A-Z]{2})?$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# "Q1. ", "Q2a)", "Question 3:", "4) ", "5. ", "2.1 " - but not "5 year plan" or "2019: …".
_QUESTION_NUMBER = re.compile(r"^\s*(?:(?:question|q)\s*\d+[a-z]?(?:\.\d+)*\s*[.):\-–]?"
                              r"|\d{1,3}(?:\.\d+)+(?=\s)"
                              r"|\d{1,3}[a-z]?(?:\.\d+)*\s*[.):\-–])\s*", re.IGNORECASE)
_NUMBER_OR_DATE = re.compile(r"^[£$€]?[+-]?\d[\d,]*(\.\d+)?%?$|^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b")
_WORD = re.compile(r"[^\W\d_]{2,}")
# Sentences use these; lists of names, places and options mostly do not.
_FUNCTION_WORDS = frozenset("""a an the and or but if to of in on at for with from by about as is are was were be
been it its this that these those there they them their we us our you your i me my he she his her not no
more less can could should would will need needs have has had do does did get so than too very all just""".split())
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # ResponseId, IPAddress
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_SPACES = re.compile(r"\s+")
_LINE_BREAKS = re.compile(r"\r\n?|[\x0b\x0c\x85\u2028\u2029]")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200b\u2060\ufeff]")
_ODD_SPACES = re.compile(r"[\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_RUNS = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")
_FTFY = ftfy.TextFixerConfig(uncurl_quotes=False, fix_latin_ligatures=False, fix_character_width=False,
                             fix_line_breaks=False, normalization="NFC", explain=False)

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PICTURES = ((b"\x89PNG\r\n\x1a\n", "a PNG picture"), (b"\xff\xd8\xff", "a JPEG picture"),
             (b"GIF87a", "a GIF picture"), (b"GIF89a", "a GIF picture"), (b"II*\x00", "a TIFF picture"),
             (b"MM\x00*", "a TIFF picture"))
_ARCHIVES = ((b"\x1f\x8b", "a gzip archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
             (b"Rar!\x1a\x07", "a RAR archive"))
_TYPOGRAPHY = frozenset("’‘“”–—…€£•·°½¼¾")
_JSON_START = re.compile(r"^[\[{]\s*[\"\[{]")
_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S",
                 "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %I:%M:%S %p", "%d/%m/%Y")

# Double submissions (see `_Resubmissions`).
_NEAR = 0.9
_WINDOW = 1000
_CANDIDATES = 50
_SUBSTANTIVE_WORDS = 8
_LINK_MINUTES = 30
_LINK_ROWS = 10
_PERSON_ROLES = ("email", "name", "ip_address", "geolocation", "age_band", "postcode_district", "role",
                 "organisation")


class IngestError(ValueError):
    """A file that cannot be turned into answers.

    The message is plain English for an engagement officer: what is wrong with the file and what
    to do next. It never contains a traceback, Python jargon or the text of an answer.
    """


@dataclass
class ExportInfo:
    """What `read_table` found out about an export, so `melt_answers` need not guess again.

    `header_rows` counts the rows that make up the column headings (2 for SurveyMonkey); a title
    row above them is skipped, not counted. In a long layout `question_columns` holds the one
    answer column and `question_column` the column naming the question. `layout` is "wide" (one
    row per respondent), "long" (one row per answer) or "document" (passages of a report).
    `metadata_roles` says what each metadata column holds (id, date, age_band, postcode_district,
    role, organisation, email, name, ip_address, choice, number or other); `notes` lists repairs
    made while reading, for `engage inspect`.
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
    question_column: str | None = None
    metadata_roles: dict[str, str] = field(default_factory=dict)
    sheets: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The mapping's `source_values`: an export's own words for a group ("Other (please specify)" ->
    # public), keyed by `_source_key`.
    source_values: dict[str, str] = field(default_factory=dict)


# --- public API -----------------------------------------------------------------------------------

def normalise_question(q: str) -> str:
    """Key that matches one question across exports ("Q1. What…" and "what…" are the same)."""
    return _SPACES.sub(" ", _QUESTION_NUMBER.sub("", q, count=1)).strip().casefold()


def normalise_text(text: str) -> str:
    """One cell as the person meant it: mojibake repaired, NFC, tidy whitespace; nothing cut.

    Excel round trips turn "£" into "Â£" and "’" into "â€™"; ftfy undoes that (only non-ASCII text
    can carry mojibake, so ASCII skips it). Line breaks become "\\n", runs of spaces and odd spaces
    (non-breaking, tabs) become one space, invisible characters (NUL, zero-width) go, and the ends
    are trimmed. Words are never changed or dropped.
    """
    if text.isascii():
        if text.isprintable() and "  " not in text and text == text.strip():
            return text
    else:
        text = ftfy.fix_text(text, _FTFY)
    text = _ODD_SPACES.sub(" ", _INVISIBLE.sub("", _LINE_BREAKS.sub("\n", text)))
    return _BLANK_LINES.sub("\n\n", _LINE_EDGES.sub("\n", _SPACE_RUNS.sub(" ", text))).strip()


def detect_format(data: bytes, filename: str) -> str:
    """'csv', 'xlsx', 'docx' or 'pdf', decided by the bytes (a renamed file is still what it is).

    Anything else (pictures, archives, old Office files, web pages, JSON, encrypted workbooks)
    raises `IngestError` saying what the file really is and what to send instead.
    """
    return _detect(_Input(data=data), _basename(filename))


def read_export(data: bytes, filename: str, source: str | None = None,
                mapping: Mapping | None = None) -> tuple[pd.DataFrame, ExportInfo]:
    """The whole ingest step: bytes of an export to one row per answer.

    Columns: ANSWER_COLUMNS, the export's metadata columns, `layout` and `double_submission`.
    `mapping` (keys in MAPPING_KEYS) overrides what would otherwise be guessed.
    """
    _check_source(source)
    table, info = read_table(data, filename, mapping)
    return melt_answers(table, info, filename, source), info


def read_table(data: bytes, filename: str, mapping: Mapping | None = None) -> tuple[pd.DataFrame, ExportInfo]:
    """Parse an export into a table of strings (one column per export column) and describe it."""
    name = _basename(filename)
    mapping = _check_mapping(mapping, name)
    table, info, _ = _open_table(_Input(data=data), name, mapping, limit=None)
    return table, info


def melt_answers(table: pd.DataFrame, info: ExportInfo, source_file: str, source: str | None) -> pd.DataFrame:
    """One row per non-empty answer: ANSWER_COLUMNS, the metadata, `layout`, `double_submission`."""
    _check_source(source)
    name = _basename(source_file)
    return _melt(table, info, name, source, _Resubmissions(info, table), first_row=1)


def iter_export(data_or_path: bytes | str | Path, filename: str, source: str | None = None,
                chunk_rows: int = 50_000, mapping: Mapping | None = None) -> Iterator[pd.DataFrame]:
    """`read_export` in chunks of about `chunk_rows` rows, so a huge export is never held whole.

    CSV is decoded and split as a stream and an Excel sheet is read row by row (openpyxl read-only);
    what each column is gets decided on the first chunk, and double submissions are tracked across
    chunks. Reports (DOCX, PDF) come as one chunk. An `IngestError` can come from any chunk (a
    broken row near the end): the caller should then treat the whole file as unread.
    """
    _check_source(source)
    name = _basename(filename)
    mapping = _check_mapping(mapping, name)
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    source_input = _Input(data=data_or_path) if isinstance(data_or_path, bytes) else _Input(path=Path(data_or_path))
    table, info, rest = _open_table(source_input, name, mapping, limit=chunk_rows)
    seen = _Resubmissions(info, table)
    first = _melt(table, info, name, source, seen, first_row=1)
    first.attrs["notes"] = list(info.notes)  # for the officer: repairs made, columns left out
    yield first
    first_row = len(table) + 1
    for chunk in rest:
        if len(chunk):
            yield _melt(chunk, info, name, source, seen, first_row)
            first_row += len(chunk)


def describe_export(data: bytes, filename: str, mapping: Mapping | None = None) -> dict:
    """What `read_export` would take from a file, for `engage inspect`, without storing anything.

    Format, encoding, delimiter, sheet (and all sheets), layout, header rows, ID/source/question
    columns, each question with its answer count, metadata columns with their roles, row, answer,
    respondent and double-submission counts, respondent sources found, and repairs made.
    Raises `IngestError` (the same message the quarantine would give) if the file cannot be read.
    """
    name = _basename(filename)
    table, info = read_table(data, filename, mapping)
    answers = _melt(table, info, name, None, _Resubmissions(info, table), first_row=1, need_source=False)
    if info.question_column or info.layout == "document":
        counts = answers.groupby("question", sort=False).size()
        questions = [{"column": info.question_columns[0], "question": q, "answers": int(n)}
                     for q, n in counts.items()]
    else:
        labels = table.attrs.get("questions", {})
        questions = [{"column": c, "question": labels.get(c, c), "answers": int(len(_answered(table[c])))}
                     for c in info.question_columns]
    sources = None
    notes = list(info.notes)
    if info.source_column:
        column = table[info.source_column]
        mapped = _sources_of(column, info.source_values)
        sources = {k: int(n) for k, n in mapped.fillna("not recognised").value_counts().items()}
        if mapped.isna().any():
            placed = mapped.isna().mean() <= UNPLACED_AS_PUBLIC
            notes.append(_unknown_sources(info.source_column, column[mapped.isna()],
                                          "so their answers would be counted as public" if placed
                                          else "so ingesting it as it is would quarantine it"))
    return {
        "file": name, "format": info.format, "encoding": info.encoding, "delimiter": info.delimiter,
        "sheet": info.sheet, "sheets": info.sheets, "layout": info.layout, "header_rows": info.header_rows,
        "rows": info.n_rows, "id_column": info.id_column, "source_column": info.source_column,
        "question_column": info.question_column, "questions": questions,
        "metadata": [{"column": c, "role": info.metadata_roles.get(c, "other")} for c in info.metadata_columns],
        "answers": len(answers), "respondents": int(answers["respondent_id"].nunique()),
        "double_submissions": int(answers["double_submission"].sum()), "sources": sources,
        "notes": notes,
    }


# --- from table to answers ------------------------------------------------------------------------

def _melt(table: pd.DataFrame, info: ExportInfo, name: str, source: str | None, seen: _Resubmissions,
          first_row: int, need_source: bool = True) -> pd.DataFrame:
    """Answers of one table (or chunk); `first_row` numbers respondents when there is no ID column."""
    if not info.question_columns:
        raise _no_free_text(name, table.columns)
    question_text = table.attrs.get("questions", {})
    rows = table.reset_index(drop=True)
    ids = rows[info.id_column] if info.id_column else pd.Series(
        [str(i) for i in range(first_row, first_row + len(rows))], dtype="str")
    flags = pd.Series(seen.flags(rows, ids), dtype=bool)
    meta = {_unclash(c): _withheld(rows[c], info.metadata_roles.get(c)) for c in info.metadata_columns}
    parts = {}
    for order, column in enumerate(info.question_columns):
        question = pd.Series(question_text.get(column, column), index=rows.index, dtype="str")
        if info.question_column:
            asked = rows[info.question_column]
            question = question.where(asked == "", asked)
        parts[order] = pd.DataFrame({"respondent_id": ids, "question": question, "text": rows[column],
                                     **meta, "double_submission": flags})
    # Index (row, question order): answers come out respondent by respondent, questions left to right.
    out = pd.concat(parts).swaplevel().sort_index()
    out = out[~out["text"].str.casefold().isin(_NOT_ANSWERED)]
    answered_rows = out.index.get_level_values(0)
    if source:
        out["source"] = source
        if info.source_column:  # the folder or --source wins: say what the file's own column said
            own = _sources_of(rows[info.source_column].iloc[answered_rows], info.source_values).dropna()
            other = own[own != source].value_counts()
            if len(other) and info.notes is not None:
                placed = ", ".join(f"{n} answer{'' if n == 1 else 's'} in {g}" for g, n in other.items())
                info.notes.append(
                    f"the file's own '{info.source_column}' column places {placed}, but every answer was counted "
                    f"as {source} (the inbox folder it was dropped in, or --source): to count each by its column, "
                    "drop the file into data/raw/inbox/ itself, not a group's folder")
    elif info.source_column:
        out["source"] = _map_sources(rows[info.source_column].iloc[answered_rows], info.source_column,
                                     name, strict=need_source, overrides=info.source_values,
                                     notes=info.notes).to_numpy()
    elif need_source:
        raise IngestError(f"{name} does not say who the respondents are (there is no column such as "
                          f"'source' or 'respondent type'). Say which group answered it: drop it into the "
                          f"inbox folder named after the group (data/raw/inbox/{'/, inbox/'.join(SOURCES)}/), "
                          f"or add it again with `engage ingest FILE --source {'/'.join(SOURCES)}`.")
    else:
        out["source"] = ""
    out["source_file"] = name
    out["layout"] = info.layout
    columns = ANSWER_COLUMNS + list(meta) + ["layout"]
    result = out[columns].astype("str").reset_index(drop=True)
    result["double_submission"] = out["double_submission"].to_numpy(dtype=bool)
    return result


# A column that holds who someone is keeps only that something was given: a name outside the
# redactor's gazetteer ("Chidi Okafor") would otherwise be stored as typed, and a survey tool's
# latitude and longitude (Qualtrics) place a respondent to within a street.
_IDENTITY_PLACEHOLDERS = {"name": "[NAME]", "email": "[EMAIL]", "ip_address": "[IP_ADDRESS]",
                          "geolocation": "[LOCATION]"}
_NOT_GIVEN = {"", "anonymous", "anon", "n/a", "na", "none", "-", "prefer not to say", "not given"}


def _withheld(values: pd.Series, role: str | None) -> pd.Series:
    """A name, e-mail, IP address or map position's values replaced by their placeholder; others as read."""
    if role not in _IDENTITY_PLACEHOLDERS:
        return values
    given = ~values.fillna("").astype(str).str.strip().str.casefold().isin(_NOT_GIVEN)
    return values.where(~given, _IDENTITY_PLACEHOLDERS[role])


def _check_source(source: str | None) -> None:
    """Refuse a mistyped --source before any work is done."""
    if source is not None and source not in SOURCES:
        raise IngestError(f"'{source}' is not a respondent source this tool knows. "
                          f"Use one of: {', '.join(SOURCES)}.")


# At most this share of a file's answers may come from rows whose group the source column does not
# say ("Other (please specify)", blank): they are counted as public, with a note; more is an error.
UNPLACED_AS_PUBLIC = 0.2


def _map_sources(values: pd.Series, column: str, name: str, strict: bool = True,
                 overrides: Mapping[str, str] | None = None, notes: list[str] | None = None) -> pd.Series:
    """The export's own source values mapped onto SOURCES (the mapping's `source_values` first).
    A few unknown ones are counted as public, with a note saying how to place them (a whole survey
    used to be quarantined for five "Other (please specify)" rows); many are an error, not a guess."""
    mapped = _sources_of(values, overrides or {})
    unknown = mapped.isna()
    if strict and unknown.any():
        if unknown.mean() > UNPLACED_AS_PUBLIC:
            raise IngestError(f"{name}: {_unknown_sources(column, values[unknown], 'so its answers cannot be counted by group')}")
        note = _unknown_sources(column, values[unknown], "so their answers were counted as public")
        if notes is not None and note not in notes:
            notes.append(note)
        return mapped.fillna("public")
    return mapped.fillna("")


def _sources_of(values: pd.Series, overrides: Mapping[str, str]) -> pd.Series:
    """Each value's group: the mapping's word for it, else what its words say, else missing."""
    return values.map(lambda v: overrides.get(_source_key(v)) or _map_source(v))


def _source_key(value: object) -> str:
    return " ".join(str(value).split()).casefold()


def _unknown_sources(column: str, unknown: pd.Series, consequence: str) -> str:
    """What to do about values of the source column that name no group: a mapping line per value."""
    values = sorted(set(unknown))
    shown = ", ".join(f"'{v}'" if v else "(blank)" for v in values[:5]) + (" …" if len(values) > 5 else "")
    # Valid YAML to paste (a JSON string is a YAML string); a guess the officer corrects, not a rule.
    example = ", ".join(f"{json.dumps(v, ensure_ascii=False)}: "
                        f"{'public' if _source_key(v) in _NOT_GIVEN or 'other' in _source_key(v) else 'partner'}"
                        for v in values[:2] if v)
    how = (f"say which group each is in a column mapping (e.g. source_values: {{{example}}}, with --mapping), "
           if example else "")
    return (f"the '{column}' column has values that are not one of {', '.join(SOURCES)}: {shown}, {consequence}. "
            f"To place them, correct those rows, {how}or add the file again with --source to give one group for "
            "every answer.")


def _map_source(value: str) -> str | None:
    """'Staff member' -> staff, 'Member of the public' -> public, …; None if it is not a source.
    The first word that names a group decides: "Member of the public (not a health professional)"
    is public, "A health or care professional" staff."""
    for word in _NON_ALNUM.sub(" ", value.casefold()).split():
        for source, vocabulary in _SOURCE_WORDS:
            if word in vocabulary:
                return source
    return None


def _unclash(column: str) -> str:
    """Keep a metadata column's own name unless it would overwrite one of the output columns."""
    clashes = column in ANSWER_COLUMNS or column in ("layout", "double_submission")
    return f"{column} (export)" if clashes else column


def _basename(filename: str) -> str:
    """The file's own name, whether the caller gave a POSIX or a Windows path."""
    return PureWindowsPath(filename).name or filename


# --- double submissions --------------------------------------------------------------------------

def _canon(values: pd.Series) -> pd.Series:
    """Text compared for duplicates: case, punctuation and spacing do not matter; non-answers are ""."""
    folded = values.str.casefold()
    canon = folded.str.replace(r"[\W_]+", " ", regex=True).str.strip()
    return canon.where(~folded.isin(_NOT_ANSWERED), "")


def _similar(a: str, b: str) -> bool:
    """Same, or at least `_NEAR` alike character by character (a fixed typo, an added word)."""
    if a == b:
        return True
    if not a or not b or min(len(a), len(b)) < _NEAR * max(len(a), len(b)):
        return False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= _NEAR and matcher.ratio() >= _NEAR


@dataclass(eq=False)
class _Row:
    """What is remembered about an earlier row: enough to tell whether a later one repeats it."""

    index: int
    respondent: str | None
    answers: tuple[str, ...]
    person: tuple[str, ...]
    identity: tuple[str, ...]
    minutes: float | None
    substantive: bool
    keys: list[tuple] = field(default_factory=list)


class _Resubmissions:
    """Flags double submissions: the later copy of a row one person sent twice.

    Rule. A row repeats an earlier row when
    (1) its answers are the same, question by question, ignoring case, punctuation and spacing,
        or nearly the same (at least 90% alike: a fixed typo, an added word), with the same
        questions answered;
    (2) nothing says they are different people: e-mail, name, IP address, age band, postcode
        district, role, organisation, source and the options they chose (e.g. their site) agree
        wherever both rows have them, and, when the
        export's IDs identify people (some repeat), so do the IDs; and
    (3) something says they are the same person: the same respondent ID, e-mail, name or IP
        address; or, for rows with at least `_SUBSTANTIVE_WORDS` words of answers, being sent
        within `_LINK_MINUTES` minutes of each other (by the export's first date/time column) or,
        without times, within `_LINK_ROWS` rows.
    So "No" or "no comment" from different people is never flagged, nor is the same long answer
    sent from two e-mail addresses or, say, a campaign text sent by many people over a day.
    In a long file (one row per answer) an answer is flagged when the same respondent ID gave the
    same or a nearly identical answer to the same question before.

    Exact repeats of an ID, e-mail, name or IP address are found anywhere in the file; all other
    comparisons look back `_WINDOW` rows (double submissions are minutes apart and exports are
    in submission order), which keeps a huge export's memory small. State carries over between
    chunks of one file.
    """

    def __init__(self, info: ExportInfo, table: pd.DataFrame) -> None:
        roles = info.metadata_roles
        self.long = info.question_column is not None
        self.active = info.layout != "document" and (not self.long or info.id_column is not None)
        self.questions = list(info.question_columns) + ([info.question_column] if info.question_column else [])
        # Facts about the person, and their choices ("Site", "Which of these describes you?"): one
        # person sending the same answers twice gives the same ones.
        person = [c for c in info.metadata_columns if roles.get(c) in _PERSON_ROLES or roles.get(c) == "choice"]
        self.person = person + ([info.source_column] if info.source_column else [])
        self.identity = [c for c in person if roles.get(c) in ("email", "name", "ip_address")]
        self.when = next((c for c in info.metadata_columns if roles.get(c) == "date"), None)
        self.ids_are_people = bool(info.id_column and table[info.id_column].duplicated().any())
        self.use_ids = info.id_column is not None
        self.exact: dict[tuple[int, tuple], list[_Row]] = {}
        self.recent: deque[_Row] = deque()
        self.by_key: dict[tuple, dict[int, _Row]] = {}
        self.count = 0

    def flags(self, rows: pd.DataFrame, ids: pd.Series) -> list[bool]:
        """For each row of this chunk, in order: is it a double submission of an earlier row?"""
        if not self.active or rows.empty:
            return [False] * len(rows)
        n = len(rows)
        canon = [_canon(rows[c]) for c in self.questions]
        answered = canon[:1] if self.long else canon
        words = sum((c.str.count(" ") + 1).where(c != "", 0) for c in answered).tolist()
        answers = list(zip(*(c.tolist() for c in canon)))
        person = list(zip(*(_canon(rows[c]).tolist() for c in self.person))) if self.person else [()] * n
        identity = list(zip(*(_canon(rows[c]).replace("anonymous", "").tolist() for c in self.identity))) \
            if self.identity else [()] * n
        minutes = _minutes(rows[self.when]) if self.when else [None] * n
        respondents = ids.tolist() if self.use_ids else [None] * n
        out = []
        for i in range(n):
            if not words[i]:
                out.append(False)
                continue
            row = _Row(self.count, respondents[i], answers[i], person[i], identity[i], minutes[i],
                       words[i] >= _SUBSTANTIVE_WORDS)
            self.count += 1
            links = self._links(row)
            row.keys = links + self._text_keys(row)
            digest = hash((row.answers, row.person))
            out.append(any(self._may_be_same(row, e) for k in links for e in self.exact.get((digest, k), ()))
                       or any(self._may_be_same(row, c) and self._same_answers(row, c)
                              for c in self._candidates(row)))
            self._remember(row, digest, links)
        return out

    def _links(self, row: _Row) -> list[tuple]:
        """What ties a row to its sender: the ID (with the question, in a long file), e-mail, name, IP."""
        if self.long:
            return [("id", row.respondent, row.answers[1:])]
        links = [("id", row.respondent)] if row.respondent is not None and self.ids_are_people else []
        return links + [("who", j, v) for j, v in enumerate(row.identity) if v]

    def _text_keys(self, row: _Row) -> list[tuple]:
        """Where a near copy of a substantive row would be filed: the start and end of its longest answer."""
        if self.long or not row.substantive:
            return []
        longest = max(row.answers, key=len)
        return [("start", longest[:30]), ("end", longest[-30:])]

    def _candidates(self, row: _Row) -> Iterator[_Row]:
        """Earlier rows sharing a key, most recent first; a copy is recent, so a few per key suffice."""
        seen = set()
        for key in row.keys:
            for candidate in itertools.islice(reversed(self.by_key.get(key, {}).values()), _CANDIDATES):
                if candidate.index not in seen:
                    seen.add(candidate.index)
                    yield candidate

    def _may_be_same(self, row: _Row, earlier: _Row) -> bool:
        """Rules (2) and (3): nothing says these are different people, and something says they are one."""
        if any(x and y and x != y for x, y in zip(row.person, earlier.person)):
            return False
        if self.long or self.ids_are_people and row.respondent != earlier.respondent:
            return row.respondent == earlier.respondent
        if row.respondent is not None and row.respondent == earlier.respondent:
            return True
        if any(x and x == y for x, y in zip(row.identity, earlier.identity)):
            return True
        if not row.substantive:
            return False
        if row.minutes is not None and earlier.minutes is not None:
            return abs(row.minutes - earlier.minutes) <= _LINK_MINUTES
        return row.index - earlier.index <= _LINK_ROWS

    def _same_answers(self, row: _Row, earlier: _Row) -> bool:
        if self.long:
            return row.answers[1:] == earlier.answers[1:] and _similar(row.answers[0], earlier.answers[0])
        return all(bool(x) == bool(y) for x, y in zip(row.answers, earlier.answers)) and \
            all(_similar(x, y) for x, y in zip(row.answers, earlier.answers) if x)

    def _remember(self, row: _Row, digest: int, links: list[tuple]) -> None:
        if links:
            sender = replace(row, answers=())  # the whole file's senders are kept, their answers are not
            for link in links:
                self.exact.setdefault((digest, link), []).append(sender)
        for key in row.keys:
            self.by_key.setdefault(key, {})[row.index] = row
        self.recent.append(row)
        if len(self.recent) > _WINDOW:
            old = self.recent.popleft()
            for key in old.keys:
                bucket = self.by_key[key]
                del bucket[old.index]
                if not bucket:
                    del self.by_key[key]


def _minutes(values: pd.Series) -> list[float | None]:
    """Submission times in minutes (None where unreadable): the first format that fits most cells."""
    filled = values[values != ""]
    parsed = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fmt in _TIME_FORMATS:
            attempt = pd.to_datetime(values, format=fmt, errors="coerce")
            if attempt.notna().sum() >= 0.9 * len(filled) > 0:
                parsed = attempt
                break
        if parsed is None:
            try:
                parsed = pd.to_datetime(values, format="mixed", dayfirst=True, errors="coerce", utc=True)
            except (ValueError, TypeError, OverflowError):
                return [None] * len(values)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    stamps = (parsed - pd.Timestamp("1970-01-01")) / pd.Timedelta(minutes=1)
    return [None if pd.isna(m) else float(m) for m in stamps]


# --- recognising the file -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Input:
    """The file being read: bytes in memory, or a path read in pieces (for huge exports)."""

    data: bytes | None = None
    path: Path | None = None

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    def head(self, n: int = _HEAD_BYTES) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with self.open() as f:
            return f.read(n)

    def blocks(self) -> Iterator[bytes]:
        with self.open() as f:
            yield from iter(lambda: f.read(1 << 20), b"")

    def whole(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()

    def target(self) -> IO[bytes] | Path:
        """What zipfile and openpyxl open: a fresh in-memory file, or the path (they close it)."""
        return io.BytesIO(self.data) if self.data is not None else self.path


def _detect(source: _Input, name: str) -> str:
    """Format from magic bytes and content; the extension only words the message for damaged files."""
    head = source.head()
    suffix = PureWindowsPath(name).suffix.casefold()
    if not head.strip():
        if source.data is not None or not any(b.strip() for b in source.blocks()):
            raise IngestError(f"{name} is empty. {_REDOWNLOAD}")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_format(source, name, suffix)
    if head.startswith(_OLE2):
        raise _ole2_error(source.whole(), name, suffix)
    if b"%PDF-" in head[:1024]:
        return "pdf"
    for magic, what in _PICTURES:
        if head.startswith(magic):
            raise IngestError(f"{name} is {what}, not a survey export or report. If it is a photo or scan "
                              "of written comments, type them into a spreadsheet (or ask for the original "
                              "file) and drop that in instead.")
    for magic, what in _ARCHIVES:
        if head.startswith(magic):
            raise IngestError(f"{name} is {what}, not a survey export. Unpack it and drop the export "
                              "file that is inside (.csv, .xlsx, .docx or .pdf).")
    peek = head.replace(b"\x00", b"").lstrip(b"\xef\xbb\xbf\xff\xfe \t\r\n").decode("latin-1").casefold()
    if peek.startswith("{\\rtf"):
        raise IngestError(f"{name} is a Rich Text (RTF) document, which cannot be read. Open it in Word, "
                          "use File > Save As > Word Document (.docx), and drop the new file in.")
    if peek.startswith("<!doctype html") or "<html" in peek[:2048] or peek.startswith("<table"):
        raise IngestError(f"{name} is a web page (HTML) saved with a spreadsheet name, not a real "
                          f"spreadsheet. {_SAVE_AS_XLSX} Or download the export again as CSV.")
    if peek.startswith("<?xml") or peek.startswith("<"):
        what = ("an Excel 2003 XML spreadsheet" if "urn:schemas-microsoft-com:office:spreadsheet" in peek
                else "an XML file")
        raise IngestError(f"{name} is {what}, which cannot be read. {_SAVE_AS_XLSX}")
    if _JSON_START.match(peek):
        raise IngestError(f"{name} is a JSON data file, not a CSV or Excel export. Download the responses "
                          "from the survey tool as CSV or Excel (.xlsx) and drop that file in instead.")
    # Named as a document but holding none of its bytes: a broken download or copy, not a one-line
    # CSV ("has column headings but no responses" would send the officer astray). A CSV saved with a
    # spreadsheet's name is common and is still read as the CSV it is.
    named = {".pdf": "a PDF", ".docx": "a Word document", ".doc": "a Word document"}
    if suffix in named:
        raise IngestError(f"{name} could not be opened as {named[suffix]}: its contents are not {named[suffix]}'s "
                          f"(it may be damaged, or only part of it was copied). {_REDOWNLOAD}")
    return "csv"


def _zip_format(source: _Input, name: str, suffix: str) -> str:
    """Zip containers: an Excel workbook or Word document, or something to refuse before unpacking."""
    try:
        with zipfile.ZipFile(source.target()) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise _damaged(name, suffix) from exc
    names = {m.filename for m in members}
    total = sum(m.file_size for m in members)
    bomb = any(m.file_size > _BOMB_MIN_BYTES and m.file_size > _BOMB_RATIO * max(m.compress_size, 1)
               for m in members)
    if len(members) > MAX_ZIP_MEMBERS or total > MAX_UNZIPPED_BYTES or bomb:
        raise IngestError(f"{name} would unpack to {total / 2**20:,.0f} MB in {len(members):,} parts, far more "
                          "than any real export, so it was not opened (it may be damaged or built to "
                          "overload the computer). Export the responses again from the survey tool; if the "
                          "export really is that big, split it into several files and drop those in.")
    if "[Content_Types].xml" in names:
        if "xl/workbook.bin" in names:
            raise IngestError(f"{name} is an Excel Binary Workbook (.xlsb), which cannot be read. {_SAVE_AS_XLSX}")
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
        if any(n.startswith("word/") for n in names):
            return "docx"
        if any(n.startswith("ppt/") for n in names):
            raise IngestError(f"{name} is a PowerPoint presentation, not a survey export or report. Ask for "
                              "the comments as a Word document, PDF or spreadsheet and drop that in.")
    mimetype = next((m for m in members if m.filename == "mimetype" and m.file_size < 200), None)
    kind = _read_member(source, mimetype).decode("ascii", "replace") if mimetype else ""
    if kind.startswith("application/vnd.oasis.opendocument"):
        kind = "spreadsheet" if "spreadsheet" in kind else "document"
        target = "Excel Workbook (.xlsx)" if kind == "spreadsheet" else "Word Document (.docx)"
        raise IngestError(f"{name} is an OpenDocument {kind}, which cannot be read. Open it and use "
                          f"File > Save As > {target}, then drop the new file in.")
    raise IngestError(f"{name} is a zip archive holding {len(members)} file(s), not a survey export. Unzip it "
                      "and drop the export that is inside (.csv, .xlsx, .docx or .pdf).")


def _read_member(source: _Input, member: zipfile.ZipInfo) -> bytes:
    """One small, already size-checked member of a zip file ("" if it cannot be read)."""
    try:
        with zipfile.ZipFile(source.target()) as archive:
            return archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return b""


def _damaged(name: str, suffix: str) -> IngestError:
    what = "a Word document" if suffix == ".docx" else "an Excel workbook"
    return IngestError(f"{name} could not be opened as {what} (it may be damaged or password-protected). "
                       f"{_REDOWNLOAD}")


def _ole2_error(data: bytes, name: str, suffix: str) -> IngestError:
    """Old-style Office containers: say which kind, since each needs a different fix."""
    def has(stream: str) -> bool:
        return stream.encode("utf-16-le") in data

    if has("EncryptedPackage") or has("EncryptionInfo"):
        return IngestError(f"{name} is password-protected, so it cannot be read. Open it with the password, "
                           "remove the password (File > Info > Protect > Encrypt with Password, then clear "
                           "it), save it, and drop the new file in.")
    if has("Workbook") or has("Book") or suffix == ".xls":
        return IngestError(f"{name} is in the old Excel 97-2003 (.xls) format, which cannot be read. "
                           f"{_SAVE_AS_XLSX}")
    if has("WordDocument") or suffix == ".doc":
        return IngestError(f"{name} is in the old Word 97-2003 (.doc) format, which cannot be read. Open it "
                           "in Word, use File > Save As > Word Document (.docx), and drop the new file in.")
    if suffix in (".xlsx", ".xlsm", ".docx"):
        return IngestError(f"{name} could not be opened: it may be password-protected or damaged. Remove "
                           f"any password (File > Info > Protect) and save it again, or {_REDOWNLOAD[0].lower()}"
                           f"{_REDOWNLOAD[1:]}")
    return IngestError(f"{name} is an older Microsoft Office file that cannot be read. Save it as an Excel "
                       "Workbook (.xlsx) or Word Document (.docx) and drop the new file in.")


# --- reading a table ------------------------------------------------------------------------------

def _open_table(source: _Input, name: str, mapping: dict, limit: int | None
                ) -> tuple[pd.DataFrame, ExportInfo, Iterator[pd.DataFrame]]:
    """The first `limit` rows (all if None) as a described table, and the rest as chunks."""
    fmt = _detect(source, name)
    if fmt in ("docx", "pdf"):
        return (*_read_document(source, name, fmt, mapping), iter(()))
    if fmt == "xlsx":
        sheet, rows, formulas, sheets = _choose_sheet(source, name, mapping, limit)
        encoding = delimiter = None
    else:
        sheet, sheets, formulas = None, [], False
        encoding, delimiter, rows = _csv_input(source, name)
    label = f"{name} (sheet '{sheet}')" if sheet and len(sheets) > 1 else name
    head = list(itertools.islice(rows, max(limit, _MIN_FIRST_CHUNK))) if limit else list(rows)
    table, shape = _build_table(head, label, delimiter)
    table, tests = _without_test_responses(table)
    info = _describe(table, name, mapping, format=fmt, encoding=encoding, delimiter=delimiter, sheet=sheet,
                     sheets=sheets, header_rows=shape.header_rows)
    if shape.rejoined:
        info.notes.append(f"{shape.rejoined} row(s) had more cells than headings (a separator inside an "
                          "unquoted answer); the extra cells were joined back into the answer.")
    if tests:
        info.notes.append(f"{tests} response(s) marked as a survey preview, test or spam by the survey tool "
                          "were left out.")
    if formulas:
        info.notes.append("The workbook holds formulas: their saved results were read, or the formula text "
                          "where no result was saved.")
    rest = (_without_test_responses(_shape_rows(chunk, shape))[0] for chunk in _batches(rows, limit)) \
        if limit else iter(())
    return table, info, rest


# Survey tools mark the responses their owners made while trying the survey out (Qualtrics: Status
# or Response Type "Survey Preview", "Survey Test", "Spam"; Distribution Channel "preview", "test").
_STATUS_HEADERS = {"status", "response type", "response status", "distribution channel"}
_TEST_RESPONSES = {"survey preview", "survey test", "spam", "preview", "test"}


def _without_test_responses(table: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The table without the rows its survey tool marks as previews, tests or spam, and how many."""
    marked = pd.Series(False, index=table.index)
    for c in table.columns:
        if _header_key(c) in _STATUS_HEADERS:
            marked |= table[c].str.strip().str.casefold().isin(_TEST_RESPONSES)
    if not marked.any():
        return table, 0
    kept = table[~marked].reset_index(drop=True)
    kept.attrs.update(table.attrs)
    return kept, int(marked.sum())


def _batches(rows: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _describe(table: pd.DataFrame, name: str, mapping: dict, **found) -> ExportInfo:
    """Guess every column's part, let the mapping override, and insist on something to analyse."""
    info = ExportInfo(n_rows=len(table), **found, **_analyse(table))
    if mapping:
        _apply_mapping(table, info, mapping, name)
    if not info.question_columns:
        # Short answers (post-it notes, "more buses!!!") that an open question asked for: say so.
        asked = [c for c in info.metadata_columns if not _never_text(c, _header_role(c))
                 and (_open_question(c) or _is_free_text(table[c].head(_SAMPLE), varied=False))
                 and not _answered(table[c][table[c] != ""]).empty]
        raise _no_free_text(name, table.columns, asked)
    if "questions" not in mapping:  # else the officer has said which columns are questions
        for c in info.metadata_columns:
            if info.metadata_roles.get(c) in ("choice", "other") and not _never_text(c, _header_role(c)) \
                    and not _CHOICE_QUESTION.search(str(c)) and _is_free_text(table[c].head(_SAMPLE), varied=False):
                answered = _answered(table[c][table[c] != ""])
                named = ", ".join(repr(q) for q in [*info.question_columns, c])
                info.notes.append(
                    f"'{c}' reads like written answers but repeats a few of them ({answered.nunique()} different "
                    f"among {len(answered)}), so it was taken as a list of choices and not analysed. If it is "
                    f"an open question, list the questions in a column mapping (questions: [{named}]) and "
                    "ingest the file again.")
    return info


def _csv_input(source: _Input, name: str) -> tuple[str, str, Iterator[list[str]]]:
    """Encoding, delimiter and a stream of rows (quoted line breaks stay in their cell)."""
    encoding = _sniff_encoding(source, name)
    with source.open() as f:
        sample = io.TextIOWrapper(f, encoding, errors="replace", newline="").read(_HEAD_BYTES)
    sample = sample.rstrip("\x00")
    controls = sum(1 for ch in sample if (ch < " " and ch not in "\t\r\n") or "\x80" <= ch <= "\x9f")
    if controls > max(0.01 * len(sample), 16):
        raise _binary(name)
    delimiter = _sniff_delimiter(sample)

    def rows() -> Iterator[list[str]]:
        with source.open() as f:
            yield from _csv_rows(io.TextIOWrapper(f, encoding, newline=""), delimiter, name)

    return encoding, delimiter, rows()


def _binary(name: str) -> IngestError:
    return IngestError(f"{name} does not look like a CSV or Excel file (it contains binary data). "
                       "Export the responses from the survey tool as CSV or Excel (.xlsx) and drop "
                       "that file in instead.")


def _sniff_encoding(source: _Input, name: str) -> str:
    """UTF-8 (BOM or not), UTF-16 (BOM or not), else Windows-1252, else charset-normalizer's guess.

    Every candidate must decode the whole file, and a single-byte guess must read as mostly Latin
    text, so random bytes are refused rather than turned into gibberish answers. Windows-1252
    (what Excel's plain "CSV" save produces in the UK) is tried before charset-normalizer because
    that library labels short cp1252 files as cp1250, which would turn every £ into Ł.
    """
    head = source.head()
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig" if _decodes(source, "utf-8-sig") else _undecodable(name)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16" if _decodes(source, "utf-16") else _undecodable(name)
    if b"\x00" in head:
        half = max(len(head) // 2, 1)
        even, odd = head[0::2].count(0) / half, head[1::2].count(0) / half
        for encoding, zeros, others in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if zeros > 0.3 and others < 0.02:
                return encoding if _decodes(source, encoding) else _undecodable(name)
    body = head.rstrip(b"\x00")  # NUL padding after the last row (a save cut short) is not content
    if sum(1 for byte in body if byte < 32 and byte not in b"\t\n\r") > max(0.01 * len(body), 16):
        raise _binary(name)
    if _decodes(source, "utf-8"):
        return "utf-8"
    if _decodes(source, "cp1252"):
        return "cp1252" if _latin_text(head.decode("cp1252", "ignore")) else _undecodable(name)
    best = charset_normalizer.from_bytes(head).best()
    if best and _decodes(source, best.encoding) and _latin_text(head.decode(best.encoding, "ignore")):
        return best.encoding
    return _undecodable(name)


def _decodes(source: _Input, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for block in source.blocks():
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _latin_text(text: str) -> bool:
    """Reads like English (or another Latin-script language): few accented letters, few symbols.

    Random bytes decoded as a single-byte code page are about half accented letters and symbols.
    """
    sample = text[:_HEAD_BYTES]
    letters = sum(ch.isalpha() for ch in sample)
    accented = sum(ch.isalpha() and not ch.isascii() for ch in sample)
    odd = sum(not ch.isascii() and not ch.isalpha() and not ch.isspace() and ch not in _TYPOGRAPHY
              for ch in sample)
    return letters > 0 and accented <= 0.2 * letters and odd <= 0.05 * len(sample)


def _undecodable(name: str) -> str:
    raise IngestError(f"{name} uses a text encoding that could not be recognised (it reads as garbled "
                      "characters). Open it in Excel, use Save As > 'CSV UTF-8 (Comma delimited)', and "
                      "drop the new file in.")


def _sniff_delimiter(text: str) -> str:
    """csv.Sniffer's answer if it splits the rows consistently, else the most consistent delimiter."""
    try:
        sniffed = csv.Sniffer().sniff(text, delimiters=_DELIMITERS).delimiter
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


class _Lines:
    """The text stream csv reads, remembering the raw lines of the row being read."""

    def __init__(self, text: IO[str]) -> None:
        self.text = text
        self.current: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self.text:
            self.current.append(line)
            yield line


def _csv_rows(text: IO[str], delimiter: str, name: str) -> Iterator[list[str]]:
    """Rows of cells as written; refuses a cell too big to be an answer or a quote left open."""
    lines = _Lines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    last: list[str] = []
    width, row = 0, []
    while True:
        lines.current = []
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise _huge_cell(name, start) from exc
            raise IngestError(f"{name} could not be read as a CSV file: line {reader.line_num} is broken. "
                              f"{_REDOWNLOAD}") from exc
        if max(map(len, row), default=0) > MAX_CELL_CHARS:
            raise _huge_cell(name, start)
        last = lines.current
        width = width or len(row)
        yield row
    # A download or copy cut short ends mid-row: no line break after it, and a quote left open or
    # fewer cells than the heading. Reading it would store a half answer as if it were whole.
    cut = last and not last[-1].endswith(("\n", "\r")) and len(last) == 1 and any(c.strip("\0 \t") for c in row)
    if cut and (len(row) < width or _quote_left_open(last[0], delimiter)):
        raise IngestError(f"{name} ends part-way through its last row (line {reader.line_num}), as a download "
                          "or copy that was cut short does. Nothing was read. Export the file again and drop "
                          "it in again.")
    if len(last) > 1 and _quote_left_open("".join(last), delimiter):
        raise IngestError(f"{name}: a quotation mark opened on line {reader.line_num - len(last) + 1} is never "
                          "closed, so everything after it would run into one answer. Nothing was read. "
                          "Check that line (or export the file again), save it as CSV and drop it in again.")


def _quote_left_open(raw: str, delimiter: str) -> bool:
    try:
        list(csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _huge_cell(name: str, line: int) -> IngestError:
    return IngestError(f"{name}: the cell starting on line {line} holds more than {MAX_CELL_CHARS:,} "
                       "characters (about 20,000 words), which no survey answer does. Usually a quotation "
                       "mark was opened and never closed, so the rest of the file ran into one cell. Nothing "
                       "was read. Check that line (or export the file again), save it as CSV and drop it in "
                       "again.")


# --- Excel ----------------------------------------------------------------------------------------

@contextmanager
def _workbook(source: _Input, name: str, data_only: bool = True):
    """An openpyxl read-only workbook (streamed, never loaded whole); any failure is 'damaged'."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(source.target(),
                                          read_only=True, data_only=data_only)
    except Exception as exc:  # zip, XML and encryption errors all mean the same thing to the user
        raise _damaged(name, ".xlsx") from exc
    try:
        yield workbook
    finally:
        workbook.close()


def _has_formulas(source: _Input) -> bool:
    """Whether any worksheet has a formula; only then is the (slower) second read needed."""
    with zipfile.ZipFile(source.target()) as archive:
        for member in archive.namelist():
            if member.startswith("xl/worksheets/") and member.endswith(".xml"):
                with archive.open(member) as xml:
                    tail = b""
                    while block := xml.read(1 << 20):
                        if re.search(rb"<(\w+:)?f[ >]", tail + block):
                            return True
                        tail = block[-16:]
    return False


def _sheet_rows(source: _Input, name: str, title: str, formulas: bool) -> Iterator[list[str]]:
    """One sheet's rows as strings, cached formula results first, else the formula text."""
    with _workbook(source, name) as values, \
            (_workbook(source, name, data_only=False) if formulas else nullcontext()) as written:
        sheet = values[title]
        sheet.reset_dimensions()  # a sheet claiming to be A1:XFD1048576 must not be padded to that size
        rows: Iterable = sheet.iter_rows(values_only=True)
        if written is not None:
            formula_sheet = written[title]
            formula_sheet.reset_dimensions()
            rows = map(_cached_or_formula, rows, formula_sheet.iter_rows(values_only=True))
        try:
            for row in rows:
                yield [_cell_text(v) for v in row]
        except IngestError:
            raise
        except Exception as exc:
            raise _damaged(name, ".xlsx") from exc


def _cached_or_formula(values: tuple, written: tuple) -> tuple:
    """A formula cell without a saved result (e.g. written by a script) keeps its formula text."""
    return tuple(v if v is not None else (w if isinstance(w, str) and w.startswith("=") else None)
                 for v, w in itertools.zip_longest(values, written))


def _choose_sheet(source: _Input, name: str, mapping: dict, limit: int | None
                  ) -> tuple[str, Iterator[list[str]], bool, list[str]]:
    """The sheet with the responses (most free text), or the one the mapping names.

    Each sheet is judged on its first `limit` rows (all if None); the chosen sheet's rows are then
    streamed from the start.
    """
    with _workbook(source, name) as workbook:
        titles = [ws.title for ws in workbook.worksheets]
    if not titles:
        raise IngestError(f"{name} has no worksheets (only charts or nothing at all). {_REDOWNLOAD}")
    formulas = _has_formulas(source)
    wanted = mapping.get("sheet")
    if wanted is not None:
        chosen = next((t for t in titles if t.casefold() == str(wanted).casefold()), None)
        if chosen is None:
            raise IngestError(f"{name}: the mapping names sheet '{wanted}', which is not in this workbook. "
                              f"Sheets found: {', '.join(repr(t) for t in titles)}. Correct the mapping.")
        titles_to_judge = [chosen]
    else:
        titles_to_judge = titles
    if len(titles_to_judge) == 1:
        return titles_to_judge[0], _sheet_rows(source, name, titles_to_judge[0], formulas), formulas, titles
    best = None
    for title in titles_to_judge:
        rows = _sheet_rows(source, name, title, formulas)
        head = list(itertools.islice(rows, max(limit, _MIN_FIRST_CHUNK))) if limit else list(rows)
        try:
            table, _ = _build_table(head, f"{name} (sheet '{title}')", None)
            layout = _analyse(table)
        except IngestError:
            rows.close()
            continue
        chars = sum(int(_answered(table[c]).str.len().sum()) for c in layout["question_columns"])
        if best is None or chars > best[0]:
            if best is not None:
                best[3].close()
            best = (chars, title, head, rows)
        else:
            rows.close()
    if best is None:
        raise IngestError(f"{name} has no sheet with column headings and responses (sheets found: "
                          f"{', '.join(repr(t) for t in titles)}). Check that you exported the individual "
                          f"responses, not a summary or chart. {_REDOWNLOAD}")
    _, title, head, rows = best
    return title, itertools.chain(head, rows), formulas, titles


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
    return str(value)


# --- reports --------------------------------------------------------------------------------------

def _read_document(source: _Input, name: str, fmt: str, mapping: dict) -> tuple[pd.DataFrame, ExportInfo]:
    """A report's comments as a long table: passage number, section (question), event metadata."""
    from nlp.documents import read_document

    table = read_document(source.data if source.data is not None else source.path, name, fmt)
    metadata = [c for c in table.columns if c not in ("Passage", "Section", "Comment")]
    info = ExportInfo(format=fmt, encoding=None, delimiter=None, sheet=None, layout="document",
                      id_column="Passage", question_columns=["Comment"], metadata_columns=metadata,
                      source_column=None, header_rows=0, n_rows=len(table), question_column="Section",
                      metadata_roles={c: "date" if c == "Date" else "other" for c in metadata})
    if mapping:
        _apply_mapping(table, info, mapping, name)
    return table, info


# --- from rows to a table ------------------------------------------------------------------------

@dataclass
class _Shape:
    """How raw rows become table columns, fixed by the first rows so later chunks read the same way.

    `joiner` is the CSV delimiter, used to put back together an answer that an unquoted delimiter
    split into extra cells (None for Excel, where cells cannot split). `typical` (values seen in
    each column) and `kinds` (each column's usual kind of value) decide which answer the extra
    cells belong to.
    """

    width: int
    keep: list[int]
    names: list[str]
    header_rows: int
    joiner: str | None
    free_text: list[int]
    typical: list[frozenset[str]]
    kinds: list[str]
    questions: dict[str, str] = field(default_factory=dict)
    rejoined: int = 0


def _build_table(raw_rows: Sequence[Sequence[str]], name: str, joiner: str | None) -> tuple[pd.DataFrame, _Shape]:
    """Find the header row(s), name the columns, repair split rows, drop blank rows and columns.

    `raw_rows` are the cells as parsed; they are normalised here, after any split row has been put
    back together from its raw cells (so the spaces around the split are kept).
    """
    cleaned = [([normalise_text(c) for c in r], list(r)) for r in raw_rows]
    rows = [clean for clean, _ in cleaned if any(clean)]
    raw = [original for clean, original in cleaned if any(clean)]
    if not rows:
        raise IngestError(f"{name} has no rows. {_REDOWNLOAD}")
    start = _header_start(rows)
    header, header_rows, questions = _header(rows, start)
    looks_like_data = [h for h in header if _NUMBER_OR_DATE.match(h)]
    if looks_like_data:
        raise IngestError(f"{name} does not seem to have a header row: the first row holds answers "
                          f"(such as '{looks_like_data[0]}') rather than column names. Export it again "
                          "with the column headings (question text) included, then drop it in again.")
    data = rows[start + header_rows:]
    if not data:
        raise IngestError(f"{name} has column headings but no responses. {_REDOWNLOAD}")
    headed = max(i for i, h in enumerate(header) if h) + 1
    longer = [r for r in data if len(r) > headed and any(r[headed:])]
    # A minority of rows with cells past the last heading: a delimiter inside an unquoted answer.
    repair = joiner is not None and 0 < 2 * len(longer) < len(data)
    width = headed if repair else max(headed, max(len(r) for r in data))
    header = header + [""] * (width - len(header))
    regular = [r + [""] * (width - len(r)) for r in data if len(r) <= width or not any(r[width:])]
    columns = [pd.Series([r[i] for r in regular[:_SAMPLE]], dtype="str") for i in range(width)]
    shape = _Shape(width=width, keep=[], names=[], header_rows=header_rows, joiner=joiner,
                   free_text=[i for i, values in enumerate(columns) if _is_free_text(values)],
                   typical=[frozenset(values[values != ""].drop_duplicates().head(200)) for values in columns],
                   kinds=[values.map(_kind).mode().iloc[0] if len(values) else "" for values in columns])
    fitted = [_fit(r, original, shape) for r, original in zip(data, raw[start + header_rows:])]
    shape.rejoined = sum(1 for r in data if len(r) > width and any(r[width:]))
    shape.keep = [i for i in range(width) if header[i] or any(r[i] for r in fitted)]
    shape.names = _unique([header[i] or f"Column {i + 1}" for i in shape.keep])
    shape.questions = {shape.names[k]: questions[header[i]] for k, i in enumerate(shape.keep)
                       if header[i] in questions}
    return _table(fitted, shape), shape


def _shape_rows(raw_rows: list[list[str]], shape: _Shape) -> pd.DataFrame:
    """A later chunk of data rows, laid out exactly as the first."""
    cleaned = [([normalise_text(c) for c in r], r) for r in raw_rows]
    fitted = [_fit(clean, original, shape) for clean, original in cleaned if any(clean)]
    shape.rejoined += sum(1 for clean, _ in cleaned if len(clean) > shape.width and any(clean[shape.width:]))
    return _table(fitted, shape)


def _table(fitted: list[list[str]], shape: _Shape) -> pd.DataFrame:
    table = pd.DataFrame([[r[i] for i in shape.keep] for r in fitted], columns=shape.names, dtype="str")
    if not fitted:
        table = pd.DataFrame({n: pd.Series([], dtype="str") for n in shape.names})
    if shape.questions:
        table.attrs["questions"] = dict(shape.questions)
    return table


def _fit(row: list[str], raw: list[str], shape: _Shape) -> list[str]:
    """Pad a short row; put a row split by unquoted delimiters back together. Nothing is dropped.

    `row` is normalised, `raw` the same cells as parsed. The extra cells are joined back (from the
    raw cells, with the delimiter between them) into the free-text column where the rest of the
    row then lines up best with the values usually found in each column (ties: the rightmost).
    """
    length = len(row)
    while length > shape.width and not row[length - 1]:
        length -= 1
    extra = length - shape.width
    if extra <= 0:
        return row[:length] + [""] * -extra
    joiner = shape.joiner if shape.joiner is not None else " "
    targets = [i for i in shape.free_text if i < shape.width] or [shape.width - 1]

    def merged(at: int) -> list[str]:
        return row[:at] + [normalise_text(joiner.join(raw[at:at + extra + 1]))] + row[at + extra + 1:length]

    def score(at: int) -> int:
        cells = merged(at)
        return sum(2 * (cells[j] in shape.typical[j]) + (_kind(cells[j]) == shape.kinds[j])
                   for j in range(shape.width) if j != at)

    return merged(max(targets, key=lambda at: (score(at), at)))


def _kind(value: str) -> str:
    """Blank, a code-like value (number, date, age band, postcode) or words."""
    if not value:
        return ""
    return "code" if _NUMBER_OR_DATE.match(value) or _AGE_BAND.match(value) or _POSTCODE.match(value) else "words"


def _header_start(rows: Sequence[Sequence[str]]) -> int:
    """Skip title lines above the headings: the header is the first row with 2+ filled cells."""
    counts = [sum(1 for c in r if c) for r in rows[:20]]
    needed = min(2, max(counts))
    return next(i for i, count in enumerate(counts) if count >= needed)


def _header(rows: list[list[str]], start: int) -> tuple[list[str], int, dict[str, str]]:
    """Column names from one or two header rows, and the question behind each (SurveyMonkey).

    Two rows: SurveyMonkey's sub-heading row ("Response", "Open-Ended Response", option names), or
    a grouping row of merged cells over a row that names every column.
    """
    top = rows[start]
    qualtrics = _qualtrics_header(rows, start)
    if qualtrics:
        return qualtrics
    if len(rows) > start + 1:
        sub = rows[start + 1]
        width = max(len(top), len(sub))
        top, sub = top + [""] * (width - len(top)), sub + [""] * (width - len(sub))
        # A respondent who ticked "Other (please specify)" is no sub-heading row: a row with an ID,
        # a postcode or a sentence in it is an answer.
        if any(c.casefold() in _SUBHEADINGS for c in sub) and not any(_DATA_CELL.match(c) for c in sub):
            names, questions = _two_row_header(top, sub)
            return names, 2, questions
        if _is_grouped_header(top, sub, rows[start + 2:start + 2 + _SAMPLE]):
            return _grouped_names(top, sub), 2, {}
    return list(top), 1, {}


# A cell no heading row holds: a number (an ID, a count), a postcode, or a sentence of six words or more.
_DATA_CELL = re.compile(r"^\d{2,}$|^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$|^(?:\S+\s+){5,}\S*[.!?]$", re.IGNORECASE)
_IMPORT_ID = re.compile(r'^\{\s*"ImportId"\s*:')
_QUALTRICS_SHORT = re.compile(r"^(?:Q|QID)\d+(?:_\d+)*(?:_TEXT)?$", re.IGNORECASE)


def _qualtrics_header(rows: list[list[str]], start: int) -> tuple[list[str], int, dict[str, str]] | None:
    """Qualtrics headings: short names (Q1, ResponseId), then each column's question text, then (in
    exports since 2017) a row of import ids ('{"ImportId": "QID1_TEXT"}'). Columns are named by the
    question text, falling back to the short name; none of these rows is an answer."""
    if len(rows) <= start + 1:
        return None
    top, text = rows[start], rows[start + 1]
    width = max(len(top), len(text))
    top, text = top + [""] * (width - len(top)), text + [""] * (width - len(text))
    if len(rows) > start + 2:
        ids = [c for c in rows[start + 2] if c]
        if ids and sum(bool(_IMPORT_ID.match(c)) for c in ids) * 2 >= len(ids):
            return _unique([t or s for s, t in zip(top, text)]), 3, {}
    # Older exports: no import-id row, but the short names and the row under them say what it is.
    keys = [_header_key(c) for c in top]
    short = [i for i, c in enumerate(top) if _QUALTRICS_SHORT.match(c)]
    if "response id" in keys and short and all(text[i] and not _QUALTRICS_SHORT.match(text[i]) for i in short) \
            and _header_key(text[keys.index("response id")]) == "response id":
        return _unique([t or s for s, t in zip(top, text)]), 2, {}
    return None


def _two_row_header(questions_row: list[str], sub_row: list[str]) -> tuple[list[str], dict[str, str]]:
    """SurveyMonkey headings: the question sits over its first column only (merged cells).

    Returns column names ("question - option" when the sub-heading says something) and the
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
    return _unique(names), {n: questions[o] for n, o in zip(_unique(names), names) if o in questions}


def _is_grouped_header(top: list[str], sub: list[str], data: list[list[str]]) -> bool:
    """A row of merged group headings over the real column names (not a first row of answers).

    The top row must have gaps that the row below fills (a merged cell spans them), and the row
    below must read like names: short, not numbers or dates, and none of its values found again
    in its column further down (answers repeat in a column, headings do not).
    """
    spans = [i for i in range(1, len(top)) if not top[i] and sub[i] and any(top[:i])]
    if not spans or not data:
        return False
    if any(_NUMBER_OR_DATE.match(c) or len(c.split()) > 15 for c in sub if c):
        return False
    return not any(c and any(i < len(r) and r[i] == c for r in data) for i, c in enumerate(sub))


def _grouped_names(top: list[str], sub: list[str]) -> list[str]:
    """Each column named by its own heading; the group is added only to tell repeats apart."""
    groups, group = [], ""
    for t, s in zip(top, sub):
        group = t or (group if s else "")
        groups.append(group)
    repeated = {s for s in sub if s and sub.count(s) > 1}
    return [t if not s else (f"{g} - {s}" if s in repeated and g else s)
            for t, s, g in zip(top, sub, groups)]


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
    sample = table.head(_SAMPLE)
    source_column = next((c for c in columns if _is_source_header(_header_key(c))
                          and _mostly_sources(sample[c])), None)
    question_column = next((c for c in columns if _header_key(c) in _QUESTION_HEADERS
                            and c != source_column), None)
    id_column = _id_column(table, question_column, exclude={source_column, question_column})
    header_roles = {c: _header_role(c) for c in columns}
    free_text = [c for c in columns if c not in {source_column, question_column, id_column}
                 and not _never_text(c, header_roles[c])
                 and _is_free_text(sample[c], varied=not _open_question(c), short=_open_question(c))]
    generic = [c for c in free_text if _header_key(c) in _TEXT_HEADERS]
    if question_column and free_text:
        layout, answer_columns = "long", [(generic or free_text)[0]]
    elif len(free_text) == 1 and generic:
        layout, answer_columns = "long", free_text
    else:
        layout, answer_columns = "wide", free_text
    long_question = question_column if layout == "long" else None
    taken = {source_column, long_question, id_column, *answer_columns}
    metadata = [c for c in columns if c not in taken]
    return {"layout": layout, "id_column": id_column, "question_columns": answer_columns,
            "metadata_columns": metadata, "source_column": source_column, "question_column": long_question,
            "metadata_roles": {c: header_roles[c] or _value_role(sample[c]) for c in metadata}}


def _header_key(header: str) -> str:
    """'Response_ID', 'ResponseID' and 'response id' compare equal."""
    return " ".join(_NON_ALNUM.sub(" ", _CAMEL.sub(" ", header).casefold()).split())


def _role_key(header: str) -> str:
    """A heading's words without any question number, camel case split first ('IPAddress': 'ip address')."""
    return _header_key(normalise_question(_CAMEL.sub(" ", header)))


def _is_source_header(key: str) -> bool:
    return key in _SOURCE_HEADERS or bool(_SOURCE_HEADER_PHRASES.search(key))


def _header_role(header: str) -> str | None:
    """What a short heading (not a question) says its column holds."""
    key = _role_key(header)
    if not key or len(key.split()) > 8:
        return None
    return next((role for role, pattern in _ROLE_HEADERS if pattern.search(key)), None)


def _open_question(header: str) -> bool:
    """A heading that asks for written answers: its column is read as one even where the answers
    repeat each other (staff giving the same stock reply), which an option list's would."""
    h = _QUESTION_NUMBER.sub("", " ".join(str(header).split()), count=1)
    h = _LABEL_PREFIX.sub("", h, count=1)  # "Post-it: What worries you?"
    return bool(_OPEN_QUESTION.match(h)) and not _CHOICE_QUESTION.search(h)


_LABEL_PREFIX = re.compile(r"^[\w'-]+(?: [\w'-]+){0,2}: +(?=\S)")


def _never_text(header: str, role: str | None) -> bool:
    """A short heading such as 'Email', 'Start time' or 'Postcode' rules out written answers.

    Only up to three words, and not when it asks for comments ("Comments on appointment time").
    """
    key = _role_key(header)
    return role in _NEVER_TEXT and len(key.split()) <= 3 and not _ASKS_FOR_TEXT.search(key)


def _value_role(values: pd.Series) -> str:
    """What a metadata column holds, judged from its values when the heading does not say."""
    filled = values[values != ""]
    if filled.empty:
        return "other"

    def share(test: Callable[[str], object]) -> float:
        return float(filled.map(lambda v: bool(test(v))).mean())

    for role, test in (("email", _EMAIL.match), ("age_band", _AGE_BAND.match),
                       ("postcode_district", _POSTCODE.match)):
        if share(test) >= 0.8:
            return role
    if share(lambda v: re.match(r"^\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}", v)) >= 0.8:
        return "date"
    if share(lambda v: re.fullmatch(r"[£$€]?[+-]?\d[\d,]*(\.\d+)?%?", v)) >= 0.8:
        return "number"
    if filled.nunique() <= max(12, 0.2 * len(filled)):
        return "choice"
    return "other"


def _mostly_sources(values: pd.Series) -> bool:
    """A source-named column counts if most filled values map onto SOURCES.

    Not all: a stray 'Councillor' should be reported by name, not make the column invisible.
    A 'Source' column of channels ('Facebook', 'Email') maps to nothing and stays metadata.
    """
    filled = values[values != ""]
    return len(filled) > 0 and filled.map(_map_source).notna().mean() >= 0.5


def _id_column(table: pd.DataFrame, question_column: str | None, exclude: set) -> str | None:
    """An ID-like heading whose values are filled, short and unique (per question in a long file).

    Up to 5% repeats are allowed: the same respondent submitting twice keeps their ID (those rows
    are flagged as double submissions). Headings naming the respondent or response
    ("Respondent ID") win over other IDs ("Collector ID") when both qualify.
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
        if pd.DataFrame(dict(enumerate(keys))).duplicated().sum() > 0.05 * len(values):
            continue
        candidates.append((not ("respondent" in key or "response" in key), position, column))
    return min(candidates)[2] if candidates else None


def _answered(values: pd.Series) -> pd.Series:
    """The cells that hold an answer (not blank, N/A, '-' or an Excel error)."""
    return values[~values.str.casefold().isin(_NOT_ANSWERED)]


# Answers that say something a column needs before the "no"s and "nothing"s are left out of judging it.
MIN_SAID = 5


def _is_free_text(values: pd.Series, varied: bool = True, short: bool = False) -> bool:
    """Written answers: long (25+ characters, 4+ words on average), varied (half or more distinct)
    and sentence-like in vocabulary (lower-case words, and everyday function words such as "the",
    "to", "we" in at least a third of answers). `varied=False` skips the second test, to spot
    written answers that repeat (and option lists worded as sentences).

    That rules out IDs, dates, age bands, postcodes, option lists and names: organisation and team
    names are long and varied in a small file too, but are capitalised and have no function words.
    Answers that say nothing ("no", "nothing", "n/a") are not judged, once MIN_SAID others are left.
    `short=True`, for a heading that asks an open question, lets answers of a few words count ("Fix
    the roads" to "Is there anything else you would like to tell us?").
    """
    answers = _answered(values.head(_SAMPLE))
    if answers.empty:
        return False
    # An "Anything else?" column is mostly "no" and "n/a": judge it by the answers that say something.
    said = answers[~answers.map(is_empty_answer).astype(bool)]
    if len(said) >= MIN_SAID:
        answers = said
    words = answers.map(_WORD.findall)
    n_words = words.map(len)
    min_chars, min_words = (12, 2.5) if short else (25, 4)
    if not (answers.str.len().mean() > min_chars and n_words.mean() >= min_words
            and (not varied or answers.nunique() / len(answers) >= 0.5)):
        return False
    lower = sum(w[0].islower() for ws in words for w in ws)
    function = words.map(lambda ws: any(w.casefold() in _FUNCTION_WORDS for w in ws)).mean()
    return lower / n_words.sum() >= 0.3 and function >= 1 / 3


def _no_free_text(name: str, columns: Iterable[str], asked: Sequence[str] = ()) -> IngestError:
    """The error for an export with nothing to analyse, listing what it does contain, and the
    columns whose heading asks an open question (or whose cells read like sentences) but whose
    answers are too short or too alike to be taken for written answers unasked."""
    found = list(columns)
    shown = ", ".join(f"'{c}'" for c in found[:8]) + (", …" if len(found) > 8 else "")
    if asked:
        listed = ", ".join(repr(c) for c in asked)
        return IngestError(f"{name} has no column that reads like written answers: {listed} "
                           f"{'ask' if len(asked) > 1 else 'asks'} an open question, but the answers are short or "
                           "repeat each other (as post-it notes often do). If they are what people "
                           f"wrote, list them in a column mapping (questions: [{listed}]) and add the file again "
                           "with --mapping; if this is a summary or a chart, export the individual responses instead.")
    return IngestError(f"{name} has no column of written (free-text) answers, so there is nothing to "
                       f"analyse. Columns found: {shown}. Check that you exported the individual "
                       "responses (not a summary or chart) with the open questions included, then drop "
                       "it in again.")


# --- the per-source mapping ----------------------------------------------------------------------

def _check_mapping(mapping: Mapping | None, name: str) -> dict:
    """The mapping's shape, checked before any work: known keys, column names as text."""
    if mapping is None:
        return {}
    if not isinstance(mapping, Mapping):
        raise IngestError(f"{name}: the column mapping must be a set of 'key: value' settings. "
                          f"Allowed keys: {', '.join(MAPPING_KEYS)}.")
    unknown = [str(k) for k in mapping if k not in MAPPING_KEYS]
    if unknown:
        raise IngestError(f"{name}: the column mapping has unknown setting(s) {', '.join(map(repr, unknown))}. "
                          f"Allowed keys: {', '.join(MAPPING_KEYS)}. Correct the mapping and run again.")
    for key in ("sheet", "id_column", "source_column", "question_column"):
        if key in mapping and not (mapping[key] is None or isinstance(mapping[key], (str, int))):
            raise IngestError(f"{name}: '{key}' in the column mapping must be one column (or sheet) name.")
    questions = mapping.get("questions")
    if questions is not None and not (isinstance(questions, Mapping) or _names_list(questions)):
        raise IngestError(f"{name}: 'questions' in the column mapping must be a list of column names, or "
                          "column names each with the question text to use.")
    values = mapping.get("source_values")
    if values is not None and not (isinstance(values, Mapping) and all(v in SOURCES for v in values.values())):
        raise IngestError(f"{name}: 'source_values' in the column mapping must give, for each of the export's "
                          f"own words for a group, one of {', '.join(SOURCES)} (e.g. 'A health or care "
                          "professional': staff).")
    if mapping.get("metadata") is not None and not _names_list(mapping["metadata"]):
        raise IngestError(f"{name}: 'metadata' in the column mapping must be a list of column names.")
    return dict(mapping)


def _names_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value)


def _apply_mapping(table: pd.DataFrame, info: ExportInfo, mapping: dict, name: str) -> None:
    """Override the guesses with what the mapping says; every column named must exist."""
    def column(wanted: object) -> str:
        return _resolve(str(wanted), table, name)

    if "questions" in mapping and mapping["questions"] is not None:
        wanted = mapping["questions"]
        labels = {column(k): str(v) for k, v in wanted.items()} if isinstance(wanted, Mapping) else {}
        info.question_columns = list(labels) or [column(c) for c in wanted]
        if labels:
            table.attrs["questions"] = {**table.attrs.get("questions", {}), **labels}
    info.source_values = {_source_key(k): v for k, v in (mapping.get("source_values") or {}).items()}
    for key, attribute in (("id_column", "id_column"), ("source_column", "source_column"),
                           ("question_column", "question_column")):
        if key in mapping:
            setattr(info, attribute, None if mapping[key] is None else column(mapping[key]))
    if info.question_column in info.question_columns:
        info.question_column = None
    if info.question_column and len(info.question_columns) > 1:
        if mapping.get("question_column") is not None:
            raise IngestError(f"{name}: the column mapping gives a question column, so the file has one "
                              "answer per row; list only the one column holding the answers under "
                              "'questions'.")
        info.question_column = None
    if info.question_column:
        info.layout, info.question_columns = "long", info.question_columns[:1]
    elif info.layout == "long":
        info.layout = "wide"
    used = {info.id_column, info.source_column, info.question_column, *info.question_columns} - {None}
    if mapping.get("metadata") is not None:
        metadata = [column(c) for c in mapping["metadata"]]
        clash = [c for c in metadata if c in used]
        if clash:
            raise IngestError(f"{name}: the column mapping lists '{clash[0]}' both as metadata and as a "
                              "question, ID or source column. Give each column one part only.")
    else:
        metadata = [c for c in table.columns if c not in used]
    roles = info.metadata_roles
    info.metadata_columns = metadata
    info.metadata_roles = {c: roles.get(c) or _header_role(c) or _value_role(table[c].head(_SAMPLE))
                           for c in metadata}


def _resolve(wanted: str, table: pd.DataFrame, name: str) -> str:
    """A mapping's column name: exact, else ignoring case, spacing, punctuation and 'Q1.' numbers."""
    if wanted in table.columns:
        return wanted
    key = _header_key(normalise_question(wanted))
    questions = table.attrs.get("questions", {})
    matches = [c for c in table.columns if key in (_header_key(normalise_question(c)),
                                                   _header_key(normalise_question(questions.get(c, ""))))]
    if len(matches) == 1:
        return matches[0]
    found = ", ".join(f"'{c}'" for c in list(table.columns)[:12]) + (", …" if len(table.columns) > 12 else "")
    problem = "matches several columns" if matches else "is not in this export"
    raise IngestError(f"{name}: the column mapping names '{wanted}', which {problem}. Columns found: "
                      f"{found}. Correct the mapping to use one of these names exactly.")
