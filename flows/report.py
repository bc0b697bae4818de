"""Report flow: the stored themes → reports/<taxonomy id>/they-said.json and they-said.md.

Reports are rebuilt from the database alone (no model work), and written atomically.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NONE

from flows.files import atomic_write_bytes, atomic_write_text, without_name
from flows.queries import has_table
from flows.report_docx import render_docx
from flows.report_html import (category_note, classifier_note, content_note, in_said_list, left_out_note,
                               people_by_source, raised_by, reading_note, render_html, statement_heading, tone_note, totals_note)
from flows.settings import min_group_size, resolve_taxonomy, workspace
from flows.store import connect, question_scope, reader_path, require_classified
from nlp.preprocess import may_not_be_english
from nlp.summarise import distressing, is_mixed, named_by_keywords, praise_only, views_differ

FORMATS = ("md", "json", "html", "docx")


def build_report(home: str, taxonomy: str | None, db_path: Path | None = None) -> dict:
    """The they-said document as a dict (the JSON schema other tools rely on)."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    with connect(db_path or ws.db_path, read_only=True) as con:
        require_classified(con, tax.id)
        # Totals are of the answers to the questions the taxonomy covers (all, unless it lists some).
        scope, args = question_scope(con, tax)
        themes = con.execute("SELECT code, detail FROM themes WHERE taxonomy_id = ? ORDER BY code, rank",
                             [tax.id]).fetchall()
        counts = dict(con.execute(
            "SELECT p.code, count(*) FROM predictions p JOIN answers a USING (answer_id) "
            "WHERE p.taxonomy_id = ? AND p.assigned AND NOT a.is_empty GROUP BY p.code", [tax.id]).fetchall())
        people = dict(con.execute(
            "SELECT p.code, count(DISTINCT a.source_file || chr(31) || a.respondent_id) FROM predictions p "
            "JOIN answers a USING (answer_id) WHERE p.taxonomy_id = ? AND p.assigned AND NOT a.is_empty "
            "GROUP BY p.code", [tax.id]).fetchall())
        totals = con.execute(
            "SELECT count(*), count(DISTINCT source_file || chr(31) || respondent_id), "
            f"count(*) FILTER (WHERE is_empty) FROM answers WHERE duplicate_of IS NULL AND {scope}", args).fetchone()
        # Answers whose categories are a person's labels, not the classifier's (flows.analyse.apply_coder_labels).
        coder_labelled = con.execute(
            "SELECT count(*) FROM coder_labels c JOIN answers a USING (answer_id) WHERE c.taxonomy_id = ? "
            "AND a.duplicate_of IS NULL", [tax.id]).fetchone()[0] if has_table(con, "coder_labels") else 0
        other_questions = con.execute(
            "SELECT question, count(*) FROM answers WHERE duplicate_of IS NULL "
            f"AND NOT ({scope}) GROUP BY question ORDER BY 2 DESC, 1", args).fetchall()
        # People per source (the headline says "counts are people"), largest group first; answers
        # per source beside it for anyone reconciling with the exports; and the same once blank, "n/a",
        # "none" and the like are set aside, as answers nobody can quote or count towards anything.
        per_source = con.execute(
            "SELECT source, count(DISTINCT source_file || chr(31) || respondent_id) AS people, count(*), "
            "count(DISTINCT source_file || chr(31) || respondent_id) FILTER (WHERE NOT is_empty) AS people_said, "
            f"count(*) FILTER (WHERE NOT is_empty) FROM answers WHERE duplicate_of IS NULL AND {scope} GROUP BY source "
            "ORDER BY people DESC, source", args).fetchall()
        by_source = {src: people for src, people, *_ in per_source}
        answers_by_source = {src: n for src, _, n, *_ in per_source}
        said = sorted(((src, p, n) for src, _, _, p, n in per_source if n), key=lambda r: (-r[1], r[0]))
        # Notes taken at events (a Word or PDF report) count one person each, though one may report several.
        noted = con.execute("SELECT count(*) FROM answers a JOIN files f USING (file_hash) WHERE a.duplicate_of IS "
                            f"NULL AND NOT a.is_empty AND f.layout = 'document' AND {scope}", args).fetchone()[0]
        # Answers in another language are counted, but read by English-only models: say how many.
        not_english = sum(may_not_be_english(t) for (t,) in con.execute(
            f"SELECT text FROM answers WHERE duplicate_of IS NULL AND NOT is_empty AND {scope}", args).fetchall())
        files = [{"source_file": f, "status": st, "answers": n, "reason": without_name(why, f),
                  "notes": json.loads(notes or "[]")}
                 for f, st, n, why, notes in con.execute(
                     "SELECT source_file, status, n_answers, reason, notes FROM files ORDER BY source_file").fetchall()]
        model = con.execute("SELECT any_value(model_version) FROM predictions WHERE taxonomy_id = ?",
                            [tax.id]).fetchone()[0]
    meta_path = ws.models / tax.id / "meta.json"  # flows.train.model_dir, without importing the models
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    by_code: dict[str, list[dict]] = {}
    for code, detail in themes:
        by_code.setdefault(code, []).append(json.loads(detail))
    categories = []
    for c in tax.categories:
        if c.is_other:
            continue
        # A printed quote carries a reference ("AIM2-3.1": theme AIM2-3, its first quote) and no
        # respondent identifier: survey tools' ids lead back to the person. The reference finds the
        # quote here, in the JSON, with its file and respondent for whoever must check it.
        statements = [{"id": d["theme_id"], "text": d["text"], "named_by_keywords": named_by_keywords(d["text"]),
                       "agreement": d.get("agreement"), "mixed": is_mixed(d["text"], d.get("agreement")),
                       "views_differ": views_differ(d.get("by_sentiment")),
                       "praise": praise_only(d["text"], tax.summary_heading),
                       "n": d["n"], "by_source": d["by_source"],
                       **{k: d[k] for k in ("by_sentiment", "by_locality", "by_age_band") if k in d},
                       "keywords": d["keywords"],
                       "quotes": [{**q, "ref": f"{d['theme_id']}.{k}", "distressing": distressing(q["text"])}
                                  for k, q in enumerate(d["quotes"], 1)],
                       "answers": d["answers"]}
                      for d in by_code.get(c.code, [])]
        in_statements = {(a["source_file"], a["respondent_id"]) for st in statements for a in st["answers"]}
        n_people = int(people.get(c.code, 0))
        categories.append({"code": c.code, "title": c.title, "kind": c.kind,
                           "n_responses": int(counts.get(c.code, 0)), "n_people": n_people,
                           "n_people_in_no_statement": max(0, n_people - len(in_statements)),
                           "statements": statements})
    return {
        "taxonomy": {"id": tax.id, "title": tax.title}, "heading": tax.summary_heading,
        "model_version": model,
        "disclosure": {"min_group_size": min_group_size()},
        # How answers were put into categories, so a reader knows how far to trust the counts.
        "classifier": {"mode": meta.get("mode", "trained") if meta else None, "n_labelled": meta.get("n_train"),
                       "coder_labelled": int(coder_labelled),
                       "n_examples": meta.get("n_examples", 0),
                       "micro_f1": meta.get("oof_micro_f1"), "macro_f1": meta.get("oof_macro_f1"),
                       "zero_shot_macro_f1": meta.get("zero_shot_macro_f1"),
                       "trained_macro_f1": meta.get("trained_macro_f1"),
                       "thin_categories": meta.get("thin_categories") or {},
                       "min_labelled": meta.get("min_labelled"), "min_per_category": meta.get("min_per_category")},
        "totals": {"answers": totals[0], "people": totals[1], "empty_answers": totals[2],
                   "by_source": by_source, "answers_by_source": answers_by_source,
                   "other": int(counts.get(tax.other_code, 0)) if tax.other_code else 0,
                   "not_english": not_english, "event_notes": noted,
                   # Answers to questions the taxonomy does not cover, left out of everything above.
                   "other_questions": [{"question": q, "answers": n} for q, n in other_questions],
                   "said_something": {"answers": sum(n for *_, n in said), "people": sum(p for _, p, _ in said),
                                      "by_source": {src: p for src, p, _ in said}}},
        "files": files, "categories": categories,
    }


