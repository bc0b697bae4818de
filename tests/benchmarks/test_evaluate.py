"""benchmarks/evaluate.py takes the pxtextmining label set from a taxonomy file, by title."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from flows.settings import resolve_taxonomy
from tests.conftest import REPO


@pytest.fixture(scope="module")
def evaluate():
    spec = importlib.util.spec_from_file_location("evaluate", REPO / "benchmarks/evaluate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluate"] = module
    spec.loader.exec_module(module)
    return module


def test_label_columns_map_to_codes_by_title(evaluate):
    px = resolve_taxonomy("patient-experience-v6")
    columns = [c.title for c in px.categories]  # the CSV's 50 label columns
    used = ["Timeliness of care", "Labelling not possible", "Transport to/ from services"]
    sub = evaluate.px_label_taxonomy(px, columns, used)
    assert sub.codes == ["TIMELINESS", "LABELLING_NOT_POSSIBLE", "TRANSPORT"]
    assert [c.title for c in sub.categories] == used and sub.other_code == "LABELLING_NOT_POSSIBLE"
    with pytest.raises(SystemExit, match="no category titled 'Car parks'"):
        evaluate.px_label_taxonomy(px, columns + ["Car parks"], used)
    with pytest.raises(SystemExit, match="not columns"):
        evaluate.px_label_taxonomy(px, columns[:5], used)
