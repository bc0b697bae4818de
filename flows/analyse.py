"""Analyse flow: classify counted answers and their segments, then find themes inside each category
and turn them into "they said" statements with evidence."""
from __future__ import annotations

import json
from collections import deque
from datetime import datetime, timezone

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from tqdm.auto import tqdm

from flows.embeddings import VectorLookup, encode_missing, get_embeddings, load_vectors
from flows.parallel import run_chunks
from flows.queries import disclosure
from flows.settings import resolve_taxonomy, workspace
from flows.store import connect, question_scope, transaction
from flows.timing import stage
from flows.train import answer_context, labelled_data, load_model, load_sentiment
from nlp.attribution import Disclosure, attribution
from nlp.classify import Segments
from nlp.preprocess import is_contact_only
from nlp.summarise import (distinct_statements, fallback_statement, leans_on_context, reusable_statement,
                           same_wording, statement_agreement, summarise_theme, theme_quotes)
from nlp.stability import Match, ThemeState, change_log, jaccard, match_themes
from nlp.themes import CategoryThemer, KeptThemes, fit_sampled

# A segment speaks to a category when its own score reaches this share of the category's threshold
# (the answer's best-scoring segment for the category always does).
SEGMENT_SHARE_OF_THRESHOLD = 0.6
# Answers (with their segments) per classification task: fixed, so chunks never depend on the runner.
CLASSIFY_CHUNK = 4_096
# Segments per category the topic model is fitted on; the others take their nearest fitted segment's
# theme (nlp.themes.fit_sampled). Themes cost more than linearly in segments; a few thousand show them.
THEME_FIT_SAMPLE = 3_000
# A category's themes are refitted when the segments added or removed since its last fit reach this
# share of that fit; below it, last run's themes are kept and new segments join the nearest one
# (nlp.themes.KeptThemes). `engage run --refit-themes` refits every category.
THEME_REFIT_SHARE = 0.05


@task(cache_policy=NONE)
def score_chunk(clf, sentiment, answers: list[str], answer_emb: np.ndarray, segments: list[str],
                segment_emb: np.ndarray, answer_context: list[dict], segment_owner: np.ndarray) -> dict:
    """Category scores, and sentiment when there is a model, for one chunk of answers and their
    segments (`segment_owner[i]`: the position of segment i's answer in `answers`): the heavy part
    of classification, run on a Dask worker when the flow has a cluster. A segment is scored in its
    answer's context (question and source), and lifts its answer's scores (nlp.classify)."""
    answer_p, segment_p = clf.predict_proba_with_segments(
        answers, answer_emb, context=answer_context, segments=Segments(segments, segment_owner, segment_emb))
    out = {"answers": answer_p, "segments": segment_p}
    if sentiment is not None:
        out["answer_sentiment"] = sentiment.predict(answers, answer_emb)
        out["segment_sentiment"] = sentiment.predict(segments, segment_emb)
    return out


def _segments_of(con, answer_ids: pd.Series) -> pd.DataFrame:
    con.register("chunk_ids", pd.DataFrame({"answer_id": answer_ids}))
    seg = con.execute("SELECT s.answer_id, s.seg_index, s.text FROM segments s JOIN chunk_ids USING (answer_id) "
                      "ORDER BY s.answer_id, s.seg_index").df()
    con.unregister("chunk_ids")
    return seg


