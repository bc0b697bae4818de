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
