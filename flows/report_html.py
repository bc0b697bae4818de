"""they-said.html: one self-contained page (no network) that a strategy author can open, filter
and read. All response text goes through Jinja2's autoescaping, the only script is our own
filter (allowed by hash in a Content-Security-Policy), and charts are inline SVG."""
from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from nlp.summarise import MIXED_AGREEMENT

TEMPLATES = Path(__file__).parent / "templates"
SOURCE_NAMES = {"public": "public", "staff": "staff", "healthwatch": "Healthwatch", "partner": "partner"}
SOURCE_COLOURS = {"public": "#005eb8", "staff": "#007f3b", "healthwatch": "#ffb81c", "partner": "#7c2855"}


# Advance widths of a sans-serif face at 12px (the chart's font size), a little generous, so a label
# cut to fit never runs off the left of the chart: "W" and "m" are three times as wide as "i".
_NARROW, _WIDE = set("iljtf.,;:'!|() "), set("mwMW@%")


def _text_px(text: str) -> float:
    return sum(3.6 if c in _NARROW else 10.8 if c in _WIDE else 8.4 if c.isupper() else 7.0 for c in text)


def fit_label(text: str, max_px: float) -> str:
    """The label as it fits in `max_px` at the chart's font size, cut with an ellipsis when it does not."""
    if _text_px(text) <= max_px:
        return text
    while text and _text_px(text.rstrip() + "…") > max_px:
        text = text[:-1]
    return text.rstrip() + "…"


# Below this cross-validated macro F1 the reports ask for the counts to be checked.
WEAK_F1 = 0.7


def people_by_source(by_source: dict[str, int]) -> str:
    return ", ".join(f"{n} {SOURCE_NAMES.get(s, s)}" for s, n in sorted(by_source.items(), key=lambda x: -x[1]))


def totals_note(doc: dict) -> str:
    """Who took part, and how many of them said something: blank, "n/a" and "none" answers are
    counted as taking part but are not what a reader would call people's views."""
    t = doc["totals"]
    out = f"{t['answers']} answers from {t['people']} people ({people_by_source(t['by_source'])})."
    said = t.get("said_something")
    if said and said["answers"] < t["answers"]:
        out += (f" {said['answers']} of the answers, from {said['people']} people "
                f"({people_by_source(said['by_source'])}), say something; the other "
                f"{t['answers'] - said['answers']} are blank, \u201cn/a\u201d, \u201cnone\u201d or the like.")
    if n := t.get("other"):
        out += (f" {n} answer{'s are' if n != 1 else ' is'} about none of the categories below (off the "
                "subject, or about the survey itself); the responses export (engage export responses) lists them "
                "with every answer's categories, to check none was misfiled.")
    if left := t.get("other_questions"):
        n = sum(q["answers"] for q in left)
        asked = "; ".join(f"\u201c{q['question']}\u201d" for q in left[:3]) + ("; …" if len(left) > 3 else "")
        out += (f" {n} answer{'s' if n != 1 else ''} to other questions ({asked}) {'are' if n != 1 else 'is'} not part "
                "of this summary: this taxonomy covers only the questions it lists.")
    if n := t.get("event_notes"):
        out += (f" Each of the {n} notes taken at events counts as one person, though a note may report what "
                "several people said." if n > 1 else " The note taken at an event counts as one person, though it "
                "may report what several people said.")
    if n := t.get("not_english"):
        out += (f" {n} answer{'s' if n != 1 else ''} may not be in English: counted, but the analysis reads "
                "English only, so have them translated.")
    return out


def reading_note(doc: dict) -> str:
    """How to read the counts, statements and quotes: printed under the totals in every format."""
    return ("Counts are people, not answers. Each statement names a group of similar answers in the words of the "
            "one nearest its middle; \u201craised by\u201d counts the people in that group, who may have put it "
            f"differently or raised a related point. {quotes_note(doc)}")


def category_note(c: dict) -> str:
    """How many answers and people speak to a category, and how many of those people are in none of
    its statements (their points were too far from every group to join one)."""
    out = f"{c['n_responses']} answers from {c['n_people']} people speak to this."
    if (n := c.get("n_people_in_no_statement")) and c.get("statements"):
        out += f" {n} of them made {'points' if n > 1 else 'a point'} close to none of the statements below."
    return out


QUOTE_CONTENT_NOTE = "Content note: this quote speaks of suicide or self-harm."


def content_note(s: dict) -> str | None:
    """A warning before quotes that speak of suicide or self-harm (see nlp.summarise.distressing)."""
    n = sum(bool(q.get("distressing")) for q in s.get("quotes", []))
    if not n:
        return None
    return (f"Content note: {'a quote' if n == 1 else f'{n} quotes'} below {'speaks' if n == 1 else 'speak'} of "
            "suicide or self-harm.")


