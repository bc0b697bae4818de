"""Healthwatch and event reports (Word .docx, text PDF) to the comments people made, one passage each.

Reports are written for people, not machines. What carries people's views are the bulleted
comments and the quoted passages, under headings that name a question or theme and under event
headings such as "Maryport drop-in, 12 July 2019". This module picks those passages out and returns
them as a long table (Passage, Section, then Event, Venue, Date and Attribution where the report
gives them, and Comment) that `nlp.ingest` melts like any other export: the passage number is the
respondent id (stable for the same file), the section heading is the question. Prose, and bullets
under headings such as "Introduction", "Methodology" or "Recommendations", are the report's own voice,
not people's comments, and are left out; under an event heading, a paragraph reporting what people
said ("A carer at the Maryport drop-in said …") is a comment. Pure: bytes in, a DataFrame out.
"""
from __future__ import annotations

import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from nlp.ingest import IngestError, normalise_text

DEFAULT_QUESTION = "Comments recorded at the event"
MAX_DOCUMENT_BYTES = 50 << 20
MAX_PDF_PAGES = 500
_MIN_WORDS = 3
# Bold paragraphs used as headings have no outline level; a section under an event is one of them too.
_BOLD_LEVEL = 9

_MONTHS = "january|february|march|april|may|june|july|august|september|october|november|december"
_SHORT_MONTHS = "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
_FULL_DATE = re.compile(rf"(?:\b(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?\b(\d{{1,2}})(?:st|nd|rd|th)?\s+"
                        rf"({_MONTHS}|{_SHORT_MONTHS})\.?,?\s+(\d{{4}})\b", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
_MONTH_YEAR = re.compile(rf"\b({_MONTHS})\s+(\d{{4}})\b", re.IGNORECASE)
_EVENT_WORDS = re.compile(r"\b(drop[- ]ins?|events?|sessions?|meetings?|workshops?|stalls?|roadshows?|forums?"
                          r"|coffee mornings?|focus groups?|markets?|fairs?|open days?|visits?|caf[eé]s?)\b",
                          re.IGNORECASE)
_AT_VENUE = re.compile(r"\s+at\s+(?:the\s+)?(.+)$", re.IGNORECASE)
_LABEL = re.compile(r"^(venue|location|where|place|date|when|event)\s*:\s*(.{1,120})$", re.IGNORECASE)
_LABEL_COLUMN = {"venue": "Venue", "location": "Venue", "where": "Venue", "place": "Venue",
                 "date": "Date", "when": "Date", "event": "Event"}
# Headings whose bullets are the report's own words, not comments people made.
_BOILERPLATE = re.compile(r"^\W*(\d+[.)]?\s+)?(contents|table of contents|introduction|background|about\b|"
                          r"method|approach|how we\b|acknowledg|thank|contact|appendix|glossary|references|"
                          r"recommendation|next steps|distribution|disclaimer|executive summary)",
                          re.IGNORECASE)
# Bullet glyphs, including Word's Symbol-font bullets (private-use characters) and the "(cid:N)"
# pdfminer writes for a glyph with no Unicode mapping, and list numbering such as "1." or "a)".
_BULLET = re.compile(r"^\s*(?:(?:[•●▪■◦‣∙·➢►\uf0b7\uf0a7\uf076\uf0d8]|\(cid:\d+\))\s*"
                     r"|(?:[*–—-]|o|\(?\d{1,2}[.)]|\(?[a-z][.)])\s+)")
_UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)")
_QUOTE_PAIRS = {"“": "”", '"': '"', "‘": "’", "'": "'", "«": "»"}
_EMBEDDED_QUOTE = re.compile(r"“([^”]+)”|\"([^\"]+)\"")
# Event notes written as paragraphs in the third person: "A carer at the Maryport drop-in said …",
# "Several attendees said …", "It was noted that …", "At Hollingford College, students told us …",
# "At the carers coffee morning (14 attendees), carers said …". Under an event heading these are people's views
# (the note-taker's own lines, "Staff present: …", "Notes taken by …", have no reporting verb).
_REPORTED_VIEW = re.compile(
    r"^(?!(?:this|these|the report|we|our|healthwatch)\b)(?:[(\w'’-][\w'’-]*[),]*\s+){0,10}?(?:said|says|told us|suggested|"
    r"mentioned|asked|complained|raised|felt|described|reported|explained|praised|wanted|would like|"
    r"(?:was|were) (?:worried|concerned|unhappy|pleased))\b|^it was (?:noted|raised|suggested|felt|said)\b",
    re.IGNORECASE)
