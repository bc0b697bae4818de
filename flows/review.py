"""The review loop: the answers the model is least sure of (plus a random sample for quality
control) go to an XLSX an officer fills in; the corrections come back as labelled data, and the
next run retrains and reports the change in cross-validated F1."""
from __future__ import annotations

import hashlib
import io
import re
from datetime import date
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill

from flows.files import FORMULA_START, atomic_write_bytes
from flows.settings import Workspace, resolve_taxonomy
from flows.store import connect, reader_path, require_classified
from flows.train import LabelsError, labelled_data, labels_dir, load_model

REVIEW_COLUMNS = ["answer_id", "source", "question", "text", "predicted", "labels", "notes"]


# Answers listed first for each category that has too few labels for a trained model.
PER_THIN_CATEGORY = 10


def review_candidates(ws: Workspace, taxonomy: str | None, n_uncertain: int, n_random: int, seed: int = 0) -> pd.DataFrame:
    """For each category with too few labels, the answers most likely in it; then counted answers whose
    scores sit closest to a decision threshold, then a random sample; the same words from several
    people are one row (an officer labels a text once), and an answer already labelled is left out."""
    tax = resolve_taxonomy(taxonomy, ws.home)
    _, meta = load_model(ws, tax)
    with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
        require_classified(con, tax.id)
        pred = con.execute("SELECT p.answer_id, p.code, p.score, p.assigned, a.source, a.question, a.text "
                           "FROM predictions p JOIN answers a USING (answer_id) "
                           "WHERE p.taxonomy_id = ? AND a.duplicate_of IS NULL AND NOT a.is_empty",
                           [tax.id]).df()
    if pred.empty:
        raise FileNotFoundError(f"no classified answers for {tax.id}: run `engage run` first")
    thresholds = pred["code"].map(meta["thresholds"])
    pred["margin"] = (pred["score"] - thresholds).abs() / np.maximum(thresholds, 1 - thresholds)
    per_answer = pred.groupby("answer_id").agg(margin=("margin", "min"), source=("source", "first"),
                                               question=("question", "first"), text=("text", "first"))
    order = {c: i for i, c in enumerate(tax.codes)}
    predicted = (pred[pred["assigned"]].assign(o=lambda d: d["code"].map(order)).sort_values("o")
                 .groupby("answer_id")["code"].agg(";".join))
    per_answer["predicted"] = predicted.reindex(per_answer.index).fillna("")
    same = per_answer["text"].str.casefold().str.split().str.join(" ")
    # An answer labelled already (in any labelled file) is not asked again.
    labelled, _ = labelled_data(ws, tax)
    done = set(labelled["text"].str.casefold().str.split().str.join(" "))
    per_answer = per_answer[~same.duplicated() & ~same.isin(done)]
    # A category with too few labels keeps the trained model from taking over (flows.train.MIN_PER_CATEGORY):
    # the answers most likely to be in it come first, so one round of review can fill it.
    likely = []
    for code, n in (meta.get("thin_categories") or {}).items():
        scores = pred[pred["code"] == code].set_index("answer_id")["score"]
        top = scores[scores.index.isin(per_answer.index.difference([i for f in likely for i in f.index]))]
        top = top.sort_values(ascending=False, kind="stable").head(PER_THIN_CATEGORY)
        likely.append(per_answer.loc[top.index].assign(reason=f"likely {code} ({n} labelled so far)"))
    rest = per_answer.drop([i for f in likely for i in f.index])
    uncertain = rest.sort_values(["margin", "text"]).head(n_uncertain).assign(reason="uncertain")
    rest = rest.drop(uncertain.index)
    sample = rest.sample(min(n_random, len(rest)), random_state=seed).assign(reason="random sample")
    return pd.concat([*likely, uncertain, sample]).reset_index()


