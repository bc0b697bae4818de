"""Turn one category's themes into "they said" statements with counted, quotable evidence.

A statement is a short clause taken from the theme's own words (the clause closest in meaning to
the theme's centre that also carries its distinctive keywords), put in the strategy's collective
voice ("I" becomes "we"). Being extractive means it never says anything nobody said.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from nlp.attribution import attribution, facets

Encoder = Callable[[Sequence[str]], np.ndarray]

_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+[-–—]\s+|\s*\(\s*|\s*\)\s*|,\s+(?=but\b|and then\b|so\b|because\b)|\n+")
_LEADING_FILLER = re.compile(
    r"^(?:and|but|so|also|plus|then|just|please|ok|okay|well|oh|i think|i feel|i believe|i guess|"
    r"in my opinion|personally|for me|to me|honestly|basically|overall|definitely|otherwise|"
    r"it would be (?:good|nice|great) (?:if|to)|i would like to see|i'?d like to see|would like to see|"
    r"what matters (?:most )?(?:to me )?is|the most important thing is|most important(?:ly)?)[\s,:]+",
    re.IGNORECASE)
_VOICE = [  # first person singular to the strategy's plural voice
    (r"\bI'm\b", "we're"), (r"\bIm\b", "we're"), (r"\bI am\b", "we are"), (r"\bI was\b", "we were"),
    (r"\bI've\b", "we've"), (r"\bI'd\b", "we'd"), (r"\bI'll\b", "we'll"), (r"\bI\b", "we"), (r"\bi\b", "we"),
    (r"\bmy\b", "our"), (r"\bMy\b", "Our"), (r"\bme\b", "us"), (r"\bmyself\b", "ourselves"), (r"\bmine\b", "ours"),
]
_WORD = re.compile(r"[A-Za-z0-9£&'’]+")
# A strategy's "they said" box holds asks and priorities, not anecdotes: clauses that read as a
# suggestion are preferred, clauses that narrate one person's episode are held back.
_SUGGESTION = re.compile(
    r"^(?:more|better|less|fewer|faster|quicker|keep|stop|start|invest|make|give|bring|sort|get|use|"
    r"listen|train|pay|recruit|support|fund|provide|improve|increase|reduce|cut|end|let|put|treat|"
    r"help|join|share|open|build|work|plan|focus|involve|ask|tell|value|look|offer|ensure|create|"
    r"free|proper|local|easier|shorter|joined|care|access|somewhere|someone|services)\b"
    r"|\b(?:need(?:s)? to|should|must|want(?:s)? to|have to|has to|ought to)\b", re.IGNORECASE)
_NARRATIVE = re.compile(
    r"\b(?:was|were|had|got|told|said|asked|waited|went|took|came|did|rang|phoned|saw|died|"
    r"yesterday|last (?:week|month|year)|ago|husband|wife|mum|dad|son|daughter|mother|father)\b",
    re.IGNORECASE)
MIN_WORDS, MAX_WORDS = 4, 15
QUOTE_MAX_WORDS = 45


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def to_collective_voice(text: str) -> str:
    for pat, rep in _VOICE:
        text = re.sub(pat, rep, text)
    return text


def clean_clause(text: str) -> str:
    """Strip fillers and trailing punctuation, fix the voice, capitalise: a printable phrase."""
    t = " ".join(text.split()).strip(" ,;:-–—\"'“”‘’")
    prev = None
    while prev != t:
        prev, t = t, _LEADING_FILLER.sub("", t).strip(" ,;:-\"'“”")
    t = re.sub(r"[.!?,;:]+$", "", t).strip()
    t = re.sub(r"([!?])\1+", r"\1", t)
    t = to_collective_voice(t)
    return t[:1].upper() + t[1:] if t else t


def candidate_clauses(segment: str) -> list[str]:
    """Clauses of a segment that could stand alone as a statement."""
    out = []
    for part in _CLAUSE_SPLIT.split(segment):
        c = clean_clause(part or "")
        n = len(words(c))
        if MIN_WORDS <= n <= MAX_WORDS and "[" not in c and "]" not in c and not c.endswith("?"):
            out.append(c)
    return out


def _keyword_cover(text: str, keywords: Sequence[str]) -> float:
    low = text.casefold()
    hits = sum(1 for k in keywords[:6] if re.search(rf"\b{re.escape(k.casefold())}", low))
    return hits / max(1, min(6, len(keywords)))


def make_statement(segments: Sequence[str], seg_emb: np.ndarray, centroid: np.ndarray,
                   keywords: Sequence[str], encode: Encoder, pool: int = 25) -> str:
    """The clause closest to the theme's centre and richest in its keywords, 4–15 words."""
    central = np.argsort(-(seg_emb @ centroid))[:pool]
    clauses = sorted({c for i in central for c in candidate_clauses(segments[i])})
    if clauses:
        ce = encode(clauses)
        sim = ce @ centroid
        cover = np.array([_keyword_cover(c, keywords) for c in clauses])
        length = np.array([len(words(c)) for c in clauses])
        style = np.array([0.1 * bool(_SUGGESTION.search(c)) - 0.08 * min(2, len(_NARRATIVE.findall(c)))
                          - 0.04 * bool(re.search(r"\d", c)) for c in clauses])
        score = sim + 0.35 * cover + style - 0.01 * np.maximum(0, length - 10)
        return clauses[int(np.argmax(score))]
    if keywords:  # nothing printable to extract: say plainly what the theme is about
        return clean_clause(f"Concerns and ideas about {' and '.join(keywords[:2])}")
    return "Other points raised"


