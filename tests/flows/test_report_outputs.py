"""HTML and DOCX reports from a they-said document: escaping, structure, and the page in a real
headless Chromium (Debian's `chromium`, installed by .ci/run)."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from docx import Document

from flows.report import render_changes
from flows.report_docx import render_docx
from flows.report_html import render_html, theme_chart
from tests.conftest import REPO

HOSTILE = "<script>document.body.setAttribute('data-pwned','1')</script>"
ONERROR = "<img src=x onerror=\"document.body.setAttribute('data-pwned','2')\">"


def sample_doc() -> dict:
    def statement(i, text, n, quotes, by_source):
        return {"id": f"AIM3-{i}", "text": text, "n": n, "by_source": by_source, "keywords": ["parking"],
                "quotes": [{"text": q, "source": "public", "source_file": "s.csv", "respondent_id": f"1048{k:05d}",
                            "attribution": "member of the public, CA28, 65–74", "ref": f"AIM3-{i}.{k + 1}"}
                           for k, q in enumerate(quotes)],
                "answers": [{"source_file": "s.csv", "respondent_id": f"1048{k:05d}", "question": "Q1"}
                            for k in range(n)]}
    return {
        "taxonomy": {"id": "t", "title": "North Cumbria strategy"},
        "heading": "When we asked people about what we must do over the next five years they said:",
        "totals": {"answers": 10, "people": 8, "empty_answers": 0, "by_source": {"public": 6, "staff": 2}, "other": 0},
        "files": [], "disclosure": {"min_group_size": 5},
        "categories": [
            {"code": "AIM3", "title": "Safe services", "kind": "aim", "n_responses": 7, "n_people": 6, "statements": [
                statement(1, "Free parking at the hospital", 4, ["Parking costs a fortune at the Cumberland Infirmary",
                                                                 HOSTILE], {"public": 3, "staff": 1}),
                statement(2, "Keep maternity services at West Cumberland Hospital", 2,
                          [f"Maternity must stay in Whitehaven {ONERROR}"], {"public": 2})]},
            {"code": "END", "title": "Digital care", "kind": "enabler", "n_responses": 0, "n_people": 0,
             "statements": []}],
    }


def test_html_escapes_response_text():
    html = render_html(sample_doc())
    assert HOSTILE not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "onerror=" in html.replace("&#34;", '"')  # shown as text
    assert "Content-Security-Policy" in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert html.count("<svg") == 1  # one chart per category with statements
    assert "Files not included" not in html


def test_no_format_prints_a_respondent_id_but_every_quote_has_its_ref():
    """Survey tools' respondent ids lead back to the person: the printed formats carry the quote's ref
    into they-said.json instead, and say so."""
    from flows.report import render_markdown

    doc = sample_doc()
    docx_text = "\n".join(p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs)
    for text in (render_markdown(doc), render_html(doc), docx_text):
        assert "104800000" not in text and "104800001" not in text and "s.csv" not in text
        assert "(ref AIM3-1.1)" in text and "(ref AIM3-1.2)" in text and "(ref AIM3-2.1)" in text
        assert "ref (e.g. AIM3-1.1) finds" in " ".join(text.split())  # an example from this taxonomy's report
        assert "No respondent identifiers are printed" in text
        assert "at least 5 people of that source" in text


def test_every_format_says_how_many_people_said_something():
    """A user's report read "325 answers from 198 people" when 43 answers were blank, "n/a" or "none"."""
    from flows.report import render_markdown

    doc = sample_doc()
    doc["totals"].update(answers=12, people=9, empty_answers=3, by_source={"public": 7, "staff": 2},
                         said_something={"answers": 9, "people": 7, "by_source": {"public": 5, "staff": 2}})
    docx_text = "\n".join(p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs)
    for text in (render_markdown(doc), render_html(doc), docx_text):
        text = " ".join(text.split())
        assert "12 answers from 9 people (7 public, 2 staff)." in text
        assert ("9 of the answers, from 7 people (5 public, 2 staff), say something; the other 3 are "
                "blank, \u201cn/a\u201d, \u201cnone\u201d or the like.") in text
    doc["totals"]["said_something"] = {"answers": 12, "people": 9, "by_source": {"public": 7, "staff": 2}}
    assert "say something" not in render_markdown(doc)
    doc["totals"]["not_english"] = 2
    doc["totals"]["event_notes"] = 17
    doc["totals"]["other"] = 4
    doc["categories"][0]["n_people_in_no_statement"] = 2
    for text in (render_markdown(doc), render_html(doc),
                 "\n".join(p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs)):
        assert "2 answers may not be in English" in " ".join(text.split())
        assert "Each of the 17 notes taken at events counts as one person" in " ".join(text.split())
        assert "4 answers are about none of the categories below" in " ".join(text.split())
        assert "2 of them made points close to none of the statements below" in " ".join(text.split())
        # What a count under a statement means, so nobody reads it as that many people using those words.
        assert "\u201craised by\u201d counts the people in that group" in " ".join(text.split())


