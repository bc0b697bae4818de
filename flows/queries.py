"""Read-only views of the last complete run, for export and quotes."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from flows.settings import Workspace, min_group_size, resolve_taxonomy
from flows.store import cached_embeddings, connect, question_scope, reader_path, require_classified
from nlp.attribution import Disclosure, attribution, facets
from nlp.embed import MODEL_VERSION, embed
from nlp.preprocess import may_not_be_english
from nlp.redact import PII_TYPES
from nlp.summarise import distressing, same_text


def has_table(con, name: str) -> bool:
    """Snapshots written before a table existed do not have it."""
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])


def disclosure(con) -> Disclosure:
    """Who may be named how in a printed attribution, counted over every person the reports count."""
    people = con.execute("SELECT any_value(source), any_value(metadata) FROM answers WHERE duplicate_of IS NULL "
                         "GROUP BY source_file, respondent_id").fetchall()
    return Disclosure(min_group_size()).fit(people)


def responses_table(ws: Workspace, taxonomy: str | None) -> pd.DataFrame:
    """One row per counted answer: identity, redacted text, labels (a person's where someone labelled it,
    else the classifier's), a score per category, themes, and the answer's sentiment when the labelled
    data trained a sentiment model."""
    tax = resolve_taxonomy(taxonomy, ws.home)
    with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
        require_classified(con, tax.id)
        scope, args = question_scope(con, tax)
        ans = con.execute("SELECT answer_id, source_file, respondent_id, question, source, text FROM answers "
                          f"WHERE duplicate_of IS NULL AND {scope} ORDER BY source_file, row_order", args).df()
        pred = con.execute("SELECT answer_id, code, score, assigned FROM predictions WHERE taxonomy_id = ?",
                           [tax.id]).df()
        themes = con.execute("SELECT DISTINCT m.answer_id, m.theme_id, t.statement FROM theme_members m "
                             "JOIN themes t USING (taxonomy_id, code, theme_id) WHERE m.taxonomy_id = ? "
                             "ORDER BY m.theme_id", [tax.id]).df()
        sentiment = (con.execute("SELECT answer_id, sentiment FROM sentiments WHERE seg_index = -1").df()
                     if has_table(con, "sentiments") else pd.DataFrame(columns=["answer_id", "sentiment"]))
        coded = set(con.execute("SELECT answer_id FROM coder_labels WHERE taxonomy_id = ?", [tax.id]).df()["answer_id"]
                    if has_table(con, "coder_labels") else [])
    if pred.empty:
        raise FileNotFoundError(f"no classifications for taxonomy {tax.id} yet: run `engage run --taxonomy {tax.id}`")
    scores = pred.pivot(index="answer_id", columns="code", values="score").reindex(columns=tax.codes)
    scores.columns = [f"score_{c}" for c in scores.columns]
    order = {c: i for i, c in enumerate(tax.codes)}
    labels = (pred[pred["assigned"]].assign(o=lambda d: d["code"].map(order)).sort_values("o")
              .groupby("answer_id")["code"].agg(";".join).rename("labels"))
    theme = themes.groupby("answer_id").agg(theme=("theme_id", ";".join),
                                            theme_statement=("statement", " | ".join))
    out = (ans.join(labels, on="answer_id").join(scores.round(4), on="answer_id").join(theme, on="answer_id")
           .join(sentiment.set_index("answer_id")["sentiment"], on="answer_id"))
    out[["labels", "theme", "theme_statement", "sentiment"]] = out[["labels", "theme", "theme_statement",
                                                                    "sentiment"]].fillna("")
    out["may_not_be_english"] = out["text"].map(may_not_be_english)
    # Whose labels these are: a person's (the answer, or one with the same words, was labelled) or the classifier's.
    out["labels_from"] = np.where(out["answer_id"].isin(coded), "person", "classifier")
    cols = ["source_file", "respondent_id", "question", "source", "text", "labels", "sentiment", *scores.columns, "theme",
            "theme_statement", "may_not_be_english", "labels_from"]
    return out[cols]


def _first_distinct(df: pd.DataFrame, n: int) -> pd.DataFrame:
    """The first `n` rows whose quote is not one before it typed again with a slip ("therea re never
    any spaces" after "there are never any spaces"), or its words inside a longer one ("Baby weigh
    clinics were cut." and "Baby weigh clinics were cut. Please bring them back.")."""
    kept: list = []
    texts: list[tuple[str, str]] = []  # (quote, " its words ")
    for i, text in zip(df.index, df["quote"]):
        if len(kept) == n:
            break
        words = " " + " ".join(_WORDS.findall(text.casefold())) + " "
        if not any(same_text(text, t) or _inside(words, w) or _inside(w, words) for t, w in texts):
            kept.append(i)
            texts.append((text, words))
    return df.loc[kept]


_WORDS = re.compile(r"\w+")


def _inside(short: str, long: str) -> bool:
    """The words of one quote (four or more) inside another's."""
    return len(short.split()) >= 4 and short in long


def quotes_table(ws: Workspace, taxonomy: str | None, code: str | None = None, source: str | None = None,
                 n: int = 10, theme: str | None = None, locality: str | None = None, about: str | None = None,
                 sentiment: str | None = None, with_redacted: bool = False) -> pd.DataFrame:
    """Quotes for authors: the most typical segment of each theme in turn (round-robin over themes,
    one per person and wording), or, with `about`, the segments closest in meaning to that phrase
    (of every segment in a category, with no theme_id/statement for one in no theme).
    Quotes with a redaction placeholder are left out unless `with_redacted`: "My son [NAME] took his
    own life …" still points to someone."""
    tax = resolve_taxonomy(taxonomy, ws.home)
    if code and tax.category(code).is_other:
        raise ValueError(f"{code} is the catch-all for answers that say nothing about health and care: it has "
                         "no themes, so no quotes; `engage export responses` lists its answers")
    with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
        require_classified(con, tax.id)
        has_sentiment = has_table(con, "sentiments")
        if sentiment and not (has_sentiment and con.execute("SELECT count(*) FROM sentiments").fetchone()[0]):
            raise FileNotFoundError("no answer has a tone yet: a sentiment model is trained from labelled answers "
                                    "with a sentiment column (negative, neutral, positive or mixed), added with "
                                    "`engage train --labels FILE.csv`; then `engage run`")
        # A search by meaning looks at every segment of a category, also those close to none of its
        # themes (theme_assignments, theme_id NULL); otherwise quotes come from the themes' members.
        base = ("theme_assignments m LEFT JOIN themes t USING (taxonomy_id, code, theme_id)" if about
                else "theme_members m JOIN themes t USING (taxonomy_id, code, theme_id)")
        df = con.execute(f"""
            SELECT m.code, t.rank, t.theme_id, t.statement, s.text AS quote, s.text_hash, a.source, a.source_file,
                   a.respondent_id, a.metadata, {"NULL" if about else "m.centrality"} AS centrality,
                   {"se.sentiment" if has_sentiment else "NULL"} AS sentiment
            FROM {base}
            JOIN segments s ON s.answer_id = m.answer_id AND s.seg_index = m.seg_index
            JOIN answers a ON a.answer_id = m.answer_id
            {"LEFT JOIN sentiments se ON se.answer_id = m.answer_id AND se.seg_index = m.seg_index" if has_sentiment else ""}
            WHERE m.taxonomy_id = ? AND (? IS NULL OR m.code = ?) AND (? IS NULL OR a.source = ?)
              AND (? IS NULL OR t.theme_id = ?)
            ORDER BY m.code, t.rank, centrality DESC""",
                         [tax.id, code, code, source, source, theme, theme]).df()
        if theme and df.empty:
            known = [r[0] for r in con.execute("SELECT theme_id FROM themes WHERE taxonomy_id = ? ORDER BY code, rank",
                                               [tax.id]).fetchall()]
            if theme not in known:
                raise ValueError(f"there is no theme {theme!r}; the report's themes are "
                                 + (", ".join(known) if known else "none yet (run `engage run` first)"))
        if about and not df.empty:
            vecs = cached_embeddings(con, df["text_hash"].tolist(), MODEL_VERSION)
        people = disclosure(con)
    if df.empty:
        return df
    df["attribution"] = [attribution(s, m, people) for s, m in zip(df["source"], df["metadata"])]
    df["quote"] = df["quote"].str.rstrip(" ;,")
    if not with_redacted:
        df = df[~df["quote"].str.contains(r"\[(?:" + "|".join(PII_TYPES) + r")\]", regex=True)]
    # The same words from several people are one quote (the first person's), whichever filter applies.
    df = df[~df["quote"].str.casefold().str.split().str.join(" ").duplicated()]
    if locality:
        df = df[[facets(m).get("locality", "").casefold() == locality.casefold() for m in df["metadata"]]]
    if sentiment:
        df = df[df["sentiment"] == sentiment]
    if about and not df.empty:
        q = embed([about])[0]
        df = df.assign(relevance=[float(vecs[h] @ q) if h in vecs else -1.0 for h in df["text_hash"]])
        df = df.sort_values("relevance", ascending=False).drop_duplicates(["source_file", "respondent_id"])
        df = _first_distinct(df[df["relevance"] > 0.3], n)
    else:
        df = df.drop_duplicates(["source_file", "respondent_id"])
        df["turn"] = df.groupby(["code", "rank"]).cumcount()
        df = _first_distinct(df.sort_values(["turn", "code", "rank"]), n)
    df = df.assign(distressing=df["quote"].map(distressing).astype(bool))
    return df[["quote", "attribution", "source", "source_file", "respondent_id", "code", "theme_id", "statement",
               "sentiment", "distressing"]].reset_index(drop=True)