# A table column of comments: "Comments", "Feedback", "What carers said", "What young people told us".
_COMMENT_HEADER = re.compile(r"comment|\bwhat(?: [\w'’-]+){1,3} (?:said|told|heard|wrote|shared|raised)\b|feedback|"
                             r"quote|response|views?\b|in their (?:own )?words", re.IGNORECASE)
_PAGE_NUMBER = re.compile(r"^(page\s*)?\d+(\s*(of|/)\s*\d+)?$", re.IGNORECASE)
_OPTIONAL_COLUMNS = ("Event", "Venue", "Date", "Attribution")


@dataclass
class _Block:
    """One unit of the report: a heading (with level; 0 is the title), list item, quote, prose or table row."""

    kind: str
    text: str
    level: int = 0
    cells: dict[str, str] = field(default_factory=dict)


@dataclass
class _Heading:
    level: int
    text: str
    event: dict[str, str]
    skip: bool
    labels: dict[str, str] = field(default_factory=dict)


def read_document(data: bytes | Path, name: str, fmt: str) -> pd.DataFrame:
    """The comments of a report as a long table; `fmt` is "docx" or "pdf" (from `detect_format`)."""
    size = len(data) if isinstance(data, bytes) else data.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        raise IngestError(f"{name} is {size / 2**20:,.1f} MB, larger than any report this tool reads "
                          f"({MAX_DOCUMENT_BYTES >> 20} MB). Save it without pictures (or split it) and drop it "
                          "in again.")
    blocks = _docx_blocks(data, name) if fmt == "docx" else _pdf_blocks(data, name)
    rows = _passages(blocks)
    if not rows:
        raise IngestError(f"{name} has no comments or quotes that could be picked out. The tool reads bulleted "
                          "lists and passages in quotation marks under the report's headings, and notes of what "
                          "people said ('A carer said …') under event headings ('Maryport drop-in, 12 March 2024'). "
                          "Check that this is the report with people's comments (not a cover letter or summary); "
                          "if the comments are ordinary paragraphs, make each one a bullet point, save, and drop "
                          "it in again.")
    table = pd.DataFrame(rows, dtype="str")
    optional = [c for c in _OPTIONAL_COLUMNS if (table[c] != "").any()]
    table.insert(0, "Passage", [str(i) for i in range(1, len(table) + 1)])
    return table[["Passage", "Section", *optional, "Comment"]]


# --- passages ------------------------------------------------------------------------------------

def _passages(blocks: list[_Block]) -> list[dict[str, str]]:
    """Comments with their section and event, following the heading outline of the report."""
    blocks = _mark_title(blocks)
    stack: list[_Heading] = []
    top_labels: dict[str, str] = {}
    rows = []
    for block in blocks:
        if block.kind == "heading":
            event = _event(block.text)
            while stack and (stack[-1].level > block.level or stack[-1].level == block.level and not (
                    block.level == _BOLD_LEVEL and stack[-1].event and not event)):
                stack.pop()
            stack.append(_Heading(block.level, block.text, event, bool(_BOILERPLATE.match(block.text))))
            continue
        label = _LABEL.match(block.text) if block.kind == "text" else None
        if label:
            column = _LABEL_COLUMN[label[1].casefold()]
            value = _date(label[2]) if column == "Date" else label[2].strip()
            (stack[-1].labels if stack else top_labels)[column] = value
            continue
        if any(h.skip for h in stack):
            continue
        if block.kind == "text":
            texts = [m[1] or m[2] for m in _EMBEDDED_QUOTE.finditer(block.text)]
            texts = [t for t in texts if len(t.split()) >= 5]
            if not texts and any(h.event for h in stack) and _REPORTED_VIEW.match(block.text):
                texts = [block.text]
        else:
            texts = [block.text]
        for text in texts:
            comment, attribution = _unquote(text)
            if len(comment.split()) >= _MIN_WORDS:
                rows.append({**_context(stack, top_labels), **block.cells, "Attribution": attribution,
                             "Comment": comment})
    return rows


