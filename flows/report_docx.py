"""they-said.docx: one section per aim/enabler in Word's built-in styles (Heading 1/2/3, List
Bullet, Quote, Table Grid), so it pastes into a strategy template and takes on its look."""
from __future__ import annotations

import io

from docx import Document
from docx.shared import Pt

from flows.report_html import (QUOTE_CONTENT_NOTE, category_note, classifier_note, content_note, in_said_list,
                               left_out_note, people_by_source, raised_by, reading_note, statement_heading, tone_note,
                               totals_note)

SOURCES = ("public", "staff", "healthwatch", "partner")
SOURCE_HEADINGS = {"public": "Public", "staff": "Staff", "healthwatch": "Healthwatch", "partner": "Partner"}


def _quote(doc, q: dict) -> None:
    p = doc.add_paragraph(f"“{q['text']}”", style="Quote")
    p.add_run(f" — {q.get('attribution') or q['source']}" + (f" (ref {q['ref']})" if q.get("ref") else "")).italic = True


def render_docx(report: dict) -> bytes:
    doc = Document()
    doc.core_properties.title = f"{report['taxonomy']['title']}: what people said"
    doc.add_heading(f"{report['taxonomy']['title']}: what people said", level=0)
    doc.add_paragraph(totals_note(report))
    doc.add_paragraph(reading_note(report))
    if note := classifier_note(report):
        doc.add_paragraph(note)
    for c in report["categories"]:
        doc.add_heading(f"{c['code']}: {c['title']}", level=1)
        doc.add_paragraph(category_note(c))
        if not c["statements"]:
            doc.add_paragraph("Nobody raised this in the answers analysed.")
            continue
        said = [s for s in c["statements"] if in_said_list(s)]
        if said:
            head = doc.add_paragraph()
            head.add_run(report["heading"]).bold = True
            for s in said:
                doc.add_paragraph(s["text"], style="List Bullet")
        if note := left_out_note(c):
            doc.add_paragraph(note)
        doc.add_heading("Evidence", level=2)
        # A column per source that took part: no column of zeros for a survey nobody ran.
        present = [x for x in SOURCES if report["totals"]["by_source"].get(x)] or list(SOURCES)
        table = doc.add_table(rows=1, cols=2 + len(present))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ["Statement", "People", *(SOURCE_HEADINGS[s] for s in present)]):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        for s in c["statements"]:
            cells = table.add_row().cells
            for cell, text in zip(cells, [statement_heading(s), str(s["n"]), *(str(s["by_source"].get(x, 0)) for x in present)]):
                cell.text = text
        for s in c["statements"]:
            doc.add_heading(statement_heading(s), level=3)
            doc.add_paragraph(f"{raised_by(s)} ({people_by_source(s['by_source'])})."
                              + (f" {note}" if (note := tone_note(s)) else ""))
            if note := content_note(s):
                doc.add_paragraph().add_run(note).italic = True
            for q in s["quotes"]:
                _quote(doc, q)
    left_out = [f for f in report["files"] if f["status"] != "ingested"]
    if left_out:
        doc.add_heading("Files not included", level=1)
        for f in left_out:
            doc.add_paragraph(f"{f['source_file']}: {f['reason']}", style="List Bullet")
    noted = [(f["source_file"], n) for f in report["files"] if f["status"] == "ingested" for n in f.get("notes", [])]
    if noted:
        doc.add_heading("Notes on files included", level=1)
        for name, note in noted:
            doc.add_paragraph(f"{name}: {note}", style="List Bullet")
    for style in ("Normal", "Quote"):
        doc.styles[style].font.size = Pt(11)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def render_quotes_docx(title: str, quotes: list[dict]) -> bytes:
    """A short document of quotes (rows of `engage quotes`: quote, attribution, source, statement)."""
    doc = Document()
    doc.add_heading(title, level=1)
    for q in quotes:
        if q.get("distressing"):
            doc.add_paragraph().add_run(QUOTE_CONTENT_NOTE).italic = True
        _quote(doc, {"text": q["quote"], "attribution": q["attribution"], "source": q["source"]})
        if q.get("statement"):
            doc.add_paragraph(f"Theme: {q['statement']}")
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
