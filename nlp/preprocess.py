"""spaCy preprocessing: sentence segments, lemmas, and detection of answers with no content.

A blank English pipeline with a sentencizer and the lookup lemmatizer works fully offline
(spacy-lookups-data ships the tables), so nothing depends on downloading a trained model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Iterator

import spacy
from spacy.language import Language

from nlp.redact import PII_TYPES

# Typed answers that say nothing about health and care. Matched on the whole answer after
# lower-casing and stripping punctuation, so "No comment." and "n/a thanks" are caught but
# "no comment on GPs, but A&E is awful" is not.
_EMPTY_ANSWERS = {
    "", "n a", "na", "n a thanks", "na thanks", "none", "nothing", "no", "nope", "nil", "no comment",
    "no comments", "no comment thanks", "nothing to add", "nothing else", "not sure", "dont know",
    "don t know", "do not know", "idk", "unsure", "as above", "see above", "same as above", "ditto",
    "pass", "no thanks", "no thank you", "nothing thanks", "nothing more", "not applicable", "x", "test",
}
# Answers made only of these words say nothing either: "see previous answer", "Nothing more to add
# thank you", "no further comments", "I have nothing else to say" (but "More GPs" and "No more
# closures" say something).
_NOTHING_WORDS = frozenset("""
    nothing none no nope nil n a na not applicable more else further other additional to add adding say
    said comment comments thanks thank you cheers see my previous prior earlier above below answer answers
    response responses question q1 q2 q3 q4 q5 as per same i have ve i've im i'm it its all that this is for now
    at the moment time really honestly
    """.split())
_SAYS_NOTHING = frozenset({"nothing", "none", "no", "nope", "nil", "n", "na", "not", "applicable", "see", "same", "as",
                           "thanks", "thank"})
_NON_WORD = re.compile(r"[^a-z0-9]+")
_MIN_SEGMENT_WORDS = 3
# Changed whenever the same answer would be cut differently: stored segments from another version
# are cut again (flows.ingest.recut_stale_segments), so a store never mixes two ways of cutting.
SEGMENTER_VERSION = "2026-11-25.2 lists (numbered items on their own lines) and quotation marks"


# Redacted personal details, e.g. "[PHONE]", and the words people put round them.
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(PII_TYPES) + r")\]")
# A detail someone can be reached at: beside one, a name, job title or place is part of the contact.
_REACHABLE = re.compile(r"\[(?:PHONE|EMAIL|ADDRESS)\]")
_CONTACT_WORDS = frozenset("""
    please pls plz can could would you someone somebody anyone contact contacted contacting get getting in touch
    reach reached me us i im m ve d ll re am be been my our is are it s on at via by or and with to from for the a an this
    call ring phone phoned telephone tel mob mobile text number no email e mail address home work postcode
    nhs dob date of birth name named called live lives living mr mrs ms miss dr happy glad willing keen like love want to discuss
    talk chat further more about details detail info information follow up back if need needed any questions
    query queries thanks thank regards kind best cheers many wishes x here below above
    he she her his him they them their left gave given taken took asked asks ask wants wanted tell told know hear
    what really actually all examples lol these those notes note discuss discussed
    """.split())
_WORD_RUN = re.compile(r"[^\W_]+(?:[&'’][^\W_]+)*")


def is_contact_only(text: str) -> bool:
    """True for text that only leaves contact details ("Please get in touch: [PHONE]", "My email is
    [EMAIL], happy to discuss", "Contact: [NAME], Parish Clerk, [PHONE]"): it says nothing about
    health and care, so it must not be counted or themed as if it did. Needs a redacted detail, and
    no word beyond the ones people put round one; beside a phone, e-mail or address, capitalised
    words (a job title, a street, a town) belong to the contact too, but "Call me on [PHONE] about
    the GP closure" says something."""
    if not _PLACEHOLDER.search(text):
        return False
    reachable = bool(_REACHABLE.search(text))
    for w in _WORD_RUN.findall(_PLACEHOLDER.sub(" ", text)):
        if reachable and w[:1].isupper() and not w.isupper():
            continue
        if not all(part in _CONTACT_WORDS for part in re.split(r"['’]", w.casefold())):
            return False
    return True


_LETTER_RUN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_CONTRACTIONS = frozenset("""don't can't won't isn't doesn't didn't i'm i've i'd it's they're we're you're there's
that's couldn't wouldn't shouldn't haven't hasn't aren't wasn't weren't we've they've let's""".split())


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    from nlp.redact import english_words

    return english_words() | ENGLISH_STOP_WORDS | _CONTRACTIONS


def may_not_be_english(text: str) -> bool:
    """True for an answer that looks written in another language ("Diolch am ofyn. Mae angen mwy o
    feddygon teulu", "Czekam na lekarza od trzech miesięcy"): the classifier and the themes read
    English only, so such answers are counted but may be missed or misplaced, and someone should
    translate them. Judged on lower-case words (names and places are any language's): fewer than
    40% of them English words, or a fifth of all words with letters English does not use
    ("médicos", "două"), or mostly another script. Text-speak ("gettin a docter appt") stays
    English; answers under four words are not judged."""
    words = _LETTER_RUN.findall(text)
    if len(words) < 4:
        return False
    letters = "".join(words)
    if sum(not ("a" <= c.lower() <= "z") for c in letters) > len(letters) / 2:
        return True
    if sum(any(not c.isascii() for c in w.replace("’", "'")) for w in words) >= len(words) / 5:
        return True
    low = [w.casefold().replace("’", "'") for w in words if w[:1].islower()]
    if len(low) < 4:
        return False
    english = sum(w in _english() or len(w) == 1 for w in low)
    # Dutch and its neighbours share many short words with English ("in", "is", "heel", "om"): two
    # of another language's commonest words that English never uses tip an answer that is not
    # mostly English ("Ik woon in Bowness en het is heel moeilijk om een tandarts te vinden").
    return english < 0.4 * len(low) or (english < 0.6 * len(low) and len(set(low) & _FOREIGN_FUNCTION_WORDS) >= 2)


_FOREIGN_FUNCTION_WORDS = frozenset("""het een niet ik geen wordt wij zijn ook maar naar und nicht ist ich das für eine
auch wir les est pas je nous avec une des dans qui los las para con una por muy que della sono mae yn ond""".split())


def is_empty_answer(text: str) -> bool:
    """True for answers like "n/a", "no comment", "?", or contact details alone, that should not
    count as anything said."""
    key = _NON_WORD.sub(" ", text.casefold()).strip()
    words = set(key.split())
    return key in _EMPTY_ANSWERS or (len(words) <= 8 and words <= _NOTHING_WORDS and bool(words & _SAYS_NOTHING)) \
        or is_contact_only(text)


# A list typed into one box: items on their own lines, or "- item - item", "• item", "1) item 2) item".
_BULLET = re.compile(r"[-–•*·]")
_LIST_START = re.compile(r"\s*(?:[-–•*·]|1[.)])\s")
_ITEM_NUMBER = re.compile(r"\d{1,2}")
_MARKER = re.compile(r"(?:[-–•*·]|\d{1,2}[.)])\s+")


@Language.component("list_items")
def list_items(doc):
    """Each line, and each item of a list typed on one line, starts a sentence of its own: the
    sentencizer only knows full stops, so "- More GPs\n- Keep A&E open" was one segment about two
    things, and "1. Stop smoking support 2. Weight groups" ended its first item with "2."."""
    start = _LIST_START.match(doc.text)
    bullets = bool(start) and not start.group().strip()[:1].isdigit()
    numbers = bool(start) and not bullets
    for i in range(1, len(doc)):
        prev, tok = doc[i - 1], doc[i]
        if tok.is_space:
            continue
        line_start = "\n" in prev.whitespace_ or (prev.is_space and "\n" in prev.text)
        numbered = (_ITEM_NUMBER.fullmatch(tok.text) and not tok.whitespace_ and i + 1 < len(doc)
                    and doc[i + 1].text in (")", "."))
        if line_start and not numbered:
            tok.is_sent_start = True
        elif bullets and prev.whitespace_ and _BULLET.fullmatch(tok.text):
            tok.is_sent_start = True
        elif numbered and ((numbers and prev.whitespace_) or line_start):
            tok.is_sent_start = True  # the item's number opens it, rather than closing the item before
            if i + 2 < len(doc):
                doc[i + 2].is_sent_start = False
    return doc


@lru_cache(maxsize=1)
def make_pipeline() -> Language:
    """Blank English + sentencizer + list items + lookup lemmatizer (built once per process)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("list_items")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


@dataclass(frozen=True)
class Segment:
    """A sentence-sized piece of an answer, with its character offsets in the answer."""
    index: int
    start: int
    end: int
    text: str
    lemmas: str


@dataclass(frozen=True)
class Preprocessed:
    text: str
    is_empty: bool
    lemmas: str
    segments: tuple[Segment, ...]


def _opens_next(text: str) -> bool:
    """Ends with a bracket or quotation mark that opens what follows (a straight quote after a space)."""
    return text.endswith(("[", "(", "“", "‘")) or (text.endswith('"') and len(text) > 1 and text[-2].isspace())


def _segments(doc) -> list[Segment]:
    """Sentences, with very short fragments ("Simple things.") folded into their neighbour."""
    spans: list[list] = []
    for sent in doc.sents:
        words = [t for t in sent if not t.is_punct and not t.is_space]
        if spans and len(words) < _MIN_SEGMENT_WORDS:
            spans[-1].append(sent)
        elif spans and len([t for s in spans[-1] for t in s if not t.is_punct]) < _MIN_SEGMENT_WORDS:
            spans[-1].append(sent)
        else:
            spans.append([sent])
    out: list[Segment] = []
    carry: int | None = None
    for group in spans:
        start, end = group[0].start_char, group[-1].end_char
        if carry is not None:
            start, carry = carry, None
        # The sentencizer leaves an opening bracket or quotation mark at the end of the previous
        # sentence ("… it. [" + "NAME] on 5B …", '… at home. "' + 'We couldn't have …"'); it belongs
        # to the next one, so placeholders stay whole and a quote is not printed with a stray mark.
        stripped = doc.text[start:end].rstrip()
        if _opens_next(stripped) and group is not spans[-1]:
            carry = start + len(stripped) - 1
            end = carry
        text = doc.text[start:end].strip()
        marker = _MARKER.match(text)
        # The list's bullet or number is not part of what was said (a list from the first line, or an
        # item on a line of its own).
        if marker and (_LIST_START.match(doc.text) or doc.text[:start].rstrip(" \t").endswith("\n")):
            start = doc.text.index(text, start) + marker.end()
            text = doc.text[start:end].strip()
        if not text:
            continue
        lemmas = " ".join(t.lemma_.lower() for s in group for t in s if not t.is_punct and not t.is_space)
        lead = len(doc.text[start:end]) - len(doc.text[start:end].lstrip())
        out.append(Segment(index=len(out), start=start + lead, end=start + lead + len(text), text=text, lemmas=lemmas))
    return out


def preprocess(texts: Iterable[str], batch_size: int = 256) -> Iterator[Preprocessed]:
    """Segment and lemmatise answers in a stream, so large exports never sit whole in memory."""
    nlp = make_pipeline()
    for doc in nlp.pipe(texts, batch_size=batch_size):
        segs = tuple(_segments(doc))
        lemmas = " ".join(t.lemma_.lower() for t in doc if not t.is_punct and not t.is_space)
        yield Preprocessed(text=doc.text, is_empty=is_empty_answer(doc.text), lemmas=lemmas, segments=segs)
