"""Analyse flow: classify counted answers and their segments, then find themes inside each category
and turn them into "they said" statements with evidence."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from tqdm.auto import tqdm

from flows.embeddings import get_embeddings
from flows.settings import resolve_taxonomy, workspace
from flows.store import connect, transaction
from flows.train import load_model, load_sentiment
from nlp.embed import embed
from nlp.summarise import distinct_statements, fallback_statement, reusable_statement, summarise_theme
from nlp.stability import ThemeState, change_log, match_themes
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
    seg_emb = get_embeddings(ws, seg["text"].tolist())
    seg_scores = clf.predict_proba(seg["text"].tolist(), seg_emb)
    sentiment = load_sentiment(ws, tax)
    if sentiment is not None:
        sent = pd.DataFrame({
            "answer_id": np.r_[ans["answer_id"].to_numpy(), seg["answer_id"].to_numpy()],
            "seg_index": np.r_[np.full(len(ans), -1), seg["seg_index"].to_numpy()].astype(int),
            "sentiment": np.r_[sentiment.predict(ans["text"].tolist(), get_embeddings(ws, ans["text"].tolist())),
                               sentiment.predict(seg["text"].tolist(), seg_emb)].astype(str),
            "model_version": meta["model_version"]})
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
        if sentiment is not None:  # a taxonomy without sentiment labels leaves another's predictions be
            con.execute("DELETE FROM sentiments")
            con.register("se", sent)
            con.execute("INSERT INTO sentiments SELECT * FROM se")
    return {"answers": len(ans), "segments": len(seg), "mode": meta.get("mode", "trained"),
            "assigned": {c: int(n) for c, n in zip(tax.codes, assigned.sum(axis=0))},
            "sentiment": sent[sent["seg_index"] < 0]["sentiment"].value_counts().to_dict() if sentiment is not None else None}


def person_sentiment(values: pd.Series) -> str:
    """One person's stance on a theme from their segments': both praise and criticism is 'mixed'."""
    found = set(values.dropna()) - {""}
    if not found:
        return ""
    if "mixed" in found or {"positive", "negative"} <= found:
        return "mixed"
    return next((s for s in ("negative", "positive") if s in found), "neutral")


def category_segments(con, tax_id: str, code: str, threshold: float) -> pd.DataFrame:
    """The segments of this category's answers that speak to it, with their writer's sentiment."""
    df = con.execute("""
        SELECT s.answer_id, s.seg_index, s.text, ss.score, a.source, a.source_file, a.respondent_id,
               a.question, a.metadata, coalesce(se.sentiment, '') AS sentiment
        FROM predictions p
        JOIN answers a USING (answer_id)
        JOIN segments s USING (answer_id)
        JOIN segment_scores ss ON ss.taxonomy_id = p.taxonomy_id AND ss.answer_id = s.answer_id
             AND ss.seg_index = s.seg_index AND ss.code = p.code
        LEFT JOIN sentiments se ON se.answer_id = s.answer_id AND se.seg_index = s.seg_index
        WHERE p.taxonomy_id = ? AND p.code = ? AND p.assigned AND NOT a.is_empty
        ORDER BY a.source_file, a.respondent_id, a.question, s.seg_index""", [tax_id, code]).df()
    if df.empty:
        return df
    best = df.groupby("answer_id")["score"].transform("max")
    keep = (df["score"] >= SEGMENT_SHARE_OF_THRESHOLD * threshold) | (df["score"] == best)
    return df[keep].reset_index(drop=True)


def theme_evidence(seg: pd.DataFrame) -> pd.DataFrame:
    """A theme's segments with each person's sentiment over all their segments in it (so a person is
    counted once in the theme's sentiment breakdown), or no sentiment column when there is no model."""
    seg = seg.reset_index(drop=True)
    if not (seg["sentiment"] != "").any():
        return seg.drop(columns="sentiment")
    person = seg["source_file"] + "\x1f" + seg["respondent_id"]
    return seg.assign(sentiment=seg.groupby(person)["sentiment"].transform(person_sentiment))


def previous_themes(con, tax_id: str) -> tuple[dict[str, list[ThemeState]], dict[str, int]]:
    """Last run's themes per category, and the highest theme number ever used per category."""
    rows = con.execute("SELECT code, theme_id, statement, n_people, centroid FROM themes WHERE taxonomy_id = ?",
                       [tax_id]).fetchall()
    members = con.execute("SELECT theme_id, list(DISTINCT answer_id) FROM theme_members WHERE taxonomy_id = ? "
                          "GROUP BY theme_id", [tax_id]).fetchall()
    ids = con.execute("SELECT theme_id FROM themes WHERE taxonomy_id = ? UNION "
                      "SELECT theme_id FROM theme_changes WHERE taxonomy_id = ?", [tax_id, tax_id]).fetchall()
    by_theme = dict(members)
    prev: dict[str, list[ThemeState]] = {}
    for code, tid, statement, n, centroid in rows:
        if centroid is None:
            continue
        prev.setdefault(code, []).append(ThemeState(np.frombuffer(centroid, dtype=np.float32), frozenset(by_theme.get(tid, [])),
                                                    n, tid, statement))
    highest: dict[str, int] = {}
    for (tid,) in ids:
        code, _, num = tid.rpartition("-")
        if num.isdigit():
            highest[code] = max(highest.get(code, 0), int(num))
    return prev, highest


@task(cache_policy=NONE)
def find_themes(home: str, taxonomy: str | None, seed: int = 0) -> dict:
    """Themes and statements for every substantive category, matched to the previous run's themes
    so ids and wording stay put unless the evidence changed; stored with their member segments."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    _, meta = load_model(ws, tax)
    with connect(ws.db_path) as con:
        prev, highest = previous_themes(con, tax.id)
    theme_rows, member_rows, change_rows, summary, pending = [], [], [], {}, []
    run_at = datetime.now(timezone.utc).replace(tzinfo=None)
    cats = [c for c in tax.categories if not c.is_other]
    for cat in tqdm(cats, desc="themes", unit="category", disable=None):
        with connect(ws.db_path) as con:
            seg = category_segments(con, tax.id, cat.code, meta["thresholds"][cat.code])
        current: list[ThemeState] = []
        if not seg.empty:
            emb = get_embeddings(ws, seg["text"].tolist(), progress=False)
            themer = CategoryThemer(random_state=seed).fit(seg["text"].tolist(), emb)
            found = []
            for theme in themer.themes_:
                idx = np.asarray(theme.members)
                st = summarise_theme(theme.id, theme_evidence(seg.iloc[idx]), emb[idx], theme.keywords, embed)
                state = ThemeState(theme.centroid, frozenset(seg["answer_id"].iloc[idx]), st.n)
                found.append((theme, idx, st, state))
            matches = match_themes(prev.get(cat.code, []), [f[3] for f in found])
            old_statement = {p.id: p.statement for p in prev.get(cat.code, [])}
            for (theme, idx, st, state), m in zip(found, matches):
                if m.previous_id:
                    state.id = m.previous_id
                else:
                    highest[cat.code] = highest.get(cat.code, 0) + 1
                    state.id = f"{cat.code}-{highest[cat.code]}"
                kept = old_statement[m.previous_id] if m.keep_statement else None
                state.statement = reusable_statement(kept, [t for t, _ in st.alternatives])
                current.append(state)
            pending.append((cat, seg, emb, themer, found, current))
            summary[cat.code] = {"segments": len(seg), "themes": len(found), "unthemed": int((themer.labels_ < 0).sum()),
                                 "method": themer.method_}
        else:
            pending.append((cat, seg, None, None, [], current))
            summary[cat.code] = {"segments": 0, "themes": 0, "unthemed": 0, "method": None}
    # One wording per theme across the whole report (an answer often speaks to two categories):
    # a kept wording stays; otherwise the weaker claim to the same words takes its next-best phrasing.
    flat = [(f[2], state) for *_, found, current in pending for f, state in zip(found, current)]
    texts = distinct_statements([st.alternatives for st, _ in flat], [st.n for st, _ in flat],
                                fixed=[state.statement for _, state in flat],
                                fallback=[fallback_statement(st.keywords) for st, _ in flat])
    for (st, state), text in zip(flat, texts):
        state.statement = text
    for cat, seg, emb, themer, found, current in pending:
        found_sorted = sorted(zip(found, current), key=lambda x: (-x[0][2].n, x[1].id))
        for rank, ((theme, idx, st, _), state) in enumerate(found_sorted, 1):
            detail = st.as_dict() | {"theme_id": state.id, "text": state.statement, "method": themer.method_}
            theme_rows.append((tax.id, cat.code, state.id, rank, state.statement, st.n,
                               json.dumps(detail, ensure_ascii=False), theme.centroid.astype(np.float32).tobytes()))
            for i, c in zip(idx, emb[idx] @ theme.centroid):
                member_rows.append((tax.id, cat.code, state.id, seg["answer_id"].iat[i], int(seg["seg_index"].iat[i]),
                                    float(c)))
        for e in change_log(prev.get(cat.code, []), current):
            change_rows.append((run_at, tax.id, cat.code, e["theme_id"], e["change"], e["statement"], e["n_before"],
                                e["n_after"], e.get("statement_before")))
    with connect(ws.db_path) as con, transaction(con):
        con.execute("DELETE FROM themes WHERE taxonomy_id = ?", [tax.id])
        con.execute("DELETE FROM theme_members WHERE taxonomy_id = ?", [tax.id])
        if theme_rows:
            con.executemany("INSERT INTO themes (taxonomy_id, code, theme_id, rank, statement, n_people, detail, centroid) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", theme_rows)
        if member_rows:
            con.register("m", pd.DataFrame(member_rows, columns=["taxonomy_id", "code", "theme_id", "answer_id",
                                                                 "seg_index", "centrality"]))
            con.execute("INSERT INTO theme_members SELECT * FROM m")
        if change_rows:
            con.executemany("INSERT INTO theme_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", change_rows)
    return summary


@flow(name="engage-analyse")
def analyse_flow(home: str, taxonomy: str | None = None, seed: int = 0) -> dict:
    classified = classify_answers(home, taxonomy)
    themes = find_themes(home, taxonomy, seed)
    get_run_logger().info("classified %d answers; themes: %s", classified["answers"], themes)
    return {"classified": classified, "themes": themes}
