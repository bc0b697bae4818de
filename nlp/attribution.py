"""Who said it, in the words a strategy prints: "member of the public, CA28, 65–74".

The label says who spoke, not which survey they answered: a professional who answered the public
survey (placed as staff by its "Which best describes you?" column) is a staff member, and youth
post-its or a focus group read as public are members of the public, not a "public survey".

Exports name their metadata columns differently ("Q3. Age group", "Age band", "Postcode district",
"Locality"), so the facets are recognised from the column name and the shape of the value.

A printed attribution must not single a person out: "member of the public, Alston, Under 18" may be one
teenager the whole village knows. `Disclosure` counts the people who share each source, locality
and age band, and an attribution names a locality or an age band only when at least
`min_group_size` people of that source share what it names (config/disclosure.yaml, read by
flows.settings.min_group_size; 5 by default, the small-number rule NHS statistics publish by). The
age band goes first, then the locality.
"""
from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import Iterable, Mapping

SOURCE_LABELS = {"public": "member of the public", "staff": "staff member", "healthwatch": "Healthwatch",
                 "partner": "partner organisation"}
_AGE_KEY = re.compile(r"\bage\b", re.IGNORECASE)
_AGE_VALUE = re.compile(r"^\s*(?:under\s*\d+|\d{1,2}\s*(?:-|–|to)\s*\d{1,2}|\d{1,2}\s*\+|\d{1,2}\s*(?:and|or)\s*over)\s*$",
                        re.IGNORECASE)
_PLACE_KEY = re.compile(r"postcode|district|localit|\barea\b|\btown\b|\bward\b|neighbourhood|venue|\bevent\b|location",
                        re.IGNORECASE)
# A map position ("Location Latitude": 53.8041) or a count is no place a reader would know.
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
# A postcode district, alone or with the sector digit some forms ask for ("CA14 3"): the district.
_DISTRICT = re.compile(r"^\s*([A-Z]{1,2}\d[A-Z\d]?)(?:\s+\d)?\s*$", re.IGNORECASE)
# Answers to a "where do you live" or "age" question that say nothing about it.
_NOT_SAID = frozenset({"prefer not to say", "rather not say", "prefer not to answer", "n/a", "na", "none",
                       "unknown", "dont know", "do not know", "not sure", "-", "?", "x"})


def facets(metadata: Mapping[str, str] | str | None) -> dict[str, str]:
    """Age band and locality from an answer's metadata, where the export has them."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata or "{}")
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        v = " ".join(str(value).split())
        if not v or "[" in v or re.sub(r"['’.!]", "", v.casefold()) in _NOT_SAID:
            continue
        if "age_band" not in out and _AGE_KEY.search(key) and _AGE_VALUE.match(v):
            out["age_band"] = re.sub(r"\s*(?:-|to)\s*", "–", v)
        elif "locality" not in out and _PLACE_KEY.search(key) and len(v) <= 40 and not _NUMBER.match(v):
            m = _DISTRICT.match(v)
            # One place, however it was typed: "carlisle" and "CARLISLE" are "Carlisle".
            out["locality"] = m.group(1).upper() if m else (string.capwords(v) if v.islower() or v.isupper() else v)
    return out


class Disclosure:
    """Counts of people by source, locality and age band; `safe(source, facets)` keeps only the facets
    that leave the person among at least `min_group_size` people of their source."""

    def __init__(self, min_group_size: int = 5):
        self.min_group_size = min_group_size

    @staticmethod
    def _keys(source: str, f: Mapping[str, str]) -> list[tuple]:
        loc, age = f.get("locality"), f.get("age_band")
        return [(source, loc, age), (source, loc, None), (source, None, age)]

    def fit(self, people: Iterable[tuple[str, Mapping[str, str] | str | None]]) -> "Disclosure":
        """`people`: one (source, metadata) per person, every person the reports count."""
        self.counts_ = Counter(k for source, meta in people for k in set(self._keys(source, facets(meta))))
        return self

    def safe(self, source: str, f: Mapping[str, str]) -> dict[str, str]:
        loc, age = f.get("locality"), f.get("age_band")
        for keep_loc, keep_age in ((True, True), (True, False), (False, True)):
            want = (source, loc if keep_loc else None, age if keep_age else None)
            if (keep_loc and loc is None) or (keep_age and age is None):
                continue
            if self.counts_.get(want, 0) >= self.min_group_size:
                return {k: v for k, v in (("locality", want[1]), ("age_band", want[2])) if v is not None}
        return {}


def attribution(source: str, metadata: Mapping[str, str] | str | None, disclosure: Disclosure | None = None) -> str:
    """'member of the public, CA28, 65–74': the source, then the locality and age band that `disclosure`
    (when given) allows to be printed."""
    f = facets(metadata)
    if disclosure is not None:
        f = disclosure.safe(source, f)
    parts = [SOURCE_LABELS.get(source, source)] + [f[k] for k in ("locality", "age_band") if k in f]
    return ", ".join(parts)