NOTE = "'Q2. Anything else?' reads like written answers but repeats <a few> of them"


def with_a_file_left_out() -> dict:
    doc = sample_doc()
    doc["files"] = [{"source_file": "s.csv", "status": "ingested", "answers": 10, "reason": None, "notes": [NOTE]},
                    {"source_file": "wave<2>.csv", "status": "quarantined", "answers": 0,
                     "reason": "wave<2>.csv ends part-way through its last row"}]
    return doc


def test_html_lists_the_files_left_out_and_why():
    html = render_html(with_a_file_left_out())
    assert "<h2>Files not included</h2>" in html and "wave&lt;2&gt;.csv: wave&lt;2&gt;.csv ends part-way" in html
    assert "<h2>Notes on files included</h2>" in html and "s.csv: &#39;Q2. Anything else?&#39;" in html
    assert "repeats &lt;a few&gt;" in html


def test_docx_lists_the_files_left_out_and_why():
    d = Document(io.BytesIO(render_docx(with_a_file_left_out())))
    styles = [(p.style.name, p.text) for p in d.paragraphs]
    at = styles.index(("Heading 1", "Files not included"))
    assert styles[at + 1:] == [("List Bullet", "wave<2>.csv: wave<2>.csv ends part-way through its last row"),
                               ("Heading 1", "Notes on files included"), ("List Bullet", f"s.csv: {NOTE}")]
    assert ("Heading 1", "Files not included") not in [(p.style.name, p.text) for p in
                                                       Document(io.BytesIO(render_docx(sample_doc()))).paragraphs]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("headless Chromium is needed for this test: `apt-get install -y chromium` (.ci/run does this)")
    return path


def run_chromium(args: list[str], tmp_path: Path) -> str:
    base = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000"]
    out = subprocess.run(base + args, capture_output=True, text=True, timeout=120)
    return out.stdout


def test_page_renders_filters_and_runs_no_script_from_data(tmp_path):
    page = tmp_path / "they-said.html"
    page.write_text(render_html(sample_doc()), encoding="utf-8")
    dom = run_chromium(["--dump-dom", page.as_uri()], tmp_path)
    assert "Free parking at the hospital" in dom and "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<svg" in dom
    # the filter (pre-filled from the URL) hides statements that do not match and says how many do
    filtered = run_chromium(["--dump-dom", page.as_uri() + "#filter=maternity"], tmp_path)
    assert "1 of 2 statements match" in filtered
    body = filtered.split("<body", 1)[1]
    assert "data-pwned" not in body.split(">", 1)[0]
    details = [d for d in body.split("<details")[1:]]
    hidden = [("hidden" in d.split(">", 1)[0]) for d in details]
    assert hidden == [True, False]
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    run_chromium([f"--screenshot={artifacts / 'they-said.png'}", "--window-size=1200,1600", page.as_uri()], tmp_path)
    assert (artifacts / "they-said.png").stat().st_size > 10_000


def test_docx_uses_word_styles_and_holds_the_evidence():
    d = Document(io.BytesIO(render_docx(sample_doc())))
    styles = [(p.style.name, p.text) for p in d.paragraphs]
    assert ("Heading 1", "AIM3: Safe services") in styles
    bullets = [t for s, t in styles if s == "List Bullet"]
    assert bullets == ["Free parking at the hospital", "Keep maternity services at West Cumberland Hospital"]
    quotes = [t for s, t in styles if s == "Quote"]
    assert any(HOSTILE in q for q in quotes)  # shown as the words typed, never interpreted
    assert all("member of the public, CA28, 65–74" in q for q in quotes)
    assert d.tables[0].style.name == "Table Grid"
    assert [c.text for c in d.tables[0].rows[1].cells[:3]] == ["Free parking at the hospital", "4", "3"]
    # Columns only for the sources that took part (public and staff here), and the split beside each count.
    assert [c.text for c in d.tables[0].rows[0].cells] == ["Statement", "People", "Public", "Staff"]
    assert any(t.startswith("Raised by 4 people (3 public") for s, t in styles)
    assert ("Normal", "Nobody raised this in the answers analysed.") in styles


