"""Who said it, in the words a strategy prints: "public survey, CA28, 65–74".

Exports name their metadata columns differently ("Q3. Age group", "Age band", "Postcode district",
"Locality"), so the facets are recognised from the column name and the shape of the value.
"""
from __future__ import annotations

import json
import re
from typing import Mapping

SOURCE_LABELS = {"public": "public survey", "staff": "staff survey", "healthwatch": "Healthwatch",
                 "partner": "partner organisation"}
_AGE_KEY = re.compile(r"\bage\b", re.IGNORECASE)
_AGE_VALUE = re.compile(r"^\s*(?:under\s*\d+|\d{1,2}\s*(?:-|–|to)\s*\d{1,2}|\d{1,2}\s*\+|\d{1,2}\s*(?:and|or)\s*over)\s*$",
                        re.IGNORECASE)
_PLACE_KEY = re.compile(r"postcode|district|localit|\barea\b|\btown\b|\bward\b|neighbourhood|venue|\bevent\b|location",
                        re.IGNORECASE)
# A map position ("Location Latitude": 53.8041) or a count is no place a reader would know.
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
_DISTRICT = re.compile(r"^\s*([A-Z]{1,2}\d[A-Z\d]?)\s*$", re.IGNORECASE)


def facets(metadata: Mapping[str, str] | str | None) -> dict[str, str]:
    """Age band and locality from an answer's metadata, where the export has them."""
    if isinstance(metadata, str):
        metadata = json.loads(metadata or "{}")
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        v = " ".join(str(value).split())
        if not v or "[" in v or v.lower() in ("prefer not to say", "n/a", "unknown"):
            continue
        if "age_band" not in out and _AGE_KEY.search(key) and _AGE_VALUE.match(v):
            out["age_band"] = re.sub(r"\s*(?:-|to)\s*", "–", v)
        elif "locality" not in out and _PLACE_KEY.search(key) and len(v) <= 40 and not _NUMBER.match(v):
            m = _DISTRICT.match(v)
            out["locality"] = m.group(1).upper() if m else v
    return out


def attribution(source: str, metadata: Mapping[str, str] | str | None) -> str:
    f = facets(metadata)
    parts = [SOURCE_LABELS.get(source, source)] + [f[k] for k in ("locality", "age_band") if k in f]
    return ", ".join(parts)