def _mark_title(blocks: list[_Block]) -> list[_Block]:
    """The first heading is the report's title (level 0) when later headings are all below it.

    A lone heading, or one that asks a question, is a section, not a title.
    """
    headings = [b for b in blocks if b.kind == "heading"]
    if len(headings) > 1 and headings[0].level > 0 and not headings[0].text.endswith("?") \
            and all(h.level > headings[0].level for h in headings[1:]):
        headings[0].level = 0
    return blocks


def _context(stack: list[_Heading], top_labels: dict[str, str]) -> dict[str, str]:
    """Section (the nearest heading that is neither an event nor the title) and event metadata."""
    labels = dict(top_labels)
    for heading in stack:
        labels.update(heading.labels)
    event = next((h.event for h in reversed(stack) if h.event), {})
    section = next((h.text for h in reversed(stack) if not h.event and h.level > 0), DEFAULT_QUESTION)
    return {"Section": section, "Event": labels.get("Event") or event.get("Event", ""),
            "Venue": labels.get("Venue") or event.get("Venue", ""),
            "Date": labels.get("Date") or event.get("Date", "")}


def _event(heading: str) -> dict[str, str]:
    """Event, venue and date from a heading such as "Maryport drop-in, 12 July 2019" ({} if none)."""
    found = _FULL_DATE.search(heading) or _NUMERIC_DATE.search(heading) or _MONTH_YEAR.search(heading)
    if not found and not _EVENT_WORDS.search(heading):
        return {}
    name = heading
    if found:
        name = (heading[:found.start()] + " " + heading[found.end():])
    name = re.sub(r"\s+", " ", name).strip(" ,;:-–—()")
    venue = _AT_VENUE.search(name)
    if venue:
        name = name[:venue.start()]
    return {"Event": name or heading, "Venue": venue[1].strip(" ,") if venue else "",
            "Date": _date(found[0]) if found else ""}


def _date(text: str) -> str:
    """A full date as dd/mm/yyyy (as in spreadsheets); anything vaguer as written."""
    text = text.strip()
    full = _FULL_DATE.search(text)
    if full:
        month = full[2][:3].casefold()
        try:
            return datetime.strptime(f"{full[1]} {month} {full[3]}", "%d %b %Y").strftime("%d/%m/%Y")
        except ValueError:
            return text
    numeric = _NUMERIC_DATE.search(text)
    if numeric:
        return f"{int(numeric[1]):02d}/{int(numeric[2]):02d}/{numeric[3]}"
    return text


def _unquote(text: str) -> tuple[str, str]:
    """A quoted comment without its quotation marks, and who said it if the report adds that.

    '“The bus takes two hours.” – carer, Maryport' gives ('The bus takes two hours.', 'carer, Maryport').
    Text that only starts with a quote and goes on after it is kept whole.
    """
    text = text.strip()
    close = _QUOTE_PAIRS.get(text[:1])
    end = text.rfind(close) if close else -1
    if end <= 0:
        return text, ""
    inner, rest = text[1:end].strip(), text[end + 1:].strip(" .,;:-–—()")
    if len(rest.split()) > 12:
        return text, ""
    return inner, rest


# --- Word ----------------------------------------------------------------------------------------