def test_changes_say_where_a_new_theme_s_answers_were_and_a_vanished_one_s_went():
    doc = {"run_at": "2026-11-25T01:00:00", "changes": [
        {"code": "AIM2", "theme_id": "AIM2-9", "change": "new", "statement": "Respite for carers", "n_before": 0,
         "n_after": 12, "from_themes": [{"theme_id": "AIM2-3", "statement": "Listen to patients and carers",
                                         "share": 0.75}]},
        {"code": "AIM2", "theme_id": "AIM2-3", "change": "vanished", "statement": "Listen to patients and carers",
         "n_before": 20, "n_after": 0, "to_themes": [{"theme_id": "AIM2-9", "statement": "Respite for carers",
                                                      "share": 0.5}]}]}
    md = render_changes(doc)
    assert "| AIM2-9 | new | 0 | 12 | Respite for carers; its answers were in AIM2-3 “Listen to patients and carers” (75%) |" in md
    assert "Listen to patients and carers; its answers are now in AIM2-9 “Respite for carers” (50%) |" in md
    assert "classifier changed" not in md
    # A run that replaced the zero-shot start with a trained model says so before the changes.
    doc["classifier_retrained"] = {"mode": "trained", "n_labelled": 60, "previous_mode": "zero-shot",
                                   "previous_n_labelled": 0}
    assert ("The classifier changed at this run: now trained on 60 labelled answers (was zero-shot). Every answer "
            "was classified again") in render_changes(doc)


def test_chart_labels_fit_left_of_their_bars_in_a_real_browser(tmp_path):
    """A label cut by its number of characters ran off the chart's left edge when its letters were
    wide ("We need more community nurses so people c…" lost its "W"); labels are cut by width."""
    texts = ["We need more community nurses so people can be cared for at home",
             "WWW MMM WWW MMM WWW MMM WWW MMM WWW MMM WWW", "Getting a GP appointment",
             "Recruit more psychologists and mental health nurses instead of managers"]
    chart = theme_chart([{"text": t, "n": 10 + i, "by_source": {"public": 10 + i}} for i, t in enumerate(texts)])
    page = tmp_path / "chart.html"
    page.write_text(
        "<!doctype html><html><head><style>.chart text { font-size: 12px; font-family: Arial, sans-serif; }"
        f"</style></head><body style='margin:0'>{chart}<pre id='out'></pre><script>"
        "document.getElementById('out').textContent = Array.from(document.querySelectorAll('svg text'))"
        ".filter(t => t.getAttribute('text-anchor') === 'end').map(t => t.getBBox().x.toFixed(1)).join(' ');"
        "</script></body></html>", encoding="utf-8")
    dom = run_chromium(["--dump-dom", page.as_uri()], tmp_path)
    lefts = [float(x) for x in dom.split('<pre id="out">', 1)[1].split("<", 1)[0].split()]
    assert len(lefts) == len(texts) and min(lefts) >= 0
    assert "Getting a GP appointment</text>" in chart  # a short label is not cut


def test_every_format_says_how_answers_were_put_into_categories():
    """A zero-shot start (no labels yet) is said plainly in the report itself, not only on the console."""
    from flows.report import render_markdown

    zero = {**sample_doc(), "classifier": {"mode": "zero-shot", "n_labelled": 12, "micro_f1": None, "macro_f1": None}}
    trained = {**sample_doc(), "classifier": {"mode": "trained", "n_labelled": 899, "micro_f1": 0.79, "macro_f1": 0.78}}
    # Written examples of the coding frame are named apart from labelled answers, and a model that has
    # not met enough labelled answers quotes no F1.
    examples = {**sample_doc(), "classifier": {"mode": "trained", "n_labelled": 899, "n_examples": 1735,
                                               "micro_f1": 0.8, "macro_f1": 0.81}}
    unmeasured = {**sample_doc(), "classifier": {"mode": "trained", "n_labelled": 3, "n_examples": 1735,
                                                 "micro_f1": None, "macro_f1": None}}
    # 60 labels for a new taxonomy: a model this weak is said to be.
    weak = {**sample_doc(), "classifier": {"mode": "trained", "n_labelled": 60, "micro_f1": 0.58, "macro_f1": 0.53}}
    for doc, phrase in ((zero, "zero-shot"),
                        (trained, "trained on 899 labelled answers (cross-validated on the labelled answers: macro F1 0.78)"),
                        (examples, "trained on 899 labelled answers and 1,735 answers written to illustrate the categories "
                                   "(cross-validated on the labelled answers: macro F1 0.81)"),
                        (unmeasured, "is not yet measured: label answers"),
                        (weak, "(cross-validated on the labelled answers: macro F1 0.53). It does not yet agree well "
                               "with the labelled answers: check the counts")):
        assert phrase in render_markdown(doc) and phrase in render_html(doc)
        assert any(phrase in p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs)
        assert "`" not in render_html(doc)  # no command syntax in what is printed
    assert "not yet agree" not in render_markdown(trained)
    assert "zero-shot" not in render_markdown(sample_doc())  # a document without the facts says nothing