def tone_note(s: dict) -> str | None:
    """'Their tone: 12 negative, 3 neutral, 6 positive.', and when the group is both for and against
    (`views_differ`), that its statement speaks for one side."""
    if not s.get("by_sentiment"):
        return None
    line = ", ".join(f"{s['by_sentiment'][k]} {k}" for k in ("negative", "neutral", "positive", "mixed")
                     if s["by_sentiment"].get(k))
    out = f"Their tone: {line}."
    if s.get("views_differ") and not s.get("mixed"):  # a mix of points has no statement to be for or against
        out += (" Their views differ: some are for what the statement says and some against it, so its count is "
                "not of people who agree with it; read the quotes before using it.")
    return out


def in_said_list(s: dict) -> bool:
    """Whether a statement goes in the "they said" list: not a group named by its keywords (no
    printable wording of its own), nor a mix of points its statement speaks for few of, nor a group
    whose people are for and against it, nor praise of what is done now with no ask (the list is what
    authors copy, under a heading that asks what to do)."""
    return not s.get("named_by_keywords") and not s.get("mixed") and not s.get("views_differ") and not s.get("praise")


def statement_heading(s: dict) -> str:
    """A statement's heading over its evidence; a mixed group's says that it is one."""
    return f"Various points, among them \u201c{s['text']}\u201d" if s.get("mixed") else s["text"]


def raised_by(s: dict) -> str:
    """'Raised by 12 people', or for a mixed group 'Made by 22 people', who raised different points."""
    people = f"{s['n']} {'person' if s['n'] == 1 else 'people'}"
    return f"Made by {people}" if s.get("mixed") else f"Raised by {people}"


def left_out_note(c: dict) -> str | None:
    """Why groups below are not in the "they said" list: groups with no printable wording of their own
    are named by their keywords, mixed groups have a statement that speaks for few of their people,
    and some groups are for and against their statement. All are evidence below, not something
    people said as one."""
    named = [s for s in c.get("statements", []) if s.get("named_by_keywords")]
    mixed = [s for s in c.get("statements", []) if s.get("mixed") and not s.get("named_by_keywords")]
    split = [s for s in c.get("statements", []) if s.get("views_differ") and in_said_list({**s, "views_differ": False})]
    praise = [s for s in c.get("statements", []) if s.get("praise") and in_said_list({**s, "praise": False})]
    if not named and not mixed and not split and not praise:
        return None

    def groups(lst: list[dict]) -> str:
        people = sum(s["n"] for s in lst)
        return (f"{len(lst)} group{'s' if len(lst) > 1 else ''} of answers below ({people} "
                f"{'person' if people == 1 else 'people'})")
    def verb(lst: list[dict], one: str, many: str) -> str:
        return one if len(lst) == 1 else many
    parts = []
    if named:
        parts.append(f"{groups(named)} {verb(named, 'shares', 'share')} no one wording that could be printed as a "
                     f"statement: named by {verb(named, 'its', 'their')} keywords, {verb(named, 'it is', 'they are')} "
                     "not in the list above.")
    if mixed:
        parts.append(f"{groups(mixed)} made various points: fewer than {MIXED_AGREEMENT:.0%} of their people "
                     f"wrote anything close to the answer that names the group, so {verb(mixed, 'it is', 'they are')} "
                     "not in the list above.")
    if split:
        parts.append(f"{groups(split)} {verb(split, 'is', 'are')} for and against what {verb(split, 'its', 'their')} "
                     f"statement says, so {verb(split, 'it is', 'they are')} not in the list above.")
    if praise:
        parts.append(f"{groups(praise)} {verb(praise, 'praises', 'praise')} what is done now without saying what to "
                     f"do, so {verb(praise, 'it is', 'they are')} not in the list above.")
    alone = len(named) + len(mixed) + len(split) + len(praise) == 1
    return " ".join(parts) + (" Read its quotes before using it." if alone else " Read their quotes before using them.")


def quotes_note(doc: dict) -> str:
    """What every format says of its quotes under the totals: how they protect the people quoted."""
    n = (doc.get("disclosure") or {}).get("min_group_size", 1)
    where = (f" and name a place or an age group only where at least {n} people of that source share it"
             if n > 1 else "")
    first = next((q["ref"] for c in doc.get("categories", []) for st in c.get("statements", [])
                  for q in st.get("quotes", []) if q.get("ref")), None)
    return (f"Quotes are redacted of personal details{where}. No respondent identifiers are printed: a quote's "
            f"ref{f' (e.g. {first})' if first else ''} finds its file and respondent in they-said.json.")


def classifier_note(doc: dict) -> str | None:
    """How answers were put into categories: a zero-shot start is said plainly, as its counts deserve
    less trust than a trained model's; answers filed by the labels people gave them are counted."""
    c = doc.get("classifier") or {}
    note = _model_note(c)
    n = c.get("coder_labelled") or 0
    if n and note and n >= (doc.get("totals") or {}).get("answers", n + 1):
        note += (" Every answer here was also labelled by a person, and is filed under the categories they gave it: "
                 "the classifier files the answers that arrive without labels.")
    elif n and note:
        note += (f" {n:,} {'answer is' if n == 1 else 'answers are'} filed under the categories a person gave "
                 f"{'it' if n == 1 else 'them'} when labelling, not the classifier's.")
    return note