def _docx_blocks(data: bytes | Path, name: str) -> list[_Block]:
    """Paragraphs and tables in document order, classified by style, numbering and formatting."""
    import docx  # imported when a report arrives: most files are spreadsheets
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data) if isinstance(data, bytes) else str(data))
        blocks: list[_Block] = []
        for item in document.iter_inner_content():
            blocks.extend(_paragraph(item) if isinstance(item, Paragraph) else _table(item))
    except IngestError:
        raise
    except Exception as exc:  # python-docx and lxml errors all mean a damaged file to the user
        raise IngestError(f"{name} could not be opened as a Word document (it may be damaged). Open it in "
                          "Word, save it again as a Word Document (.docx), and drop the new file in.") from exc
    return blocks


def _paragraph(paragraph) -> list[_Block]:
    text = normalise_text(paragraph.text)
    if not text:
        return []
    style = (paragraph.style.name if paragraph.style is not None else "").casefold()
    heading = re.match(r"heading\s*(\d)", style)
    if heading:
        return [_Block("heading", text, int(heading[1]))]
    if style == "title":
        return [_Block("heading", text, 0)]
    properties = paragraph._p.pPr
    bullet = _BULLET.match(text)
    if (properties is not None and properties.numPr is not None) or "list" in style or bullet:
        return [_Block("item", text[bullet.end():] if bullet else text)]
    if "quote" in style or text[0] in _QUOTE_PAIRS:
        return [_Block("quote", text)]
    runs = [r for r in paragraph.runs if r.text.strip()]
    if runs and all(r.bold for r in runs) and len(text.split()) <= 12 and not _LABEL.match(text) \
            and not text.endswith("."):
        return [_Block("heading", text, _BOLD_LEVEL)]
    return [_Block("text", text)]


def _table(table) -> list[_Block]:
    """A table with a comments column gives one passage per row (its event/venue/date columns as
    metadata); any other table is read cell by cell like paragraphs."""
    rows = table.rows
    header = [normalise_text(c.text) for c in rows[0].cells] if rows else []
    comment = next((i for i, h in enumerate(header) if _COMMENT_HEADER.search(h)), None)
    if comment is None:
        seen, blocks = set(), []
        for row in rows:
            for cell in row.cells:
                if id(cell._tc) not in seen:
                    seen.add(id(cell._tc))
                    for paragraph in cell.paragraphs:
                        blocks.extend(_paragraph(paragraph))
        return blocks
    extra = {i: _LABEL_COLUMN[m[1].casefold()] for i, h in enumerate(header)
             if (m := re.match(r"^(venue|location|where|place|date|when|event)\b", h, re.IGNORECASE))}
    blocks = []
    for row in rows[1:]:
        cells = [normalise_text(c.text) for c in row.cells]
        if comment < len(cells) and cells[comment]:
            metadata = {column: (_date(cells[i]) if column == "Date" else cells[i])
                        for i, column in extra.items() if i < len(cells) and cells[i]}
            blocks.append(_Block("row", cells[comment], cells=metadata))
    return blocks


# --- PDF -----------------------------------------------------------------------------------------

@dataclass
class _Line:
    page: int
    text: str
    top: float
    bottom: float
    size: float
    bold: bool
    page_height: float


