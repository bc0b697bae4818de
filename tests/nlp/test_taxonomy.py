from pathlib import Path

import pytest
import yaml

from flows.settings import resolve_taxonomy
from nlp.taxonomy import TaxonomyError, parse_taxonomy

REPO = Path(__file__).resolve().parents[2]


def test_both_shipped_taxonomies_load():
    nc = resolve_taxonomy("north-cumbria-2019-2024")
    assert nc.codes == ["AIM1", "AIM2", "AIM3", "ENA", "ENB", "ENC", "END", "OTHER"]
    assert nc.other_code == "OTHER" and nc.summary_heading.startswith("When we asked people")
    old = resolve_taxonomy("cumbria-system-objectives")
    assert old.codes[:4] == ["OBJ1", "OBJ2", "OBJ3", "OBJ4"]


def test_a_new_taxonomy_is_one_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump({"id": "mine", "title": "Mine", "categories": [
        {"code": "A", "title": "Alpha"}, {"code": "B", "title": "Beta", "kind": "other"}]}))
    t = resolve_taxonomy(str(f))
    assert t.id == "mine" and t.codes == ["A", "B"] and t.other_code == "B"


@pytest.mark.parametrize("data, message", [
    ({"title": "x", "categories": []}, "missing required key"),
    ({"id": "x", "title": "x", "categories": [{"code": "A", "title": "a"}]}, "at least two"),
    ({"id": "x", "title": "x", "categories": [{"code": "A", "title": "a"}, {"code": "A", "title": "b"}]}, "twice"),
    ({"id": "x", "title": "x", "categories": [{"code": "a b", "title": "a"}, {"code": "B", "title": "b"}]}, "upper-case"),
    ({"id": "Bad Id", "title": "x", "categories": [{"code": "A", "title": "a"}, {"code": "B", "title": "b"}]}, "lower-case"),
])
def test_invalid_taxonomies_fail_on_load(data, message):
    with pytest.raises(TaxonomyError, match=message):
        parse_taxonomy(data)


def test_unknown_taxonomy_lists_the_known_ones():
    with pytest.raises(TaxonomyError, match="north-cumbria-2019-2024"):
        resolve_taxonomy("no-such-thing")


@pytest.mark.parametrize("path", sorted((REPO / "config" / "taxonomies").glob("*.y*ml")), ids=lambda p: p.name)
def test_every_shipped_taxonomy_file_parses_and_validates(path):
    tax = parse_taxonomy(yaml.safe_load(path.read_text(encoding="utf-8")), origin=str(path))
    assert tax.id == path.stem  # resolvable by id
    assert sum(c.is_other for c in tax.categories) <= 1
    assert all(c.title and c.description for c in tax.categories)


def test_patient_experience_framework_has_its_fifty_labels():
    px = resolve_taxonomy("patient-experience-v6")
    assert len(px.categories) == 50
    titles = [c.title for c in px.categories]
    assert len(set(titles)) == 50  # the benchmark maps the data's columns to codes by title
    assert px.other_code == "LABELLING_NOT_POSSIBLE" and px.category(px.other_code).title == "Labelling not possible"
    assert {"Not assigned", "Positive experience & gratitude", "Transport to/ from services"} <= set(titles)
    assert px.question and px.summary_heading


def test_a_taxonomy_without_a_summary_heading_leads_in_with_its_question():
    base = {"id": "w", "title": "Living well", "categories": [{"code": "CYP", "title": "Children and young people"},
                                                       {"code": "MH", "title": "Mental health"}]}
    asked = parse_taxonomy({**base, "question": "What would help you live well?"})
    assert asked.summary_heading == "When we asked people \u201cWhat would help you live well?\u201d they said:"
    assert parse_taxonomy(base).summary_heading == "What people told us:"
    assert parse_taxonomy({**base, "summary_heading": "They said:"}).summary_heading == "They said:"


def test_a_taxonomy_can_cover_only_some_questions():
    base = {"id": "staff", "title": "Staff experience", "categories": [{"code": "PAY", "title": "Pay"},
                                                                      {"code": "LEAD", "title": "Leadership"}]}
    tax = parse_taxonomy({**base, "questions": ["Better place to WORK", "one thing"]})
    assert tax.asks("3. What would make the Trust a better place to work?") and tax.asks("If you could change one thing?")
    assert not tax.asks("What do you think the Trust does well?")
    assert parse_taxonomy(base).asks("anything at all")
    with pytest.raises(TaxonomyError, match="'questions' must be a list"):
        parse_taxonomy({**base, "questions": "better place to work"})
