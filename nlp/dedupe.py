"""Count each person's answer once when the same answers arrive in more than one export.

The same survey is often exported twice (a raw SmartSurvey export and a tidied or labelled copy).
An answer is matched across files on (source, question, normalised text). Occurrences are
matched as a multiset: if two people wrote "No comment" in both files, both stay, once each.
The copy kept is the one from the best-ranked file (the wide original export, which carries the
respondent's other answers and metadata).
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

import pandas as pd

_SPACE = re.compile(r"\s+")


def dedup_key(source: str, question_key: str, text: str) -> str:
    norm = _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()
    return hashlib.sha1(f"{source}\x1f{question_key}\x1f{norm}".encode()).hexdigest()


def cross_file_duplicates(answers: pd.DataFrame) -> pd.Series:
    """For columns answer_id, file_rank (lower is preferred), file_hash, dedup_key, row_order:
    the answer_id each answer duplicates, or None for answers that count."""
    dup = pd.Series([None] * len(answers), index=answers.index, dtype=object)
    if answers.empty:
        return dup
    # Only keys found in two or more files can be duplicates: the loop below is per key, so the
    # (usual) keys seen in one file only are dropped first, in one vectorised step.
    shared = answers.groupby("dedup_key")["file_hash"].transform("nunique") > 1
    df = answers[shared].sort_values(["file_rank", "file_hash", "row_order"])
    df = df.assign(occurrence=df.groupby(["file_hash", "dedup_key"]).cumcount())
    for _, group in df.groupby("dedup_key", sort=False):
        kept: list[str] = []  # answer ids that count, by occurrence number
        for _, rows in group.groupby(["file_rank", "file_hash"], sort=True):
            for idx, row in rows.iterrows():
                k = row["occurrence"]
                if k < len(kept):
                    dup.at[idx] = kept[k]
                else:
                    kept.append(row["answer_id"])
    return dup