def _pdf_blocks(data: bytes | Path, name: str) -> list[_Block]:
    """Text lines with their font size and weight, regrouped into headings, bullets and paragraphs."""
    lines = _pdf_lines(data, name)
    if not lines:
        raise IngestError(f"{name} has no text that can be read: it looks like a scanned or photographed "
                          "document (pictures of pages). Ask for the original Word document or a PDF saved "
                          "from it, or type the comments into a spreadsheet, and drop that in.")
    lines = _drop_running_lines(lines)
    sizes = Counter()
    for line in lines:
        sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0]
    heading_sizes = sorted({ln.size for ln in lines if _is_heading(ln, body)}, reverse=True)
    blocks: list[_Block] = []
    current: _Block | None = None
    previous: _Line | None = None
    for line in lines:
        same_page = previous is not None and previous.page == line.page
        gap = line.top - previous.bottom if same_page else None
        bullet = _BULLET.match(line.text)
        if _is_heading(line, body):
            level = heading_sizes.index(line.size) + 1
            if current is not None and current.kind == "heading" and current.level == level and \
                    gap is not None and gap < 0.6 * line.size:
                current.text += " " + line.text
            else:
                current = _Block("heading", line.text, level)
                blocks.append(current)
        elif bullet:
            current = _Block("item", line.text[bullet.end():])
            blocks.append(current)
        elif current is not None and current.kind in ("item", "quote", "text") and not _LABEL.match(line.text) and (
                (gap is not None and gap < 0.5 * line.size)
                or (gap is None and not current.text.endswith((".", "!", "?", "”", '"')))):
            current.text = _join(current.text, line.text)
        else:
            current = _Block("quote" if line.text[0] in _QUOTE_PAIRS else "text", line.text)
            blocks.append(current)
        previous = line
    return blocks


def _pdf_lines(data: bytes | Path, name: str) -> list[_Line]:
    import pdfplumber  # imported when a report arrives: most files are spreadsheets

    try:
        with pdfplumber.open(io.BytesIO(data) if isinstance(data, bytes) else data) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                raise IngestError(f"{name} has {len(pdf.pages):,} pages, more than any report this tool reads "
                                  f"({MAX_PDF_PAGES}). Split it into smaller reports and drop those in.")
            lines = []
            for page in pdf.pages:
                for found in page.extract_text_lines(strip=True, return_chars=True):
                    chars = [c for c in found["chars"] if c["text"].strip()]
                    text = normalise_text(_BULLET.sub("• ", found["text"], count=1)
                                          if _BULLET.match(found["text"]) else found["text"])
                    text = normalise_text(_UNMAPPED_GLYPH.sub("", text))
                    if not chars or not text:
                        continue
                    size = round(statistics.median(c["size"] for c in chars), 1)
                    bold = sum("bold" in c["fontname"].casefold() for c in chars) > 0.6 * len(chars)
                    lines.append(_Line(page.page_number, text, found["top"], found["bottom"], size, bold,
                                       float(page.height)))
    except IngestError:
        raise
    except Exception as exc:  # pdfminer raises many kinds; to the user they mean damaged or locked
        if "password" in repr(exc).casefold():
            raise IngestError(f"{name} is password-protected, so it cannot be read. Ask for a copy without a "
                              "password and drop that in.") from exc
        raise IngestError(f"{name} could not be opened as a PDF (it may be damaged). Save it again from the "
                          "original document, or ask the sender for a new copy, and drop that in.") from exc
    return lines


def _drop_running_lines(lines: list[_Line]) -> list[_Line]:
    """Page numbers, and headers/footers repeated on most pages, are not part of the report's text."""
    pages = len({ln.page for ln in lines})

    def key(line: _Line) -> str:
        return re.sub(r"\d+", "#", line.text).casefold()

    def at_edge(line: _Line) -> bool:
        return line.top < 0.08 * line.page_height or line.bottom > 0.92 * line.page_height

    repeated = Counter(key(ln) for ln in {(ln.page, key(ln)): ln for ln in lines if at_edge(ln)}.values())
    return [ln for ln in lines if not _PAGE_NUMBER.match(ln.text)
            and not (pages > 1 and at_edge(ln) and repeated[key(ln)] > pages / 2)]


def _is_heading(line: _Line, body: float) -> bool:
    """Larger than body text, or bold and short without a full stop (and not a bullet or label)."""
    if _BULLET.match(line.text) or _LABEL.match(line.text):
        return False
    if line.size >= 1.15 * body:
        return True
    return line.bold and len(line.text.split()) <= 12 and not line.text.endswith(".")


def _join(text: str, more: str) -> str:
    """Lines of one paragraph: a word hyphenated at the line end is rejoined without a space."""
    return text + more if text.endswith("-") and more[:1].islower() else f"{text} {more}"
