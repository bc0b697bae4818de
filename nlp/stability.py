"""Keep themes stable across nightly runs.

A topic model refitted on tomorrow's data numbers its topics afresh, so without matching every
statement would get a new id and possibly new wording each night, and authors could not tell what
actually changed. A new theme inherits an old theme's id when their centres are close; it also
keeps the old statement unless its membership changed materially.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ThemeState:
    """A theme as stored after a run (previous) or as just found (new; id and statement optional).
    `members` are its segments ('answer#segment' keys)."""
    centroid: np.ndarray
    members: frozenset[str]
    n_people: int
    id: str | None = None
    statement: str | None = None


@dataclass(frozen=True)
class Match:
    new_index: int
    previous_id: str | None
    keep_statement: bool


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def match_themes(previous: list[ThemeState], new: list[ThemeState], min_similarity: float = 0.8,
                 keep_statement_overlap: float = 0.5) -> list[Match]:
    """Greedy one-to-one matching, best pairs first. A new theme is an old one when their centres
    are close, or when they share most of their answers: a refit can move a theme's centre (a few
    new answers pull it, its neighbour's edge moves) while it is still what the same people said."""
    pairs = []
    for i, n in enumerate(new):
        for j, p in enumerate(previous):
            sim = float(n.centroid @ p.centroid / ((np.linalg.norm(n.centroid) * np.linalg.norm(p.centroid)) or 1.0))
            overlap = jaccard(n.members, p.members)
            if sim >= min_similarity or overlap >= keep_statement_overlap:
                pairs.append((sim + overlap, i, j, overlap))
    taken_new, taken_prev, matches = set(), set(), {}
    for _, i, j, overlap in sorted(pairs, reverse=True):
        if i in taken_new or j in taken_prev:
            continue
        taken_new.add(i)
        taken_prev.add(j)
        matches[i] = Match(i, previous[j].id, overlap >= keep_statement_overlap)
    return [matches.get(i, Match(i, None, False)) for i in range(len(new))]


def where_members_are(members: frozenset, themes: list[ThemeState], min_share: float = 0.25) -> list[dict]:
    """The themes holding at least `min_share` of these answers, largest share first: where a new
    theme's answers were last run, or where a vanished theme's answers are now."""
    if not members:
        return []
    shares = [(len(members & t.members) / len(members), t) for t in themes]
    return [{"theme_id": t.id, "statement": t.statement, "share": round(share, 2)}
            for share, t in sorted(shares, key=lambda x: (-x[0], str(x[1].id))) if share >= min_share]


def change_log(previous: list[ThemeState], current: list[ThemeState], material: float = 0.2) -> list[dict]:
    """What changed since the last run: new, grown, shrunk, reworded, vanished (and unchanged).
    A new theme says where most of its answers were (`from_themes`: a split, or themes merged) and a
    vanished one where its answers went (`to_themes`), so "new" and "vanished" are not read as
    people starting or stopping to say something when the same words were only regrouped."""
    before = {p.id: p for p in previous}
    events = []
    for c in current:
        p = before.pop(c.id, None)
        if p is None:
            change = "new"
        elif c.n_people >= p.n_people * (1 + material) and c.n_people - p.n_people >= 2:
            change = "grown"
        elif c.n_people <= p.n_people * (1 - material) and p.n_people - c.n_people >= 2:
            change = "shrunk"
        elif c.statement != p.statement:
            change = "reworded"
        else:
            change = "unchanged"
        events.append({"theme_id": c.id, "change": change, "statement": c.statement,
                       "n_before": p.n_people if p else 0, "n_after": c.n_people,
                       **({"statement_before": p.statement} if p and p.statement != c.statement else {}),
                       **({"from_themes": where_members_are(c.members, previous)} if p is None else {})})
    for p in before.values():
        events.append({"theme_id": p.id, "change": "vanished", "statement": p.statement,
                       "n_before": p.n_people, "n_after": 0, "to_themes": where_members_are(p.members, current)})
    return events
