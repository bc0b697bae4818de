"""Count each person's answer once when the same answers arrive in more than one export.

The same survey is often exported twice (a raw SmartSurvey export and a tidied or labelled copy).
An answer is matched across files on (source, question, normalised text). Occurrences are
matched as a multiset: if two people wrote "No comment" in both files, both stay, once each.
The copy kept is the one from the best-ranked file (the wide original export, which carries the
respondent's other answers and metadata).

Answers are matched between two files only when one of them is a copy: at least half of its
distinct answers (of that source) are also in files ranked as high or higher (`COPY_SHARE`), as a
tidied or coded copy of one or more waves is. A second wave or another survey shares at most a
few short answers ("Thanks for asking.") with the first, and those are different people's words.
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
    """For columns answer_id, file_rank (lower is preferred), file_hash, dedup_key, row_order (and
    source, if the files mix sources): the answer_id each answer duplicates, or None for answers
    that count."""
    dup = pd.Series([None] * len(answers), index=answers.index, dtype=object)
    if answers.empty:
        return dup
    # Only keys found in two or more files can be duplicates: the loop below is per key, so the
    # (usual) keys seen in one file only are dropped first, in one vectorised step.
    shared = answers.groupby("dedup_key")["file_hash"].transform("nunique") > 1
    copies = copy_files(answers, shared)
    df = answers[shared].sort_values(["dedup_key", "file_rank", "file_hash", "row_order"], kind="stable")
    source = df["source"] if "source" in df else pd.Series("", index=df.index)  # part of the key
    rows = zip(df.index, df["dedup_key"], df["file_rank"], df["file_hash"], df["answer_id"], source)
    for _, group in itertools.groupby(rows, key=lambda r: r[1]):
        kept: list[tuple[str, str]] = []  # (answer id, file) of the answers that count
        for (_, file), in_file in itertools.groupby(group, key=lambda r: (r[2], r[3])):
            in_file = list(in_file)
            src = in_file[0][5]
            # The k-th "No comment" here is the k-th one that counts in the files this one copies.
            same = [a for a, f in kept if (f, src) in copies or (file, src) in copies]
            for k, (idx, _, _, _, answer_id, _) in enumerate(in_file):
                if k < len(same):
                    dup.at[idx] = same[k]
                else:
                    kept.append((answer_id, file))
    return dup


def copy_files(answers: pd.DataFrame, shared: pd.Series) -> set[tuple[str, str]]:
    """(file, source) parts at least COPY_SHARE of whose distinct answers are also in another file
    ranked as high or higher. By source, so a labelled file holding a copy of the public answers
    beside staff answers found nowhere else still counts as a copy for its public answers; ranked,
    so an original export is not a copy because a coded copy repeats some of its answers."""
    cols = answers.assign(source=answers["source"] if "source" in answers else "")
    distinct = cols.groupby(["file_hash", "source"])["dedup_key"].nunique()
    held = cols.loc[shared, ["dedup_key", "file_hash", "source", "file_rank"]]
    held = held.drop_duplicates(["dedup_key", "file_hash"])
    # How many files holding the key rank as high as this one or higher, this one included.
    as_high = held.groupby("dedup_key")["file_rank"].rank(method="max")
    found = held[as_high > 1].groupby(["file_hash", "source"])["dedup_key"].nunique()
    return {part for part, n in found.items() if n >= COPY_SHARE * distinct[part]}