def _model_note(c: dict) -> str | None:
    if c.get("mode") == "zero-shot" and c.get("trained_macro_f1") is not None:
        return ("Answers were put into categories zero-shot, by how close they are to each category's description: "
                f"a classifier trained on the {c.get('n_labelled') or 0} labelled answers so far agrees with them less "
                f"well (macro F1 {c['trained_macro_f1']:.2f}) than this does ({c['zero_shot_macro_f1']:.2f}). Check the "
                "counts before relying on them, and label more answers, every category among them (engage review "
                "export), so a trained classifier can take over.")
    thin = c.get("thin_categories") or {}
    enough = (c.get("n_labelled") or 0) + (c.get("n_examples") or 0) >= (c.get("min_labelled") or float("inf"))
    if c.get("mode") == "zero-shot" and thin and enough and c.get("min_per_category"):
        few = ", ".join(f"{code} has {n}" for code, n in thin.items())
        return ("Answers were put into categories zero-shot, by how close they are to each category's description: "
                f"{c.get('n_labelled') or 0} answers are labelled, but a trained classifier takes over only once every "
                f"category has {c['min_per_category']} of them, and so far {few}. Check the counts before relying on them, and label more "
                "answers (engage review export lists answers likely to be in those categories first).")
    if c.get("mode") == "zero-shot":
        return ("Answers were put into categories zero-shot, by how close they are to each category's "
                f"description, as there are not yet enough labelled answers to train on ({c.get('n_labelled') or 0} "
                "so far): check the counts before relying on them, and label answers (engage review export) "
                "so a trained classifier takes over.")
    if c.get("mode") != "trained":
        return None
    examples = (f" and {c['n_examples']:,} answers written to illustrate the categories" if c.get("n_examples") else "")
    if c.get("macro_f1") is None:
        return (f"Answers were put into categories by a classifier trained on {c['n_labelled']:,} labelled "
                f"answers{examples}. How often it agrees with people's own coding is not yet measured: label "
                "answers (engage review export) and check the counts before relying on them.")
    out = (f"Answers were put into categories by a classifier trained on {c['n_labelled']:,} labelled answers{examples} "
           f"(cross-validated on the labelled answers: macro F1 {c['macro_f1']:.2f}).")
    if c["macro_f1"] < WEAK_F1:
        out += (" It does not yet agree well with the labelled answers: check the counts before relying on them, and "
                "label more answers (engage review export).")
    return out


def theme_chart(statements: list[dict], width: int = 640) -> str:
    """Horizontal bars, one per statement, split by source: who raised each theme at a glance."""
    if not statements:
        return ""
    label_w, bar_h, gap = 260, 18, 6
    top = max(s["n"] for s in statements) or 1
    scale = (width - label_w - 40) / top
    rows = []
    for i, s in enumerate(statements):
        y = i * (bar_h + gap)
        label = fit_label(statement_heading(s), label_w - 12)
        rows.append(f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end"><title>{escape(statement_heading(s))}</title>'
                    f'{escape(label)}</text>')
        x = float(label_w)
        for src, colour in SOURCE_COLOURS.items():
            n = s["by_source"].get(src, 0)
            if n:
                w = n * scale
                rows.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                            f'<title>{escape(SOURCE_NAMES[src])}: {n}</title></rect>')
                x += w
        rows.append(f'<text x="{x + 4:.1f}" y="{y + 13}">{s["n"]}</text>')
    height = len(statements) * (bar_h + gap)
    present = {src for st in statements for src, n in st["by_source"].items() if n}  # no key for a source not there
    legend = "".join(f'<span><i style="background:{c}"></i>{SOURCE_NAMES[s]}</span>'
                     for s, c in SOURCE_COLOURS.items() if s in present)
    return (f'<div class="chart"><svg role="img" aria-label="Themes by number of people and source" '
            f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
            f'<div class="legend">{legend}</div></div>')


def render_html(doc: dict) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    env.tests["in_said_list"] = in_said_list
    script = (TEMPLATES / "filter.js").read_text(encoding="utf-8")
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    charts = {c["code"]: theme_chart(c["statements"]) for c in doc["categories"]}
    return env.get_template("they-said.html.j2").render(doc=doc, charts=charts, script=script,
                                                        classifier_note=classifier_note(doc),
                                                        reading_note=reading_note(doc), totals_note=totals_note(doc),
                                                        category_note=category_note, left_out_note=left_out_note,
                                                        statement_heading=statement_heading, tone_note=tone_note,
                                                        content_note=content_note,
                                                        script_hash=script_hash, source_names=SOURCE_NAMES)