def write_review_xlsx(df: pd.DataFrame, codes: list[tuple[str, str]], path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "review"
    ws.append(REVIEW_COLUMNS + ["why chosen"])
    for r in df.itertuples():
        ws.append([r.answer_id, r.source, r.question, r.text, r.predicted, "", "", r.reason])
        for cell in ws[ws.max_row]:
            # Text typed as text: "=HYPERLINK(…)" or "- More walking groups" is shown as written and
            # never run as a formula (openpyxl would otherwise store a leading "=" as one).
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_START):
                cell.data_type = "s"
    for cell in ws[1]:
        cell.font = Font(bold=True)
    fill = PatternFill("solid", fgColor="FFF2CC")
    for row in ws.iter_rows(min_row=2, min_col=6, max_col=7):
        for cell in row:
            cell.fill = fill
    for col, width in zip("ABCDEFGH", (14, 12, 30, 80, 16, 16, 30, 14)):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=2, min_col=4, max_col=4):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].hidden = True
    ws.freeze_panes = "B2"
    help_ws = wb.create_sheet("codes")
    help_ws.append(["code", "title"])
    for code, title in codes:
        help_ws.append([code, title])
    help_ws.append([])
    help_ws.append(["How to review: in the yellow 'labels' column type the right codes for each answer "
                    "(or their titles from the codes sheet), separated by ';' (copy 'predicted' if it is right). "
                    "Leave a row blank to skip it. "
                    "Then run: engage review import THIS-FILE.xlsx"])
    buf = io.BytesIO()
    wb.save(buf)
    atomic_write_bytes(path, buf.getvalue())


def parse_labels(cell: object, codes: list[str], titles: Mapping[str, str] | None = None) -> list[str]:
    """An officer's labels cell as codes: "MH/ACCESS", "mh, access", "MH;ACCESS;" and "MH ACCESS" are two
    codes, and a category's title ("Age well", from the workbook's codes sheet) is its code. A piece
    that is neither is returned as typed, for the error to name."""
    by_title = {" ".join(t.split()).casefold(): c for c, t in (titles or {}).items()}
    out: list[str] = []
    for piece in re.split(r"[,;/]+", str(cell)):
        piece = " ".join(piece.split())
        if not piece:
            continue
        if piece.upper() in codes:
            out.append(piece.upper())
        elif piece.casefold() in by_title:
            out.append(by_title[piece.casefold()])
        else:
            words = piece.upper().split()
            out += words if all(w in codes for w in words) else [piece]
    return list(dict.fromkeys(out))


def read_review_xlsx(data: bytes, name: str, codes: list[str], titles: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows an officer labelled, validated against the taxonomy (`titles`: code -> title, also accepted)."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        rows = list(wb["review"].iter_rows(values_only=True))
    except Exception as e:  # openpyxl raises many types for a damaged or foreign file
        raise LabelsError(f"{name} is not a review workbook written by `engage review export` ({e.__class__.__name__}).") from e
    header = [str(h or "").strip() for h in rows[0]] if rows else []
    missing = [c for c in ("answer_id", "text", "labels") if c not in header]
    if missing:
        raise LabelsError(f"{name} has no column(s) {', '.join(missing)}: use the file from `engage review export`.")
    df = pd.DataFrame(rows[1:], columns=header).fillna("")
    df.index = df.index + 2  # the row number the officer sees in the workbook
    df = df[df["labels"].astype(str).str.strip() != ""].copy()
    parsed = {row: parse_labels(cell, codes, titles) for row, cell in df["labels"].items()}
    # Workbooks exported before text cells were typed as text guarded formulas with a leading "'".
    df["text"] = df["text"].astype(str).str.removeprefix("'")
    bad = [(row, c) for row, found in parsed.items() for c in found if c not in codes]
    if bad:
        shown = ", ".join(f"row {row}: {c!r}" for row, c in bad[:6]) + (" …" if len(bad) > 6 else "")
        valid = ", ".join(f"{c} ({titles[c]})" if titles and c in titles else c for c in codes)
        raise LabelsError(f"{name}: unknown code(s) in the labels column ({shown}). Valid codes: {valid}; "
                          "separate several with ';'. Correct those rows and import it again.")
    df["labels"] = [";".join(parsed[row]) for row in df.index]
    return df.reset_index(drop=True)


def import_review(ws: Workspace, taxonomy: str | None, path: Path) -> tuple[Path | None, int]:
    tax = resolve_taxonomy(taxonomy, ws.home)
    data = path.read_bytes()
    df = read_review_xlsx(data, path.name, tax.codes, {c.code: c.title for c in tax.categories})
    if df.empty:
        return None, 0
    digest = hashlib.sha256(data).hexdigest()[:10]
    target = labels_dir(ws, tax) / f"review-{date.today().isoformat()}-{digest}.csv"
    out = pd.DataFrame({"response_id": df["answer_id"], "text": df["text"], "labels": df["labels"],
                        **{c: df[c].astype(str) for c in ("question", "source") if c in df}})
    atomic_write_bytes(target, out.to_csv(index=False).encode("utf-8"))
    return target, len(out)