def trim_quote(text: str, max_words: int = QUOTE_MAX_WORDS) -> str:
    """Short enough to print: whole sentences up to the limit, marking any cut with an ellipsis."""
    text = " ".join(text.split())
    if len(text.split()) <= max_words:
        return text
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept: list[str] = []
    for s in sentences:
        if len(" ".join(kept + [s]).split()) > max_words:
            break
        kept.append(s)
    if not kept:
        return " ".join(text.split()[:max_words]).rstrip(",;:") + " …"
    return " ".join(kept) + " …"


def select_quotes(texts: Sequence[str], emb: np.ndarray, centroid: np.ndarray, persons: Sequence[str],
                  n: int = 3, diversity: float = 0.35) -> list[int]:
    """Typical but different quotes (maximal marginal relevance), one per person, fewest placeholders."""
    n_words = np.array([len(t.split()) for t in texts])
    # Typical, but a quote must also say something: very short answers ("Health and housing.") and
    # ones that are mostly placeholders are held back, as are rambling ones.
    rel = emb @ centroid - 0.15 * np.array(["[" in t for t in texts]) \
        - 0.02 * np.maximum(0, 8 - n_words) - 0.002 * np.maximum(0, n_words - 30)
    chosen: list[int] = []
    seen: set[str] = set()
    for _ in range(min(n, len(texts))):
        best, best_score = -1, -np.inf
        for i in range(len(texts)):
            if i in chosen or persons[i] in seen or len(texts[i].split()) < 3:
                continue
            red = max((float(emb[i] @ emb[j]) for j in chosen), default=0.0)
            if red > 0.92:  # a near-duplicate of a quote already chosen
                continue
            s = (1 - diversity) * rel[i] - diversity * red
            if s > best_score:
                best, best_score = i, s
        if best < 0:
            break
        chosen.append(best)
        seen.add(persons[best])
    return chosen


@dataclass
class Statement:
    theme_id: int
    text: str
    keywords: list[str]
    n: int
    by_source: dict[str, int]
    quotes: list[dict]
    answers: list[dict]
    n_segments: int
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"theme_id": self.theme_id, "text": self.text, "n": self.n, "by_source": self.by_source,
                "keywords": self.keywords, "quotes": self.quotes, "answers": self.answers,
                "n_segments": self.n_segments, **self.extra}


def summarise_theme(theme_id: int, seg: pd.DataFrame, emb: np.ndarray, keywords: Sequence[str],
                    encode: Encoder, n_quotes: int = 3) -> Statement:
    """One statement with its evidence. `seg` has columns text, source, source_file,
    respondent_id, question (one row per segment of the theme), aligned with `emb`."""
    centroid = emb.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    texts = seg["text"].tolist()
    persons = (seg["source_file"] + "\x1f" + seg["respondent_id"]).tolist()
    statement = make_statement(texts, emb, centroid, keywords, encode)
    q_idx = select_quotes(texts, emb, centroid, persons, n=n_quotes)
    meta = seg["metadata"] if "metadata" in seg else pd.Series(["{}"] * len(seg), index=seg.index)
    quotes = [{"text": trim_quote(texts[i]), "source": seg["source"].iat[i],
               "source_file": seg["source_file"].iat[i], "respondent_id": seg["respondent_id"].iat[i],
               "attribution": attribution(seg["source"].iat[i], meta.iat[i])}
              for i in q_idx]
    people = seg.assign(_facets=[facets(m) for m in meta]).drop_duplicates(["source_file", "respondent_id"])
    by_source = {str(k): int(v) for k, v in people["source"].value_counts().sort_index().items()}
    extra = {}
    for facet in ("locality", "age_band"):
        values = [f[facet] for f in people["_facets"] if facet in f]
        if values:
            extra[f"by_{facet}"] = dict(sorted(pd.Series(values).value_counts().to_dict().items()))
    if "sentiment" in seg:
        extra["by_sentiment"] = {str(k): int(v) for k, v in people["sentiment"].value_counts().sort_index().items()}
    answers = (seg[["source_file", "respondent_id", "question"]].drop_duplicates()
               .sort_values(["source_file", "respondent_id", "question"]).to_dict("records"))
    return Statement(theme_id=theme_id, text=statement, keywords=list(keywords), n=len(people),
                     by_source=by_source, quotes=quotes, answers=answers, n_segments=len(seg), extra=extra)