def build_changes(home: str, taxonomy: str | None, db_path: Path | None = None) -> dict:
    """What changed in the themes at the last run (new, grown, shrunk, reworded, vanished)."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    with connect(db_path or ws.db_path, read_only=True) as con:
        df = con.execute("SELECT run_at, code, theme_id, change, statement, n_before, n_after, statement_before, "
                         "related FROM theme_changes WHERE taxonomy_id = ? AND run_at = (SELECT max(run_at) FROM "
                         "theme_changes WHERE taxonomy_id = ?) ORDER BY code, change, theme_id",
                         [tax.id, tax.id]).df()
        # Was the classifier retrained at this run (after the run before it finished)? Then the
        # changes below may be re-classification rather than new answers.
        before = con.execute("SELECT max(finished_at) FROM runs WHERE taxonomy_id = ? AND status = 'completed' "
                             "AND finished_at < ?", [tax.id, df["run_at"].iat[0]]).fetchone()[0] if len(df) else None
    events = []
    for r in df.to_dict("records"):
        e = {k: (None if v != v else v) for k, v in r.items() if k not in ("run_at", "related")}
        if isinstance(r["related"], str):
            e["to_themes" if e["change"] == "vanished" else "from_themes"] = json.loads(r["related"])
        events.append(e)
    run_at = df["run_at"].iat[0].isoformat(timespec="seconds") if len(df) else None
    meta_path = ws.models / tax.id / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    retrained = None
    prev = meta.get("previous") or {}
    # Labels can be added and the model stay the same (zero-shot still beats one trained on them).
    if before is not None and meta.get("trained_at") and prev.get("model_version") != meta.get("model_version") and \
            datetime.fromisoformat(meta["trained_at"]).replace(tzinfo=None) > before:
        retrained = {"mode": meta.get("mode"), "n_labelled": meta.get("n_train"),
                     "previous_mode": prev.get("mode"), "previous_n_labelled": prev.get("n_train")}
    return {"taxonomy": tax.id, "run_at": run_at, "classifier_retrained": retrained, "changes": events}


def render_changes(doc: dict) -> str:
    lines = [f"# Theme changes at the run of {doc['run_at'] or '(no run yet)'}", ""]
    if r := doc.get("classifier_retrained"):
        def model(mode, n):
            return "zero-shot" if mode == "zero-shot" else f"trained on {n} labelled answers"
        was = f" (was {model(r['previous_mode'], r['previous_n_labelled'])})" if r.get("previous_mode") else ""
        lines += [f"The classifier changed at this run: now {model(r['mode'], r['n_labelled'])}{was}. Every answer "
                  "was classified again, so a theme that is new, gone, grown or shrunk below may show the new "
                  "classification rather than what people said.", ""]
    changed = [e for e in doc["changes"] if e["change"] != "unchanged"]
    if not changed:
        return "\n".join(lines + ["No theme changed since the previous run.", ""])
    lines += ["| category | theme | change | people before | people now | statement |", "|---|---|---|---|---|---|"]
    for e in changed:
        text = e["statement"] + (f" (was: {e['statement_before']})" if e.get("statement_before") else "")
        if e.get("from_themes"):
            text += f"; its answers were in {_theme_list(e['from_themes'])}"
        if e.get("to_themes"):
            text += f"; its answers are now in {_theme_list(e['to_themes'])}"
        lines.append(f"| {e['code']} | {e['theme_id']} | {e['change']} | {e['n_before']} | {e['n_after']} | {text} |")
    return "\n".join(lines + [""])


def _theme_list(themes: list[dict]) -> str:
    """'AIM2-3 “Listen to patients and carers” (60%), AIM2-5 “…” (30%)'."""
    return ", ".join(f"{t['theme_id']} “{t['statement']}” ({round(100 * t['share'])}%)" for t in themes)


def render_markdown(doc: dict) -> str:
    lines = [f"# {doc['taxonomy']['title']}: what people said", "", totals_note(doc), "", reading_note(doc), ""]
    if note := classifier_note(doc):
        lines += [note, ""]
    for c in doc["categories"]:
        lines += [f"## {c['code']}: {c['title']}", "",
                  category_note(c), ""]
        if not c["statements"]:
            lines += ["Nobody raised this in the answers analysed.", ""]
            continue
        said = [s for s in c["statements"] if in_said_list(s)]
        if said:
            lines += [f"**{doc['heading']}**", ""]
            lines += [f"- {s['text']}" for s in said]
            lines.append("")
        if note := left_out_note(c):
            lines += [note, ""]
        for s in c["statements"]:
            lines += [f"### {statement_heading(s)}", "", f"{raised_by(s)} ({people_by_source(s['by_source'])}).", ""]
            if note := tone_note(s):
                lines += [note, ""]
            if note := content_note(s):
                lines += [f"*{note}*", ""]
            for q in s["quotes"]:
                ref = f" (ref {q['ref']})" if q.get("ref") else ""
                lines += [f"> “{q['text']}”", f"> — {q.get('attribution') or q['source']}{ref}", ""]
    bad = [f for f in doc["files"] if f["status"] != "ingested"]
    if bad:
        lines += ["## Files not included", ""] + [f"- {f['source_file']}: {f['reason']}" for f in bad] + [""]
    noted = [(f["source_file"], n) for f in doc["files"] if f["status"] == "ingested" for n in f.get("notes", [])]
    if noted:
        lines += ["## Notes on files included", ""] + [f"- {f}: {n}" for f, n in noted] + [""]
    return "\n".join(lines)


@task(cache_policy=NONE)
def write_reports(home: str, taxonomy: str | None, formats: tuple[str, ...] = FORMATS,
                  from_snapshot: bool = False) -> list[str]:
    ws = workspace(home)
    db = reader_path(ws.db_path, ws.snapshot_path) if from_snapshot else ws.db_path
    doc = build_report(home, taxonomy, db)
    out_dir = ws.reports / doc["taxonomy"]["id"]
    written: list[Path] = []
    if "json" in formats:
        atomic_write_text(out_dir / "they-said.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        written.append(out_dir / "they-said.json")
    if "md" in formats:
        atomic_write_text(out_dir / "they-said.md", render_markdown(doc))
        written.append(out_dir / "they-said.md")
    if "html" in formats:
        atomic_write_text(out_dir / "they-said.html", render_html(doc))
        written.append(out_dir / "they-said.html")
    if "docx" in formats:
        atomic_write_bytes(out_dir / "they-said.docx", render_docx(doc))
        written.append(out_dir / "they-said.docx")
    changes = build_changes(home, taxonomy, db)
    atomic_write_text(out_dir / "changes.json", json.dumps(changes, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "changes.md", render_changes(changes))
    return [str(p) for p in written]


@flow(name="engage-report")
def report_flow(home: str, taxonomy: str | None = None, formats: list[str] | None = None,
                from_snapshot: bool = True) -> list[str]:
    """Rewrite the reports; by default from the last complete run (safe while a run is going on)."""
    fmts = tuple(formats or FORMATS)
    unknown = set(fmts) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s) {', '.join(sorted(unknown))}: choose from {', '.join(FORMATS)}")
    return write_reports(home, taxonomy, fmts, from_snapshot)
