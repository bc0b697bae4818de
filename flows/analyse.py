"""Analyse flow: classify counted answers and their segments, then find themes inside each category
and turn them into "they said" statements with evidence."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from tqdm.auto import tqdm

from flows.embeddings import get_embeddings
from flows.settings import resolve_taxonomy, workspace
from flows.store import connect, transaction
from flows.train import load_model
from nlp.embed import embed
from nlp.summarise import summarise_theme
from nlp.themes import CategoryThemer

# A segment speaks to a category when its own score reaches this share of the category's threshold
# (the answer's best-scoring segment for the category always does).
SEGMENT_SHARE_OF_THRESHOLD = 0.6


@task(cache_policy=NONE)
def classify_answers(home: str, taxonomy: str | None) -> dict:
    """Scores and assigned categories for every counted answer and each of its segments."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    clf, meta = load_model(ws, tax)
    with connect(ws.db_path) as con:
        ans = con.execute("SELECT answer_id, text, is_empty FROM answers WHERE duplicate_of IS NULL "
                          "ORDER BY answer_id").df()
        seg = con.execute("SELECT s.answer_id, s.seg_index, s.text FROM segments s JOIN answers a USING (answer_id) "
                          "WHERE a.duplicate_of IS NULL ORDER BY s.answer_id, s.seg_index").df()
    scores = clf.predict_proba(ans["text"].tolist(), get_embeddings(ws, ans["text"].tolist()))
    assigned = clf.decide(scores) if len(ans) else np.zeros((0, len(tax.codes)), dtype=np.int8)
    if tax.other_code is not None:  # "n/a", "no comment": nothing said, whatever the model thinks
        o = tax.codes.index(tax.other_code)
        empty = ans["is_empty"].to_numpy(dtype=bool)
        assigned[empty] = 0
        assigned[empty, o] = 1
    seg_scores = clf.predict_proba(seg["text"].tolist(), get_embeddings(ws, seg["text"].tolist()))
    k = len(tax.codes)
    pred = pd.DataFrame({
        "taxonomy_id": tax.id, "answer_id": np.repeat(ans["answer_id"].to_numpy(), k),
        "code": np.tile(tax.codes, len(ans)), "score": scores.ravel(), "assigned": assigned.ravel().astype(bool),
        "model_version": meta["model_version"]})
    sseg = pd.DataFrame({
        "taxonomy_id": tax.id, "answer_id": np.repeat(seg["answer_id"].to_numpy(), k),
        "seg_index": np.repeat(seg["seg_index"].to_numpy(), k), "code": np.tile(tax.codes, len(seg)),
        "score": seg_scores.ravel()})
    with connect(ws.db_path) as con, transaction(con):
        con.execute("DELETE FROM predictions WHERE taxonomy_id = ?", [tax.id])
        con.execute("DELETE FROM segment_scores WHERE taxonomy_id = ?", [tax.id])
        con.register("p", pred)
        con.execute("INSERT INTO predictions SELECT * FROM p")
        con.register("s", sseg)
        con.execute("INSERT INTO segment_scores SELECT * FROM s")
    return {"answers": len(ans), "segments": len(seg),
            "assigned": {c: int(n) for c, n in zip(tax.codes, assigned.sum(axis=0))}}


def category_segments(con, tax_id: str, code: str, threshold: float) -> pd.DataFrame:
    """The segments of this category's answers that speak to it."""
    df = con.execute("""
        SELECT s.answer_id, s.seg_index, s.text, ss.score, a.source, a.source_file, a.respondent_id,
               a.question, a.metadata
        FROM predictions p
        JOIN answers a USING (answer_id)
        JOIN segments s USING (answer_id)
        JOIN segment_scores ss ON ss.taxonomy_id = p.taxonomy_id AND ss.answer_id = s.answer_id
             AND ss.seg_index = s.seg_index AND ss.code = p.code
        WHERE p.taxonomy_id = ? AND p.code = ? AND p.assigned AND NOT a.is_empty
        ORDER BY a.source_file, a.respondent_id, a.question, s.seg_index""", [tax_id, code]).df()
    if df.empty:
        return df
    best = df.groupby("answer_id")["score"].transform("max")
    keep = (df["score"] >= SEGMENT_SHARE_OF_THRESHOLD * threshold) | (df["score"] == best)
    return df[keep].reset_index(drop=True)


@task(cache_policy=NONE)
def find_themes(home: str, taxonomy: str | None, seed: int = 0) -> dict:
    """Themes and statements for every substantive category, stored with their member segments."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    _, meta = load_model(ws, tax)
    theme_rows, member_rows, summary = [], [], {}
    cats = [c for c in tax.categories if not c.is_other]
    for cat in tqdm(cats, desc="themes", unit="category", disable=None):
        with connect(ws.db_path) as con:
            seg = category_segments(con, tax.id, cat.code, meta["thresholds"][cat.code])
        if seg.empty:
            summary[cat.code] = 0
            continue
        emb = get_embeddings(ws, seg["text"].tolist(), progress=False)
        themer = CategoryThemer(random_state=seed).fit(seg["text"].tolist(), emb)
        statements = []
        for theme in themer.themes_:
            idx = np.asarray(theme.members)
            st = summarise_theme(theme.id, seg.iloc[idx].reset_index(drop=True), emb[idx], theme.keywords, embed)
            statements.append((theme, idx, st))
        statements.sort(key=lambda x: (-x[2].n, x[0].id))
        for rank, (theme, idx, st) in enumerate(statements, 1):
            tid = f"{cat.code}-{rank}"
            detail = st.as_dict() | {"theme_id": tid, "method": themer.method_}
            theme_rows.append((tax.id, cat.code, tid, rank, st.text, st.n, json.dumps(detail, ensure_ascii=False)))
            cent = emb[idx] @ theme.centroid
            for i, c in zip(idx, cent):
                member_rows.append((tax.id, cat.code, tid, seg["answer_id"].iat[i], int(seg["seg_index"].iat[i]), float(c)))
        outliers = int((themer.labels_ < 0).sum())
        summary[cat.code] = {"segments": len(seg), "themes": len(statements), "unthemed": outliers,
                             "method": themer.method_}
    with connect(ws.db_path) as con, transaction(con):
        con.execute("DELETE FROM themes WHERE taxonomy_id = ?", [tax.id])
        con.execute("DELETE FROM theme_members WHERE taxonomy_id = ?", [tax.id])
        if theme_rows:
            con.executemany("INSERT INTO themes VALUES (?, ?, ?, ?, ?, ?, ?)", theme_rows)
        if member_rows:
            con.register("m", pd.DataFrame(member_rows, columns=["taxonomy_id", "code", "theme_id", "answer_id",
                                                                 "seg_index", "centrality"]))
            con.execute("INSERT INTO theme_members SELECT * FROM m")
    return summary


@flow(name="engage-analyse")
def analyse_flow(home: str, taxonomy: str | None = None, seed: int = 0) -> dict:
    classified = classify_answers(home, taxonomy)
    themes = find_themes(home, taxonomy, seed)
    get_run_logger().info("classified %d answers; themes: %s", classified["answers"], themes)
    return {"classified": classified, "themes": themes}