def decide(clf, tax, scores: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """The classifier's categories for these scores; an answer that says nothing ("n/a", "no
    comment") is the catch-all's, whatever the model thinks."""
    assigned = clf.decide(scores)
    if tax.other_code is not None:
        assigned[empty] = 0
        assigned[empty, tax.codes.index(tax.other_code)] = 1
    return assigned


def apply_coder_labels(con, tax, clf, coded: pd.DataFrame) -> int:
    """Counted answers with the same words as a labelled answer (`coded`: text, labels) take its labels
    instead of the classifier's: an officer who filed "Please sort out the planning department" as
    OTHER should not see it quoted under a priority, even while zero-shot still classifies the rest.
    An answer whose label was taken back gets the classifier's decision again. Returns how many
    answers follow a person's labels."""
    scope, scope_args = question_scope(con, tax)
    con.register("coded", pd.DataFrame({"text": coded["text"].astype(str), "labels": coded["labels"].astype(str)}))
    key = "lower(trim(regexp_replace({}, '\\s+', ' ', 'g')))"
    wanted = con.execute(
        f"SELECT a.answer_id, last(c.labels) AS labels FROM answers a JOIN coded c ON {key.format('a.text')} = "
        f"{key.format('c.text')} WHERE a.duplicate_of IS NULL AND {scope} AND EXISTS (SELECT 1 FROM predictions p "
        "WHERE p.taxonomy_id = ? AND p.answer_id = a.answer_id) GROUP BY a.answer_id",
        [*scope_args, tax.id]).df()
    con.unregister("coded")
    before = con.execute("SELECT answer_id, labels FROM coder_labels WHERE taxonomy_id = ?", [tax.id]).df()
    taken_back = sorted(set(before["answer_id"]) - set(wanted["answer_id"]))
    if taken_back:
        con.register("back", pd.DataFrame({"answer_id": taken_back}))
        rows = con.execute("SELECT p.answer_id, p.code, p.score, a.is_empty FROM predictions p JOIN back USING "
                           "(answer_id) JOIN answers a USING (answer_id) WHERE p.taxonomy_id = ?", [tax.id]).df()
        con.unregister("back")
        if not rows.empty:
            scores = rows.pivot(index="answer_id", columns="code", values="score").reindex(columns=tax.codes)
            empty = rows.groupby("answer_id")["is_empty"].first().reindex(scores.index).to_numpy(dtype=bool)
            assigned = decide(clf, tax, scores.to_numpy(dtype=float), empty)
            con.register("restored", pd.DataFrame({
                "answer_id": np.repeat(scores.index.to_numpy(), len(tax.codes)),
                "code": np.tile(tax.codes, len(scores)), "assigned": assigned.ravel().astype(bool)}))
            con.execute("UPDATE predictions SET assigned = r.assigned FROM restored r WHERE predictions.taxonomy_id = ? "
                        "AND predictions.answer_id = r.answer_id AND predictions.code = r.code", [tax.id])
            con.unregister("restored")
    con.register("wanted", wanted)
    con.execute("UPDATE predictions SET assigned = list_contains(string_split(w.labels, ';'), predictions.code) "
                "FROM wanted w WHERE predictions.taxonomy_id = ? AND predictions.answer_id = w.answer_id", [tax.id])
    con.execute("DELETE FROM coder_labels WHERE taxonomy_id = ?", [tax.id])
    con.execute("INSERT INTO coder_labels SELECT ?, answer_id, labels FROM wanted", [tax.id])
    con.unregister("wanted")
    return len(wanted)


def classify_answers(home: str, taxonomy: str | None) -> dict:
    """Scores and assigned categories (and sentiment) for every counted answer and its segments.

    Only answers without scores from the current model are classified, so a night that adds 1%
    more answers classifies 1%. Their texts are embedded first (chunks of `encode_chunk`), then
    classified in chunks of CLASSIFY_CHUNK answers (`score_chunk`); both run on the flow's Dask
    cluster when it has one, and each chunk's rows are stored here as it comes back."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    clf, meta = load_model(ws, tax)
    sentiment = load_sentiment(ws, tax)
    version = meta["model_version"]
    with connect(ws.db_path) as con, transaction(con):
        scope, scope_args = question_scope(con, tax)
        # Scores of answers no longer counted (or to a question the taxonomy does not cover), or from
        # another model, go; the rest are kept.
        con.execute("DELETE FROM predictions WHERE taxonomy_id = ? AND (model_version <> ? OR answer_id NOT IN "
                    f"(SELECT answer_id FROM answers WHERE duplicate_of IS NULL AND {scope}))",
                    [tax.id, version, *scope_args])
        con.execute("DELETE FROM segment_scores WHERE taxonomy_id = ? AND answer_id NOT IN "
                    "(SELECT answer_id FROM predictions WHERE taxonomy_id = ?)", [tax.id, tax.id])
        if sentiment is not None:  # a taxonomy without sentiment labels leaves another's sentiments be
            con.execute("DELETE FROM sentiments WHERE model_version <> ? OR answer_id NOT IN "
                        "(SELECT answer_id FROM answers WHERE duplicate_of IS NULL)", [version])
        todo = con.execute(
            f"SELECT answer_id, text, is_empty, question, source FROM answers a WHERE duplicate_of IS NULL AND {scope} "
            "AND (NOT EXISTS (SELECT 1 FROM predictions p WHERE p.taxonomy_id = ? AND p.answer_id = a.answer_id)"
            + (" OR NOT EXISTS (SELECT 1 FROM sentiments se WHERE se.answer_id = a.answer_id AND se.seg_index = -1))"
               if sentiment is not None else ")") + " ORDER BY answer_id", [*scope_args, tax.id]).df()
        seg_texts = _segments_of(con, todo["answer_id"])["text"].tolist()
    with stage("embed") as st:
        st["items"] = encode_missing(ws, todo["text"].tolist() + seg_texts)
    k, queued = len(tax.codes), deque()

    def chunks():
        for lo in range(0, len(todo), CLASSIFY_CHUNK):
            part = todo.iloc[lo:lo + CLASSIFY_CHUNK]
            with connect(ws.db_path) as con:
                seg = _segments_of(con, part["answer_id"])
            queued.append((part, seg))
            place = {a: i for i, a in enumerate(part["answer_id"])}
            yield {"answers": part["text"].tolist(), "answer_emb": load_vectors(ws, part["text"].tolist()),
                   "segments": seg["text"].tolist(), "segment_emb": load_vectors(ws, seg["text"].tolist()),
                   "answer_context": answer_context(part),
                   "segment_owner": np.array([place[a] for a in seg["answer_id"]], dtype=np.int64)}

    with stage("score", len(todo)):
        for out in run_chunks(score_chunk, chunks(), clf=clf, sentiment=sentiment):
            part, seg = queued.popleft()
            assigned = decide(clf, tax, out["answers"], part["is_empty"].to_numpy(dtype=bool))
            pred = pd.DataFrame({
                "taxonomy_id": tax.id, "answer_id": np.repeat(part["answer_id"].to_numpy(), k),
                "code": np.tile(tax.codes, len(part)), "score": out["answers"].ravel(),
                "assigned": assigned.ravel().astype(bool), "model_version": version})
            sseg = pd.DataFrame({
                "taxonomy_id": tax.id, "answer_id": np.repeat(seg["answer_id"].to_numpy(), k),
                "seg_index": np.repeat(seg["seg_index"].to_numpy(), k), "code": np.tile(tax.codes, len(seg)),
                "score": out["segments"].ravel()})
            with connect(ws.db_path) as con, transaction(con):
                con.register("p", pred)
                con.execute("INSERT OR REPLACE INTO predictions SELECT * FROM p")
                con.register("s", sseg)
                con.execute("INSERT OR REPLACE INTO segment_scores SELECT * FROM s")
                if sentiment is not None:
                    con.register("se", pd.DataFrame({
                        "answer_id": np.r_[part["answer_id"].to_numpy(), seg["answer_id"].to_numpy()],
                        "seg_index": np.r_[np.full(len(part), -1), seg["seg_index"].to_numpy()].astype(int),
                        "sentiment": np.r_[out["answer_sentiment"], out["segment_sentiment"]].astype(str),
                        "model_version": version}))
                    con.execute("INSERT OR REPLACE INTO sentiments SELECT * FROM se")
    coded, _ = labelled_data(ws, tax)
    with connect(ws.db_path) as con, transaction(con):
        n_coded = apply_coder_labels(con, tax, clf, coded[~coded["example"].astype(bool)])
    with connect(ws.db_path) as con:
        counted = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
        n_seg = con.execute("SELECT count(*) FROM segments s JOIN answers a USING (answer_id) "
                            "WHERE a.duplicate_of IS NULL").fetchone()[0]
        per_code = dict(con.execute("SELECT code, count(*) FILTER (WHERE assigned) FROM predictions "
                                    "WHERE taxonomy_id = ? GROUP BY code", [tax.id]).fetchall())
        moods = dict(con.execute("SELECT se.sentiment, count(*) FROM sentiments se JOIN answers a USING (answer_id) "
                                 "WHERE se.seg_index = -1 AND a.duplicate_of IS NULL GROUP BY se.sentiment "
                                 "ORDER BY se.sentiment").fetchall()) if sentiment is not None else None
    return {"answers": counted, "segments": n_seg, "classified": len(todo), "coder_labelled": n_coded,
            "mode": meta.get("mode", "trained"),
            "assigned": {c: int(per_code.get(c, 0)) for c in tax.codes}, "sentiment": moods}


# A theme gives up its own wording to another category's theme only for one that at least this share
# as many of its people come close to (statement_agreement).
OWN_WORDING_SHARE = 0.5


def _keep_own_wording(pending: list, texts: list[str], encode) -> list[str]:
    """`distinct_statements`' wordings, except where a theme gave up its own to another category's
    theme and took one few of its people come close to: user test 6 headed six people, five of whom
    wrote "Baby weigh clinics were cut", with the sixth's "Long COVID clinic was shut" (the five's
    words were another category's statement). Such a theme keeps its own wording, as the other
    category's does: the same people's point, in both. Within a category the wordings stay distinct."""
    out, start = list(texts), 0
    for _, seg, emb, _, found, _ in pending:
        in_category = range(start, start + len(found))
        for k, (_, idx, st, _) in zip(in_category, found):
            if out[k] == st.text or not st.text or any(same_wording(st.text, out[j]) for j in in_category):
                continue
            persons = (seg["source_file"].iloc[idx] + "\x1f" + seg["respondent_id"].iloc[idx]).tolist()
            mine, given = encode([st.text, out[k]])
            if statement_agreement(given, emb[idx], persons) < OWN_WORDING_SHARE * statement_agreement(
                    mine, emb[idx], persons):
                out[k] = st.text
        start += len(found)
    return out


def category_segments(con, tax_id: str, code: str, threshold: float, people: Disclosure | None = None) -> pd.DataFrame:
    """The segments of this category's answers that speak to it, with their writer's sentiment.
    A sentence that only leaves contact details ("Contact: [NAME], Parish Clerk, [PHONE]") is not
    evidence for any theme, whatever the rest of its answer says; one whose point is in another
    sentence ("Please don't let that happen", see `leans_on_context`) is evidence only when nothing
    else of its answer is, or it would gather with other such remarks into a theme of their own.
    Each has the `attribution` a quote of it would print, within what `people` allows."""
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
    # astype(bool): an empty object-dtype mask would be read as a list of column names.
    df = df[~df["text"].map(is_contact_only).astype(bool)]
    if df.empty:
        return df.reset_index(drop=True)
    best = df.groupby("answer_id")["score"].transform("max")
    df = df[(df["score"] >= SEGMENT_SHARE_OF_THRESHOLD * threshold) | (df["score"] == best)]
    leans = df["text"].map(leans_on_context).astype(bool)
    said_elsewhere = (~leans).groupby(df["answer_id"]).transform("any")
    df = df[~(leans & said_elsewhere)].reset_index(drop=True)
    return df.assign(attribution=[attribution(s, m, people) for s, m in zip(df["source"], df["metadata"])])


def theme_evidence(seg: pd.DataFrame) -> pd.DataFrame:
    """A theme's segments with each person's sentiment over all their segments in it (so a person is
    counted once in the theme's sentiment breakdown), or no sentiment column when there is no model."""
    seg = seg.reset_index(drop=True)
    if not (seg["sentiment"] != "").any():
        return seg.drop(columns="sentiment")
    person = seg["source_file"] + "\x1f" + seg["respondent_id"]
    return seg.assign(sentiment=person_sentiment(person, seg["sentiment"]))


def person_sentiment(person: pd.Series, sentiment: pd.Series) -> np.ndarray:
    """Each row's person's stance over all their rows: both praise and criticism (or any 'mixed') is
    'mixed', else negative, positive or neutral; '' for a person with no sentiment at all."""
    flags = pd.DataFrame({"neg": sentiment.eq("negative"), "pos": sentiment.eq("positive"),
                          "mix": sentiment.eq("mixed"), "any": sentiment.fillna("").ne("")})
    g = flags.groupby(person.to_numpy()).transform("any")
    return np.select([~g["any"], g["mix"] | (g["neg"] & g["pos"]), g["neg"], g["pos"]],
                     ["", "mixed", "negative", "positive"], "neutral").astype(object)


def segment_keys(seg: pd.DataFrame) -> frozenset[str]:
    """A theme's members as 'answer#segment' keys: an answer can speak to several themes, one per
    sentence, so shares of a theme's segments add up to at most 100% where shares of answers did not."""
    return frozenset(seg["answer_id"].astype(str) + "#" + seg["seg_index"].astype(str))


def previous_themes(con, tax_id: str) -> tuple[dict[str, list[ThemeState]], dict[str, int]]:
    """Last run's themes per category, and the highest theme number ever used per category."""
    rows = con.execute("SELECT code, theme_id, statement, n_people, centroid FROM themes WHERE taxonomy_id = ?",
                       [tax_id]).fetchall()
    members = con.execute("SELECT theme_id, list(DISTINCT answer_id || '#' || seg_index) FROM theme_members "
                          "WHERE taxonomy_id = ? GROUP BY theme_id", [tax_id]).fetchall()
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


def last_fit(con, tax_id: str, code: str, seg: pd.DataFrame) -> tuple[dict | None, pd.DataFrame]:
    """The category's last topic-model fit (None if there is none) and, per current segment, its
    theme last run (`theme_id`, None for no theme), whether it was there then (`known`) and whether
    it was there when the model was fitted (`fitted`)."""
    row = con.execute("SELECT seed, model_version, method, n_fitted, fitted_on FROM theme_fits "
                      "WHERE taxonomy_id = ? AND code = ?", [tax_id, code]).fetchone()
    fit = dict(zip(("seed", "model_version", "method", "n_fitted", "fitted_on"), row)) if row else None
    last = con.execute("SELECT answer_id, seg_index, theme_id, fitted FROM theme_assignments "
                       "WHERE taxonomy_id = ? AND code = ?", [tax_id, code]).df()
    cur = seg[["answer_id", "seg_index"]].merge(last.assign(known=True), how="left", on=["answer_id", "seg_index"])
    cur["known"] = cur["known"].fillna(False).astype(bool)
    cur["fitted"] = cur["fitted"].fillna(False).astype(bool)
    cur["theme_id"] = cur["theme_id"].astype(object).where(cur["theme_id"].notna(), None)
    if fit is not None:
        fit["still_fitted"] = int(cur["fitted"].sum())
    return fit, cur


def keep_last_fit(fit: dict | None, cur: pd.DataFrame, prev_ids: set[str], seed: int, model_version: str,
                  refit: bool) -> bool:
    """Whether last run's themes can carry this category: same seed and classifier, every theme still
    there, and segments added or removed since the fit under THEME_REFIT_SHARE of it."""
    if refit or fit is None or fit["seed"] != seed or fit["model_version"] != model_version or not prev_ids:
        return False
    if not cur["known"].any() or not set(cur["theme_id"].dropna()) <= prev_ids:
        return False
    changed = int((~cur["fitted"]).sum()) + (fit["n_fitted"] - fit["still_fitted"])
    return changed < THEME_REFIT_SHARE * fit["n_fitted"]


@task(cache_policy=NONE)
def find_themes(home: str, taxonomy: str | None, seed: int = 0, refit: bool = False) -> dict:
    """Themes and statements for every substantive category, matched to the previous run's themes
    so ids and wording stay put unless the evidence changed; stored with their member segments.
    A category that changed little since its last fit keeps that fit's themes (see THEME_REFIT_SHARE)."""
    ws = workspace(home)
    tax = resolve_taxonomy(taxonomy, ws.home)
    _, meta = load_model(ws, tax)
    with connect(ws.db_path) as con:
        prev, highest = previous_themes(con, tax.id)
    theme_rows, member_rows, change_rows, summary, pending = [], [], [], {}, []
    fits, assignment_rows = [], []
    run_at = datetime.now(timezone.utc).replace(tzinfo=None)
    cats = [c for c in tax.categories if not c.is_other]

    # Statement candidates' vectors are cached like the segments' (a refresh re-encodes only new
    # wording), looked up through one connection for the whole stage.
    with VectorLookup(ws) as encode:
        people = disclosure(encode.con)
        for cat in tqdm(cats, desc="themes", unit="category", disable=None):
            seg = category_segments(encode.con, tax.id, cat.code, meta["thresholds"][cat.code], people)
            fit, cur = last_fit(encode.con, tax.id, cat.code, seg)
            current: list[ThemeState] = []
            if not seg.empty:
                emb = get_embeddings(ws, seg["text"].tolist(), con=encode.con)
                prev_ids = sorted(p.id for p in prev.get(cat.code, []))
                if keep_last_fit(fit, cur, set(prev_ids), seed, meta["model_version"], refit):
                    number = {tid: i for i, tid in enumerate(prev_ids)}
                    previous = np.array([KeptThemes.NEW if not k else -1 if t is None else number[t]
                                         for k, t in zip(cur["known"], cur["theme_id"])])
                    themer = KeptThemes(method=fit["method"]).fit(seg["text"].tolist(), emb, previous)
                    fitted, n_fitted, fitted_on = cur["fitted"].to_numpy(), fit["n_fitted"], fit["fitted_on"]
                    kept_ids = prev_ids
                else:
                    themer = fit_sampled(CategoryThemer(random_state=seed), seg["text"].tolist(), emb, THEME_FIT_SAMPLE,
                                         seed)
                    fitted, n_fitted, fitted_on = np.ones(len(seg), dtype=bool), len(seg), len(themer.sample_)
                    kept_ids = None
                found = []
                for theme in themer.themes_:
                    idx = np.asarray(theme.members)
                    st = summarise_theme(theme.id, theme_evidence(seg.iloc[idx]), emb[idx], theme.keywords, encode)
                    state = ThemeState(theme.centroid, segment_keys(seg.iloc[idx]), st.n)
                    found.append((theme, idx, st, state))
                if kept_ids is not None:  # the same themes: each keeps its id, and its wording while its people do
                    before = {p.id: p for p in prev[cat.code]}
                    matches = [Match(i, kept_ids[t.id], jaccard(s.members, before[kept_ids[t.id]].members) >= 0.5)
                               for i, (t, _, _, s) in enumerate(found)]
                else:
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
                fits.append((tax.id, cat.code, seed, meta["model_version"], themer.method_, n_fitted, fitted_on,
                             run_at))
                label_id = {theme.id: state.id for (theme, *_), state in zip(found, current)}
                assignment_rows.append(pd.DataFrame({
                    "taxonomy_id": tax.id, "code": cat.code, "answer_id": seg["answer_id"],
                    "seg_index": seg["seg_index"],
                    "theme_id": [label_id.get(int(l)) for l in themer.labels_], "fitted": fitted}))
                summary[cat.code] = {"segments": len(seg), "themes": len(found),
                                     "unthemed": int((themer.labels_ < 0).sum()),
                                     "method": themer.method_, "fitted_on": fitted_on,
                                     "refitted": kept_ids is None}
            else:
                pending.append((cat, seg, None, None, [], current))
                summary[cat.code] = {"segments": 0, "themes": 0, "unthemed": 0, "method": None}
        # One wording per theme across the whole report (an answer often speaks to two categories):
        # a kept wording stays; otherwise the weaker claim to the same words takes its next-best phrasing,
        # unless few of its people come close to that (then both categories print the same point).
        flat = [(f[2], state) for *_, found, current in pending for f, state in zip(found, current)]
        texts = distinct_statements([st.alternatives for st, _ in flat], [st.n for st, _ in flat],
                                    fixed=[state.statement for _, state in flat],
                                    fallback=[fallback_statement(st.keywords) for st, _ in flat])
        texts = _keep_own_wording(pending, texts, encode)
        for (st, state), text in zip(flat, texts):
            state.statement = text
        for cat, seg, emb, themer, found, current in pending:  # quotes that back the wording finally printed
            for (theme, idx, st, _), state in zip(found, current):
                if state.statement != st.text:
                    st.quotes = theme_quotes(theme_evidence(seg.iloc[idx]), emb[idx], encode([state.statement])[0])
        for cat, seg, emb, themer, found, current in pending:
            found_sorted = sorted(zip(found, current), key=lambda x: (-x[0][2].n, x[1].id))
            for rank, ((theme, idx, st, _), state) in enumerate(found_sorted, 1):
                members = seg.iloc[idx]
                agree = statement_agreement(encode([state.statement])[0], emb[idx],
                                            (members["source_file"] + "\x1f" + members["respondent_id"]).tolist())
                detail = st.as_dict() | {"theme_id": state.id, "text": state.statement, "method": themer.method_,
                                         "agreement": round(agree, 3)}
                theme_rows.append((tax.id, cat.code, state.id, rank, state.statement, st.n,
                                   json.dumps(detail, ensure_ascii=False), theme.centroid.astype(np.float32).tobytes()))
                member_rows.append(pd.DataFrame({
                    "taxonomy_id": tax.id, "code": cat.code, "theme_id": state.id,
                    "answer_id": seg["answer_id"].to_numpy()[idx], "seg_index": seg["seg_index"].to_numpy()[idx],
                    "centrality": (emb[idx] @ theme.centroid).astype(np.float64)}))
            for e in change_log(prev.get(cat.code, []), current):
                related = e.get("from_themes", e.get("to_themes"))
                change_rows.append((run_at, tax.id, cat.code, e["theme_id"], e["change"], e["statement"], e["n_before"],
                                    e["n_after"], e.get("statement_before"),
                                    json.dumps(related, ensure_ascii=False) if related else None))
        with transaction(encode.con) as con:
            con.execute("DELETE FROM themes WHERE taxonomy_id = ?", [tax.id])
            con.execute("DELETE FROM theme_members WHERE taxonomy_id = ?", [tax.id])
            if theme_rows:
                con.executemany("INSERT INTO themes (taxonomy_id, code, theme_id, rank, statement, n_people, detail, "
                                "centroid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", theme_rows)
            if member_rows:
                con.register("m", pd.concat(member_rows, ignore_index=True))
                con.execute("INSERT INTO theme_members SELECT * FROM m")
            if change_rows:
                con.executemany("INSERT INTO theme_changes (run_at, taxonomy_id, code, theme_id, change, statement, "
                                "n_before, n_after, statement_before, related) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                change_rows)
            con.execute("DELETE FROM theme_assignments WHERE taxonomy_id = ?", [tax.id])
            con.execute("DELETE FROM theme_fits WHERE taxonomy_id = ?", [tax.id])
            if assignment_rows:
                con.register("assigned", pd.concat(assignment_rows, ignore_index=True))
                con.execute("INSERT INTO theme_assignments SELECT * FROM assigned")
            if fits:
                con.executemany("INSERT INTO theme_fits VALUES (?, ?, ?, ?, ?, ?, ?, ?)", fits)
    return summary


@flow(name="engage-analyse")
def analyse_flow(home: str, taxonomy: str | None = None, seed: int = 0, refit_themes: bool = False) -> dict:
    """Classify what is new, then refresh every category's themes and statements (`refit_themes`:
    fit every category's topic model afresh, even where little changed)."""
    with stage("classify"):
        classified = classify_answers(home, taxonomy)
    with stage("themes"):
        themes = find_themes(home, taxonomy, seed, refit_themes)
    get_run_logger().info("classified %d of %d answers; themes: %s", classified["classified"], classified["answers"],
                          themes)
    return {"classified": classified, "themes": themes}
