"""Taxonomies (strategic aims, enablers, objectives) are configuration: one YAML file each."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,31}$")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file's problem."""


@dataclass(frozen=True)
class Category:
    code: str
    title: str
    description: str
    kind: str

    @property
    def is_other(self) -> bool:
        """The catch-all for empty and off-topic answers: never summarised as a theme."""
        return self.kind == "other"


@dataclass(frozen=True)
class Taxonomy:
    id: str
    title: str
    question: str
    summary_heading: str
    categories: tuple[Category, ...]
    facets: Mapping[str, Any] = field(default_factory=dict)
    # Which questions' answers it summarises (words each question must contain, any case); none: all.
    # A staff survey's "What does the Trust do well?" is not an answer to "what must we do".
    questions: tuple[str, ...] = ()

    def asks(self, question: str) -> bool:
        """Whether answers to `question` are part of this taxonomy's analysis."""
        q = " ".join(str(question).casefold().split())
        return not self.questions or any(p in q for p in self.questions)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def other_code(self) -> str | None:
        return next((c.code for c in self.categories if c.is_other), None)

    def category(self, code: str) -> Category:
        for c in self.categories:
            if c.code == code:
                return c
        raise KeyError(f"{code!r} is not a category of taxonomy {self.id!r}; choose one of {', '.join(self.codes)}")


def parse_taxonomy(data: Mapping[str, Any], origin: str = "taxonomy") -> Taxonomy:
    """Validate a parsed taxonomy mapping so a typo fails on load, not half-way through a night's run."""
    if not isinstance(data, Mapping):
        raise TaxonomyError(f"{origin}: expected a mapping with id, title and categories")
    missing = [k for k in ("id", "title", "categories") if k not in data]
    if missing:
        raise TaxonomyError(f"{origin}: missing required key(s): {', '.join(missing)}")
    tid = str(data["id"])
    if not _ID.match(tid):
        raise TaxonomyError(f"{origin}: id {tid!r} must be lower-case letters, digits and hyphens")
    raw = data["categories"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise TaxonomyError(f"{origin}: 'categories' must be a list of at least two categories")
    cats: list[Category] = []
    for i, c in enumerate(raw, 1):
        if not isinstance(c, Mapping) or "code" not in c or "title" not in c:
            raise TaxonomyError(f"{origin}: category {i} needs at least 'code' and 'title'")
        code = str(c["code"])
        if not _CODE.match(code):
            raise TaxonomyError(f"{origin}: category code {code!r} must be upper-case letters/digits, e.g. AIM1")
        if any(x.code == code for x in cats):
            raise TaxonomyError(f"{origin}: category code {code!r} appears twice")
        cats.append(Category(code=code, title=" ".join(str(c["title"]).split()),
                             description=" ".join(str(c.get("description") or "").split()),
                             kind=str(c.get("kind") or "category")))
    if sum(c.is_other for c in cats) > 1:
        raise TaxonomyError(f"{origin}: at most one category may have kind 'other'")
    question = " ".join(str(data.get("question") or "").split())
    # Without a heading of its own, the lead-in still says what people were asked.
    heading = data.get("summary_heading") or (f"When we asked people \u201c{question}\u201d they said:" if question
                                              else "What people told us:")
    asked = data.get("questions") or []
    if not isinstance(asked, list) or not all(isinstance(q, str) and q.strip() for q in asked):
        raise TaxonomyError(f"{origin}: 'questions' must be a list of the words each question it covers contains, "
                            "e.g. [\"better place to work\", \"next five years\"]")
    return Taxonomy(id=tid, title=str(data["title"]), question=question, summary_heading=str(heading),
                    questions=tuple(" ".join(q.casefold().split()) for q in asked),
                    categories=tuple(cats), facets=dict(data.get("facets") or {}))
