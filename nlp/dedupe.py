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

Two answers are never the same person's when their metadata says otherwise: where both files have a
column of the same name (a timestamp, an age band), its values must agree. Two new respondents of a
small third wave who wrote "Dentists" like someone in wave 1, at other times, are counted.

A re-export in which a question was renamed ("…priorities for the next 5 years?") matches no
answer of the first export on its question, and an export that overlaps the last one by a few days
is no copy by the rule above. Their respondents are matched whole instead (`renamed_copies`): the
same time of submission and the answers of one among the other's (in any question), or, without a
time, every answer and metadata value the same, at least RENAMED_MIN_CHARS characters of answers.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import datetime

import pandas as pd

_SPACE = re.compile(r"\s+")
COPY_SHARE = 0.5
RENAMED_MIN_CHARS = 60


def _norm(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip().casefold()


def dedup_key(source: str, question_key: str, text: str) -> str:
    return hashlib.sha1(f"{source}\x1f{question_key}\x1f{_norm(text)}".encode()).hexdigest()


def _meta(metadata: object) -> dict[str, str]:
    """An answer's metadata, keys and values normalised so a re-typed date still agrees with itself."""
    if not isinstance(metadata, str) or not metadata.strip():
        return {}
    try:
        raw = json.loads(metadata)
    except ValueError:
        return {}
    out = {}
    for k, v in (raw or {}).items():
        v = _norm(v)
        if v and "[" not in v:  # a placeholder ("[EMAIL]") says nothing about who it was
            out[_norm(k)] = _as_date(v) or v
    return out


def _as_date(value: str) -> str | None:
    for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dt%H:%M:%S", "%Y/%m/%d %H:%M:%S",
                "%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).isoformat()
        except ValueError:
            continue
    return None


def _conflict(a: dict[str, str], b: dict[str, str]) -> bool:
    """Metadata that says two answers are different people's: a column both have, with other values."""
    return any(a[k] != b[k] for k in a.keys() & b.keys())


def cross_file_duplicates(answers: pd.DataFrame) -> pd.Series:
    """For columns answer_id, file_rank (lower is preferred; then the earlier ingested_at, if given),
    file_hash, dedup_key, row_order (and source, if the files mix sources; metadata, JSON, to tell
    people apart; respondent_id and text, to match re-exports whose questions were renamed): the
    answer_id each answer duplicates, or None for answers that count."""
    dup = pd.Series([None] * len(answers), index=answers.index, dtype=object)
    if answers.empty:
        return dup
    # Only keys found in two or more files can be duplicates: the loop below is per key, so the
    # (usual) keys seen in one file only are dropped first, in one vectorised step.
    shared = answers.groupby("dedup_key")["file_hash"].transform("nunique") > 1
    copies = copy_files(answers, shared)
    # Of files ranked alike, the one read first is the original (`ingested_at`, when given).
    first = ["ingested_at"] if "ingested_at" in answers else []
    df = answers[shared].sort_values(["dedup_key", "file_rank", *first, "file_hash", "row_order"], kind="stable")
    source = df["source"] if "source" in df else pd.Series("", index=df.index)  # part of the key
    meta = (df["metadata"] if "metadata" in df else pd.Series("", index=df.index)).map(_meta)
    rows = zip(df.index, df["dedup_key"], df["file_rank"], df["file_hash"], df["answer_id"], source, meta)
    for _, group in itertools.groupby(rows, key=lambda r: r[1]):
        kept: list[tuple[str, str, dict]] = []  # (answer id, file, metadata) of the answers that count
        for (_, file), in_file in itertools.groupby(group, key=lambda r: (r[2], r[3])):
            in_file = list(in_file)
            src = in_file[0][5]
            # The k-th "No comment" here is the k-th one that counts in the files this one copies,
            # skipping any whose metadata says it is someone else's.
            same = [(a, m) for a, f, m in kept if (f, src) in copies or (file, src) in copies]
            for idx, _, _, _, answer_id, _, m in in_file:
                match = next((k for k, (_, other) in enumerate(same) if not _conflict(m, other)), None)
                if match is not None:
                    dup.at[idx] = same.pop(match)[0]
                else:
                    kept.append((answer_id, file, m))
    if {"respondent_id", "text"} <= set(answers.columns):
        dup = renamed_copies(answers, dup)
    return dup


def renamed_copies(answers: pd.DataFrame, dup: pd.Series) -> pd.Series:
    """Respondents of one file who are a respondent of another file ranked as high or higher: a
    re-export with a renamed question, or an export overlapping the last one by a few days. With a
    time of submission, the same time and every answer of one among the other's, whatever the
    questions are called (a column read as a question in one export may be kept as metadata in the
    next); without one, every answer and metadata value the same, at least RENAMED_MIN_CHARS
    characters of answers. Their answers still counted duplicate that respondent's; `dup` is
    returned updated."""
    dup = dup.copy()
    if answers["file_hash"].nunique() < 2:
        return dup
    source = answers["source"] if "source" in answers else pd.Series("", index=answers.index)
    meta = answers["metadata"] if "metadata" in answers else pd.Series("", index=answers.index)
    read_at = answers["ingested_at"].astype(str) if "ingested_at" in answers else pd.Series("", index=answers.index)
    people: dict[tuple, list] = {}
    for idx, file, rank, at, resp, src, text, m in zip(answers.index, answers["file_hash"], answers["file_rank"],
                                                       read_at, answers["respondent_id"], source, answers["text"], meta):
        people.setdefault((rank, at, file, str(resp), src), []).append((idx, _norm(text), m))
    originals: dict[tuple, list] = defaultdict(list)
    for (_, _, file, _, src), rows in sorted(people.items(), key=lambda p: p[0][:4]):
        texts = Counter(t for _, t, _ in rows if t)
        values = sorted(set(_meta(rows[0][2]).values()))
        times = tuple(v for v in values if _TIMESTAMP.match(v))
        if not texts or not (times or sum(len(t) * n for t, n in texts.items()) >= RENAMED_MIN_CHARS):
            continue
        key = (src, times) if times else (src, tuple(sorted(texts.elements())), tuple(values))
        same = originals[key]
        match = next((k for k, (f, other, _) in enumerate(same)
                      if f != file and (not times or _within(texts, other) or _within(other, texts))), None)
        if match is None:
            if all(dup.at[idx] is None for idx, _, _ in rows):
                same.append((file, texts, rows))
            continue
        pool = defaultdict(list)
        for idx, t, _ in same.pop(match)[2]:
            pool[t].append(answers.at[idx, "answer_id"])
        for idx, t, _ in rows:
            if dup.at[idx] is None and pool[t]:
                dup.at[idx] = pool[t].pop(0)
    return dup


def _within(a: Counter, b: Counter) -> bool:
    """Every answer of `a` is among `b`'s (as many times)."""
    return all(b[t] >= n for t, n in a.items())


# A time of submission (not a date alone): two people rarely submit in the same second.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT(?!00:00:00$)")


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
