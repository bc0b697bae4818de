"""Count each person's answer once when the same answers arrive in more than one export.

The same survey is often exported twice (a raw SmartSurvey export and a tidied or labelled copy).
An answer is matched across files on (source, question, normalised text). Occurrences are
matched as a multiset: if two people wrote "No comment" in both files, both stay, once each.
The copy kept is the one from the best-ranked file (the wide original export, which carries the
respondent's other answers and metadata).

Two files are taken for copies of one survey only when at least half of the smaller one's distinct
answers are also in the other (`COPY_SHARE`): a second wave or another survey shares at most a few
short answers ("Thanks for asking.") with the first, and those are different people's words.
"""
from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata

import pandas as pd

_SPACE = re.compile(r"\s+")
COPY_SHARE = 0.5


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
    copies = copy_pairs(answers, shared)
    df = answers[shared].sort_values(["file_rank", "file_hash", "row_order"])
    df = df.assign(occurrence=df.groupby(["file_hash", "dedup_key"]).cumcount())
    for _, group in df.groupby("dedup_key", sort=False):
        kept: list[tuple[str, str]] = []  # (answer id, file) of the answers that count
        for (_, file), rows in group.groupby(["file_rank", "file_hash"], sort=True):
            # The k-th "No comment" here is the k-th one that counts in the files this one copies.
            same = [a for a, f in kept if frozenset((f, file)) in copies]
            for idx, row in rows.iterrows():
                k = row["occurrence"]
                if k < len(same):
                    dup.at[idx] = same[k]
                else:
                    kept.append((row["answer_id"], file))
    return dup


def copy_pairs(answers: pd.DataFrame, shared: pd.Series) -> set[frozenset]:
    """Pairs of files where at least COPY_SHARE of the smaller file's distinct answers are in both."""
    distinct = answers.groupby("file_hash")["dedup_key"].nunique()
    common: dict[frozenset, int] = {}
    for files in answers[shared].groupby("dedup_key")["file_hash"].unique():
        for pair in itertools.combinations(sorted(files), 2):
            common[frozenset(pair)] = common.get(frozenset(pair), 0) + 1
    return {pair for pair, n in common.items() if n >= COPY_SHARE * min(distinct[f] for f in pair)}
