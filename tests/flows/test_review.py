"""The review workbook: written as an officer reads it, read back as an officer fills it in."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from flows.review import read_review_xlsx, write_review_xlsx
from flows.train import LabelsError

CODES = ["AIM1", "AIM2", "MH", "ACCESS", "OTHER"]
TEXTS = ['=HYPERLINK("http://evil.example","click") the GP phone line is never answered',
         "- More walking groups and community cafes", "More buses to the hospital"]


def workbook(tmp_path, labels: list[str]) -> bytes:
    df = pd.DataFrame({"answer_id": ["a1", "a2", "a3"], "source": "public", "question": "Q1", "text": TEXTS,
                       "predicted": "AIM1", "reason": "uncertain"})
    path = tmp_path / "review.xlsx"
    write_review_xlsx(df, [(c, c) for c in CODES], path)
    wb = load_workbook(path)
    for row, label in zip(wb["review"].iter_rows(min_row=2), labels):
        row[5].value = label
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_answers_are_shown_as_written_and_never_run_as_formulas(tmp_path):
    """A list answer used to show its formula guard ("'- More walking groups"); typed as text, it needs none."""
    data = workbook(tmp_path, ["", "", ""])
    cells = [r[3] for r in load_workbook(io.BytesIO(data))["review"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == TEXTS and all(c.data_type == "s" for c in cells)


def test_labels_are_read_however_they_are_separated(tmp_path):
    df = read_review_xlsx(workbook(tmp_path, ["mh/access", "AIM1;", "aim2, other"]), "r.xlsx", CODES)
    assert df["labels"].tolist() == ["MH;ACCESS", "AIM1", "AIM2;OTHER"]
    assert df["text"].tolist() == TEXTS  # the text goes back into training as it was


def test_unknown_codes_name_their_rows(tmp_path):
    with pytest.raises(LabelsError) as caught:
        read_review_xlsx(workbook(tmp_path, ["HOUSING", "", "MH/ACCES"]), "r.xlsx", CODES)
    message = str(caught.value)
    assert "row 2: 'HOUSING'" in message and "row 4: 'ACCES'" in message and "separate several with ';'" in message


def test_a_category_title_is_read_as_its_code(tmp_path):
    """User test 6: "Age well", copied from the codes sheet, was refused as the unknown code 'WELL'."""
    titles = {"AIM1": "Start well", "AIM2": "Age well", "MH": "Mental wellbeing", "ACCESS": "Access", "OTHER": "Other"}
    df = read_review_xlsx(workbook(tmp_path, ["age well", "Mental  Wellbeing; AIM1", "MH ACCESS"]), "r.xlsx", CODES,
                          titles)
    assert df["labels"].tolist() == ["AIM2", "MH;AIM1", "MH;ACCESS"]
    with pytest.raises(LabelsError) as caught:
        read_review_xlsx(workbook(tmp_path, ["Live well", "", ""]), "r.xlsx", CODES, titles)
    assert "row 2: 'Live well'" in str(caught.value) and "AIM2 (Age well)" in str(caught.value)