def test_a_group_named_by_its_keywords_is_evidence_not_a_statement():
    """Both user tests found 'Concerns and ideas about exhausted and coping' among the printed statements."""
    from flows.report import render_markdown

    doc = sample_doc()
    cat = doc["categories"][0]
    cat["statements"][1] = {**cat["statements"][1], "text": "Concerns and ideas about exhausted and coping",
                            "named_by_keywords": True}
    md = render_markdown(doc)
    assert "- Concerns and ideas about" not in md and "### Concerns and ideas about exhausted and coping" in md
    assert "1 group of answers below (2 people) shares no one wording" in md and "it is not in the list above" in md
    html = render_html(doc)
    assert "<li>Concerns and ideas about" not in html and "1 group of answers below" in html
    styles = [(p.style.name, p.text) for p in Document(io.BytesIO(render_docx(doc))).paragraphs]
    assert not any(s == "List Bullet" and t.startswith("Concerns") for s, t in styles)
    assert any(t.startswith("1 group of answers below") for _, t in styles)


def test_a_mixed_group_is_evidence_not_a_statement():
    """A group whose statement is close to what few of its people wrote ("Stop moving us around to plug
    gaps" over 19 staff who wrote "So I went bank.", "I feel lucky." …) is not printed as something
    19 people said, in any format."""
    from flows.report import render_markdown

    doc = sample_doc()
    cat = doc["categories"][0]
    cat["statements"][1] = {**cat["statements"][1], "text": "Stop moving us around to plug gaps", "mixed": True,
                            "agreement": 0.05}
    md = render_markdown(doc)
    assert "- Stop moving us around" not in md and "- Free parking at the hospital" in md
    assert "### Various points, among them “Stop moving us around to plug gaps”" in md
    assert "Made by 2 people" in md and "1 group of answers below (2 people) made various points" in md
    html = render_html(doc)
    assert "<li>Stop moving us around" not in html and "1 group of answers below (2 people) made various points" in html
    assert "Various points, among them" in html
    styles = [(p.style.name, p.text) for p in Document(io.BytesIO(render_docx(doc))).paragraphs]
    assert not any(s == "List Bullet" and t.startswith("Stop moving") for s, t in styles)
    assert any(s.startswith("Heading") and t.startswith("Various points, among them") for s, t in styles)
    assert any("made various points" in t for _, t in styles)


def test_the_chart_legend_names_only_the_sources_in_it():
    chart = theme_chart(sample_doc()["categories"][0]["statements"])
    assert '></i>public</span>' in chart and '></i>staff</span>' in chart  # the sample's two sources
    assert "Healthwatch" not in chart and "partner" not in chart


def test_a_group_for_and_against_says_its_views_differ_in_every_format():
    """User test 4: "Staff should not have to pay to park" counted 12 people, among them those who wrote
    "Car park charges for staff are fair"."""
    from flows.report import render_markdown

    doc = sample_doc()
    cat = doc["categories"][0]
    cat["statements"][0] = {**cat["statements"][0], "by_sentiment": {"negative": 3, "positive": 3},
                            "views_differ": True}
    cat["statements"][1] = {**cat["statements"][1], "by_sentiment": {"negative": 2}}
    phrase = "Their views differ: some are for what the statement says and some against it"
    md = render_markdown(doc)
    assert md.count(phrase) == 1 and "Their tone: 3 negative, 3 positive." in md
    # … and it is not in the list authors copy, which says why.
    assert "- Free parking at the hospital" not in md and "is for and against what its statement says" in md
    assert render_html(doc).count(phrase) == 1
    assert sum(phrase in p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs) == 1
    cat["statements"][0]["mixed"] = True  # a mix of points has no statement to be for or against
    assert phrase not in render_markdown(doc)


