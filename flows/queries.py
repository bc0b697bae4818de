"""Read-only views of the last complete run, for export and quotes."""
from __future__ import annotations

import pandas as pd

from flows.settings import Workspace, resolve_taxonomy
from flows.store import connect, reader_path


def responses_table(ws: Workspace, taxonomy: str | None) -> pd.DataFrame:
    """One row per counted answer: identity, redacted text, labels, a score per category, themes."""
    tax = resolve_taxonomy(taxonomy, ws.home)
    with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
        ans = con.execute("SELECT answer_id, source_file, respondent_id, question, source, text FROM answers "
                          "WHERE duplicate_of IS NULL ORDER BY source_file, row_order").df()
        pred = con.execute("SELECT answer_id, code, score, assigned FROM predictions WHERE taxonomy_id = ?",
                           [tax.id]).df()
        themes = con.execute("SELECT DISTINCT m.answer_id, m.theme_id, t.statement FROM theme_members m "
                             "JOIN themes t USING (taxonomy_id, code, theme_id) WHERE m.taxonomy_id = ? "
                             "ORDER BY m.theme_id", [tax.id]).df()
    if pred.empty:
        raise FileNotFoundError(f"no classifications for taxonomy {tax.id} yet: run `engage run --taxonomy {tax.id}`")
    scores = pred.pivot(index="answer_id", columns="code", values="score").reindex(columns=tax.codes)
    scores.columns = [f"score_{c}" for c in scores.columns]
    order = {c: i for i, c in enumerate(tax.codes)}
    labels = (pred[pred["assigned"]].assign(o=lambda d: d["code"].map(order)).sort_values("o")
              .groupby("answer_id")["code"].agg(";".join).rename("labels"))
    theme = themes.groupby("answer_id").agg(theme=("theme_id", ";".join),
                                            theme_statement=("statement", " | ".join))
    out = ans.join(labels, on="answer_id").join(scores.round(4), on="answer_id").join(theme, on="answer_id")
    out[["labels", "theme", "theme_statement"]] = out[["labels", "theme", "theme_statement"]].fillna("")
    cols = ["source_file", "respondent_id", "question", "source", "text", "labels", *scores.columns, "theme",
            "theme_statement"]
    return out[cols]


def quotes_table(ws: Workspace, taxonomy: str | None, code: str, source: str | None, n: int) -> pd.DataFrame:
    """The most typical segment of each theme in turn (round-robin over themes), one per person."""
    tax = resolve_taxonomy(taxonomy, ws.home)
    tax.category(code)
    with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
        df = con.execute("""
            SELECT t.rank, t.statement, s.text AS quote, a.source, a.source_file, a.respondent_id, m.centrality
            FROM theme_members m JOIN themes t USING (taxonomy_id, code, theme_id)
            JOIN segments s ON s.answer_id = m.answer_id AND s.seg_index = m.seg_index
            JOIN answers a ON a.answer_id = m.answer_id
            WHERE m.taxonomy_id = ? AND m.code = ? AND (? IS NULL OR a.source = ?)
            ORDER BY t.rank, m.centrality DESC""", [tax.id, code, source, source]).df()
    if df.empty:
        return df
    df = df.drop_duplicates(["source_file", "respondent_id"])
    df["turn"] = df.groupby("rank").cumcount()
    return df.sort_values(["turn", "rank"]).head(n)[["quote", "source", "source_file", "respondent_id", "statement"]]