def test_a_quarantine_reason_is_listed_without_its_file_name_twice():
    """User test 6: "Staying healthy.xlsx: Staying healthy.xlsx could not be opened …"."""
    from flows.files import without_name

    assert without_name("Staying healthy.xlsx could not be opened as a workbook.", "Staying healthy.xlsx") == \
        "could not be opened as a workbook."
    assert without_name("The file is empty.", "e.csv") == "The file is empty."
    assert without_name(None, "e.csv") is None


def test_quotes_typed_again_with_a_slip_are_listed_once():
    """User test 6: `engage quotes --about "bus services"` listed one sentence twice, typos apart."""
    import pandas as pd

    from flows.queries import _first_distinct

    df = pd.DataFrame({"quote": ["Parking at the hospital costs a fortune and there are never any spaces",
                                 "Parking at the hospital costs a fortune and therea re never any spaces",
                                 "Buses to the hospital stop at six", "Free parking for carers"]})
    assert _first_distinct(df, 2)["quote"].tolist() == [df["quote"][0], df["quote"][2]]
    assert len(_first_distinct(df, 10)) == 3
    # User test 7: the same words inside a longer quote.
    df = pd.DataFrame({"quote": ["Baby weigh clinics were cut.", "Baby weigh clinics were cut .Please bring them back.",
                                 "Weigh-in clinics for babies in Eastbrook"]})
    assert _first_distinct(df, 5)["quote"].tolist() == [df["quote"][0], df["quote"][2]]


def test_a_quote_that_speaks_of_self_harm_has_a_content_note_in_every_format():
    """User test 7: a carer's "my daughter [NAME] cut herself again last night" was printed without warning."""
    from flows.report import render_markdown
    from nlp.summarise import distressing

    assert distressing("my daughter [NAME] cut herself again last night") and distressing("after his suicide attempt")
    assert not distressing("Cut the waiting list for talking therapies") and not distressing("a harmless question")
    doc = sample_doc()
    doc["categories"][0]["statements"][1]["quotes"][0].update(
        text="my daughter [NAME] cut herself again last night and the crisis line told me to wait", distressing=True)
    note = "Content note: a quote below speaks of suicide or self-harm."
    assert render_markdown(doc).count(note) == 1
    assert render_html(doc).count(note) == 1
    texts = [p.text for p in Document(io.BytesIO(render_docx(doc))).paragraphs]
    assert texts.count(note) == 1
    assert texts.index(note) < next(i for i, t in enumerate(texts) if "cut herself" in t)


def test_the_classifier_note_says_which_answers_a_person_filed():
    from flows.report_html import classifier_note

    c = {"mode": "trained", "n_labelled": 899, "n_examples": 0, "macro_f1": 0.83}
    some = classifier_note({"classifier": {**c, "coder_labelled": 12}, "totals": {"answers": 900}})
    assert some.endswith("12 answers are filed under the categories a person gave them when labelling, not the "
                         "classifier's.")
    every = classifier_note({"classifier": {**c, "coder_labelled": 900}, "totals": {"answers": 900}})
    assert "Every answer here was also labelled by a person" in every
    assert "filed under" not in classifier_note({"classifier": c, "totals": {"answers": 900}})


def test_praise_with_no_ask_is_evidence_not_something_to_do():
    """User test 8: "The nurses on Larchfield ward were brilliant" (24 people) was second in the list
    under "When we asked people what we should do … they said:"."""
    from flows.report import render_markdown
    from flows.report_html import in_said_list, left_out_note
    from nlp.summarise import praise_only

    heading = "When we asked people what we should do over the next five years they said:"
    assert praise_only("The nurses on Larchfield ward were brilliant", heading)
    assert not praise_only("The new family hub is brilliant, more of them", heading)  # still asks
    assert not praise_only("The nurses on Larchfield ward were brilliant", "When we asked what we do well they said:")
    doc = sample_doc()
    praised = doc["categories"][0]["statements"][1]
    praised.update(text="The maternity staff at West Cumberland were brilliant", praise=True)
    assert not in_said_list(praised) and in_said_list(doc["categories"][0]["statements"][0])
    assert "praises what is done now without saying what to do" in left_out_note(doc["categories"][0])
    md = render_markdown(doc)
    assert "- The maternity staff at West Cumberland were brilliant" not in md
    assert "### The maternity staff at West Cumberland were brilliant" in md  # still evidence below
