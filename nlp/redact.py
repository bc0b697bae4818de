"""Find and mask personal data in free-text answers before any other step sees them.

Rules and gazetteers rather than a statistical model: the answers are short, nothing may be
downloaded, and a governance lead has to be able to see why any word was (or was not) removed.
Every rule leans towards keeping place names, hospital names and NHS jargon readable, because
the themes and "they said" summaries are useless without them. The gazetteers (safe terms,
first names, titles) live in config/redaction.yaml.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

PII_TYPES = ("NAME", "PHONE", "EMAIL", "NHS_NUMBER", "ID_NUMBER", "POSTCODE", "ADDRESS", "DOB")


@dataclass(frozen=True)
class PiiSpan:
    """A piece of personal data at text[start:end]."""
    start: int
    end: int
    type: str

    def __post_init__(self) -> None:
        if self.type not in PII_TYPES:
            raise ValueError(f"unknown PII type {self.type!r}; expected one of {', '.join(PII_TYPES)}")
        if not 0 <= self.start < self.end:
            raise ValueError(f"empty or negative span {self.start}..{self.end}")


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11 check: weights 10..2 on the first nine digits, so a random 10-digit run rarely passes."""
    digits = re.sub(r"[\s-]", "", digits)
    if len(digits) != 10 or not digits.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits, range(10, 1, -1))) % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


# --- patterns that need no gazetteer -------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")

# 3-3-4 (spaces or dashes, used consistently) or ten digits in a row.
_NHS = re.compile(r"(?<![\w+/.])\d{3}([ -]?)\d{3}\1\d{4}(?![\w/])")
_NHS_CUE = re.compile(r"(?i)\bn\.?h\.?s\.?\s*(?:no\.?|num(?:ber)?\.?|#)?\s*(?:is|was|:)?\s*$")

# A run that starts like a UK number; digit groups are then trimmed to a valid length.
_PHONE = re.compile(r"(?<![\w+/])(?P<intl>(?:\+|00)[ ]?44[ ]?(?:\(0\)[ ]?)?)?(?P<body>\(?(?(intl)\d|0)\d*\)?"
                    r"(?:[ ]?[-.]?[ ]?\(?\d+\)?)*)")
_PHONE_EXT = re.compile(r"(?i)[ ]*,?[ ]*(?:ext|extn|extension|x)\.?[ ]*:?[ ]*\d{1,5}(?!\d)")
# An internal extension or bleep on its own ("ring Sharon on ext 4471", "bleep 2231") reaches a person
# as surely as a full number: three to five digits after "ext", "extn", "extension", "bleep" or
# "pager", or four or five straight after an "x" ("call me on x5521"; not "x2", "3x10").
_LONE_EXT = re.compile(r"(?i)(?<![\w.])(?:ext|extn|extension)\.?[ ]*:?[ ]*\d{3,5}(?![\d,.]\d|\d)")
# "call me on x5521": an "x" extension only after a word for reaching someone ("x1000 magnification" stays).
_X_EXT = re.compile(r"(?i)\b(?:on|call|ring|phone|tel|dial|extension)[ ]+(x\d{4,5})(?![\w,.]\d|\w)")
# A bleep or pager number: the number goes, the word stays ("Bleep [PHONE] goes off all night").
_BLEEP = re.compile(r"(?i)\b(?:bleep|pager)(?:[ ]+me)?(?:[ ]+on)?[ ]*:?[ ]*(\d{3,5})(?![\d,.]\d|\d)")
# A number that identifies a member of staff or a patient: "staff number 20459833", "ESR no. 12345678",
# "GMC number is 7012345" (a public register names the doctor), "NMC PIN 12A3456E", "employee ID
# E1234567", "hospital number K123456". The word before it says what it is; four digits at least.
_ID_KIND = (r"(?:(?:staff|assignment|employee|payroll|personnel|hospital|patient|badge|smart ?card|unit|membership)"
            r"[ ]+(?:number|no\.?|num|#|id|ref(?:erence)?)"
            r"|(?:nmc[ ]+pin|esr|gmc|nmc|hcpc|gphc|gdc|mrn)(?:[ ]+(?:number|no\.?|num|#|id|pin|ref(?:erence)?))?)")
_ID_NAMED = re.compile(r"(?i)\b(?:number|no\.?|num|#|id|pin|ref(?:erence)?)\b[^\w]*(?:is|was)?[ :=#-]*$")
# The number may carry its employer's prefix: "Staff ID WCC-004512", "payroll no. NHS/30418".
_ID_NUMBER = re.compile(r"(?i)\b" + _ID_KIND + r"[ ]*(?:is|was|[:=#-])?[ ]*((?:[A-Z]{1,4}[-/])?[A-Z]{0,2}\d[A-Z\d]{3,11})\b")

# Full postcodes only: a district on its own ("CA28") says where, not who. Lower case needs the
# space and cannot end in an ordinal or unit ("ca28 2nd").
_POSTCODE = re.compile(r"(?<![\w-])(?:[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[ABD-HJLNP-UW-Z]{2}"
                       r"|[a-z]{1,2}\d[a-z\d]?[ ]\d(?!st|nd|rd|th|hr)[abd-hjlnp-uw-z]{2})(?![\w-])")



def postcode_district(value: str) -> str | None:
    """The district ("LA9") of a value that is one full postcode and nothing else ("la9 4dt", "LA94DT"),
    else None: a form's postcode column keeps where people live to the district, as the reports
    name places, instead of losing it to "[POSTCODE]"."""
    v = value.strip()
    m = _POSTCODE.fullmatch(v) or _POSTCODE.fullmatch(v.upper())
    return None if m is None else v.replace(" ", "")[:-3].upper()


_STREET = (r"Street|St|Road|Rd|Lane|Ln|Avenue|Ave|Terrace|Terr|Tce|Close|Drive|Dr|Court|Ct|Crescent|Cres|"
           r"Place|Pl|Way|Grove|Gardens|Gdns|Row|Square|Sq|View|Walk|Hill|Park|Mews|Rise|Brow|Fold|Green|"
           r"Bank|Parade|Mount|Yard|Croft|Garth|Wynd|Gate|Vale|Meadows?|Fields?|Heights|Villas|Cottages|"
           r"Lonning|Loaning|Brae|Howe|Syke|Side|End")
# In lower case only the types that are not also everyday words ("2 Workington bank staff").
_STREET_LOWER = r"street|st|road|rd|lane|avenue|ave|terrace|crescent|gardens|grove|drive"
# "7 Loop Road South", "Flat 2, 14 Station Street", "12a High St": number, capitalised name, street type.
# The town after it stays: it is needed for the analysis and identifies no one on its own.
_ADDRESS = re.compile(
    r"(?<![\w£$/.,])(?:(?:Flat|Apartment|Apt|Unit)[ ]+\d{1,3}[A-Za-z]?[ ]*,?[ ]+)?\d{1,3}[A-Za-z]?,?[ ]+"
    r"(?!(?:Miles?|Minutes?|Hours?|Days?|Weeks?|Months?|Years?|Beds?)\b)"  # "the 2 Mile Hill roadworks"
    r"(?:(?:St\.?[ ]+)?[A-Z][a-z'’]+(?:-[A-Z][a-z]+)?[ ]+){1,3}"
    rf"(?:{_STREET}|{_STREET_LOWER})\b\.?(?:[ ]+(?:North|South|East|West|Upper|Lower)\b)?")

# A street without a street type ("12 Sandgate, Penrith CA11 7TP"): a house number and name, then a
# town and a full postcode. The town stays, as above.
_IN_A_BUILDING = re.compile(r"(?i)\b(?:ward|room|bay|bed|unit|block|floor|level|suite|theatre)[ ]*$")
_HOUSE_BEFORE_POSTCODE = re.compile(
    r"(?<![\w£$/.,])(\d{1,3}[A-Za-z]?,?[ ]+(?:[A-Z][a-z'’]+(?:-[A-Z][a-z]+)?[ ]*){1,3}),[ ]+"
    r"(?:[A-Z][\w'’-]+[ ]+){1,3}(?=[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[ABD-HJLNP-UW-Z]{2}\b)")

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DATE = (rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:\d{{4}}|\d{{2}})"
         rf"|\d{{1,2}}(?:st|nd|rd|th)?[ ]+(?:of[ ]+)?{_MONTH},?(?:[ ]+\d{{4}})?"
         rf"|{_MONTH}[ ]+\d{{1,2}}(?:st|nd|rd|th)?,?(?:[ ]+\d{{4}})?"
         rf"|{_MONTH}[ ]+\d{{4}})")
# A date is a date of birth only with a cue: "appointment on 03/02/2019" is not personal data.
_DOB = re.compile(rf"(?i)\b(?:d\.?o\.?b|date[ ]+of[ ]+birth|birth[ ]*date|born(?:[ ]+(?:on|in))?)\b\.?[ ]*"
                  rf"(?:[:=–-][ ]*|(?:is|was|of)[ ]+)?(?:the[ ]+)?(?P<date>{_DATE})(?![\w/])")

# --- names -----------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_Token = tuple[int, int, str]  # start, end, word
_CAPITALISED = re.compile(r"(?:Mc|Mac|O['’]|D['’])?[A-Z][a-zà-ÿ]+(?:['’-][A-Z][a-zà-ÿ]+)*")
# Abbreviated titles are accepted in lower case ("mrs Smith"); word-like ones ("sister") are not.
_ABBREVIATED_TITLES = frozenset({"mr", "mrs", "ms", "mx", "dr", "prof", "rev", "revd", "cllr"})
# Function words and sentence openers: never a surname, even when capitalised.
_STOP = frozenset("""
a an the and or but if so as at by for from in into of on onto to with without about after before over
under up down out off again then than too very just still also only even not no yes nor all any both
each every few more most other some such own same i me my mine we us our ours you your yours he him
his she her hers it its they them their theirs this that these those there here who whom whose which
what when where why how is are was were be been being am do does did done have has had having will
would shall should can could may might must let lets please thanks thank sorry hello hi dear regards
ok okay well now never always often sometimes today yesterday tomorrow tonight everyone everybody
anyone anybody someone somebody nobody none nothing something anything everything said says told
asked rang called went came got get gets saw seen see because since while although though however
unless until whether once via per etc anonymous st saint
""".split())
# Nouns that make the capitalised words before them a place ("Victoria Road", "Helena Thompson Museum").
_PLACE_NOUNS = frozenset("""
street road avenue terrace close crescent drive gardens square place way court hospital infirmary clinic
surgery practice centre center house unit trust school college academy university library museum
church chapel hospice home homes lodge cottage estate building suite station bridge memorial
foundation fund appeal award health medical care community
""".split())
# A word after these is part of a place or institution: "St John", "Queen Elizabeth".
_NOT_AFTER = frozenset({"st", "saint", "king", "queen", "prince", "princess"})
_PLACE_PREPOSITIONS = frozenset({"in", "at", "near"})
# Surnames that also end the names of places ("Jane Hall", "the Victoria Hall", "Victoria Park"): a
# place after "the", "at", "in" or "near" (with a town before it: "at Ulverston Victoria High").
_VENUE_SURNAMES = frozenset({"hall", "park", "high", "green", "hill", "grove", "fields"})

_CUE_STRONG = re.compile(
    r"(?i)(?:\bmy[ ]+name[ ]+is|\bmy[ ]+name['’]s|\bname[ ]*:|\b(?:i['’]?m|i[ ]+am)[ ]+called|"
    r"\bgave[ ]+(?:his|her|their|the)[ ]+name[ ]+as|\bsigned(?:[ ]+by)?|\byours[ ]+(?:sincerely|faithfully),?|"
    r"\b(?:kind[ ]+|best[ ]+|warm[ ]+)?regards,?)"
    r"[ ]*[:,-]?[ ]*$")
_FAMILY = (r"son|daughter|mum|mam|mother|dad|father|husband|wife|brother|sister|nan|nana|gran|granny|grandad|"
           r"grandma|grandson|granddaughter|grandchild|aunt|auntie|uncle|nephew|niece|cousin|lad|lass|boy|girl|"
           r"baby|child")
# "our" is left out for people outside the family: partner organisations write "our partner Impact Housing".
_CUE_RELATION = re.compile(
    r"(?i)\b(?:(?:my|his|her|their)[ ]+(?:(?:late|little|eldest|youngest|older|younger)[ ]+)?"
    rf"(?:{_FAMILY}|partner|friend|neighbour|carer|midwife|nurse|gp|doctor|consultant|matron|manager|boss|"
    r"colleague|health[ ]+visitor|social[ ]+worker|key[ ]+worker|support[ ]+worker|care[ ]+co-?ordinator|physio)"
    rf"|\bour[ ]+(?:{_FAMILY}))[ ]*[(,]?[ ]*$")
# A family member's name right after them: "my daughter Saffron", "our son Will" (any capitalised word
# that is not a place, service or condition: "Saffron" is also a spice).
_CUE_FAMILY = re.compile(
    rf"(?i)\b(?:my|his|her|their|our)[ ]+(?:(?:late|little|eldest|youngest|older|younger)[ ]+)?(?:{_FAMILY})[ ]*[(,]?[ ]*$")
# Conditions named after people, which follow a family member as often as a name does ("my mum
# Alzheimer's"); also surnames, so not safe words ("Dr Parkinson").
_EPONYMS = frozenset("alzheimer parkinson crohn down asperger huntington tourette hodgkin addison grave".split())
# A job before an unknown word, possessive or not: "ask nurse Bernadette", "the porter Tomasz",
# "our social worker Precious Mbeki" (there also before a known word, when an unknown one follows).
_CUE_ROLE = re.compile(r"(?i)\b(?:nurse|doctor|dr|midwife|matron|sister|receptionist|porter|paramedic|carer|"
                       r"physio|consultant|surgeon|pharmacist|gp|manager|colleague|neighbour|therapist|"
                       r"counsellor|psychiatrist|psychologist|health[ ]+visitor|(?:social|key|support)[ ]+worker|"
                       r"care[ ]+co-?ordinator)[ ]*[,(]?[ ]*$")
# A place of work after an unknown word: "Krzysztof from the ambulance crew", "Chidi on reception".
_AT_WORK = re.compile(r"(?i)[ ]+(?:from|on|at|in)[ ]+(?:the[ ]+)?(?:front[ ]+)?(?:reception|desk|ward|ambulance|"
                      r"crew|switchboard|pharmacy|phones?|team|night[ ]+shift|day[ ]+shift)\b")
_CUE_WEAK = re.compile(
    r"(?i)(?:\b(?:ask|asked|asking|speak|spoke|speaking|talk|talked|thanks|thank[ ]+you)[ ]+(?:for|to)"
    r"|\bcontact(?:[ ]+details)?(?:[ ]+for[ ]+[\w -]+)?[ ]*:|\bcontact|\bthank|\b(?:i['’]?m|i[ ]+am)"
    r"|\b(?:ring|phone|call|text|e-?mail|message|ask|see|tell)"
    r"|\bthis[ ]+is|\bcalled|\bnamed|\bcall[ ]+back[ ]*:|\bdetails[ ]*:)[ ]*[:,-]?[ ]*$")


class Redactor:
    """Finds personal data with regular expressions plus the gazetteers from config/redaction.yaml.

    ``word_like_names`` are first names that are also ordinary words ("Will", "Grace", "Bill");
    they count as names only with a capitalised surname after them or after a name cue.
    ``english_words`` (default_redactor: spaCy's English lemma index) lets names outside the
    gazetteer be found: a capitalised word that is not English, not a first name and not a safe
    term counts as a name after a cue ("my son Jayden", "contact Aleksandra", "nurse Bernadette"),
    beside another such word ("Chidi Okafor"), before a place of work ("Krzysztof from the
    ambulance crew"), and in lower case after a title ("dr whitfield").
    """

    def __init__(self, safe_terms: Iterable[str] = (), first_names: Iterable[str] = (),
                 titles: Iterable[str] = (), *, word_like_names: Iterable[str] = (),
                 english_words: Iterable[str] = ()) -> None:
        safe = {" ".join(t.split()) for t in safe_terms if t and t.strip()}
        # Single words are checked token by token; phrases protect their whole extent.
        self._safe_words = {t.casefold() for t in safe if _WORD.fullmatch(t)}
        phrases = sorted((t for t in safe if not _WORD.fullmatch(t)), key=len, reverse=True)
        alternatives = "|".join(r"\s+".join(map(re.escape, p.split())) for p in phrases)
        self._safe_phrases = re.compile(rf"(?i)(?<!\w)(?:{alternatives})(?!\w)") if phrases else None
        self._word_like = {n.strip() for n in word_like_names if n and n.strip()}
        self._first = {n.strip() for n in first_names if n and n.strip()} | self._word_like
        self._first_lower = {n.casefold() for n in self._first - self._word_like}
        self._titles = {t.strip().rstrip(".").casefold() for t in titles if t and t.strip()}
        # Words of an English dictionary: a capitalised word outside it, the gazetteers and the safe
        # terms ("Okafor", "Jayden") is taken for a name where a cue or a second such word backs it.
        self._english = frozenset(w.casefold() for w in english_words)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], english_words: Iterable[str] = ()) -> "Redactor":
        """Build from parsed config/redaction.yaml, failing loudly on a malformed file rather than
        silently redacting less."""
        if not isinstance(cfg, Mapping):
            raise ValueError("redaction config: expected a mapping with titles, first_names and safe_terms")
        required = ("titles", "first_names", "safe_terms")
        missing = [k for k in required if k not in cfg]
        if missing:
            raise ValueError(f"redaction config: missing required key(s): {', '.join(missing)}")
        unknown = sorted(set(cfg) - set(required))
        if unknown:
            raise ValueError(f"redaction config: unknown key(s): {', '.join(map(str, unknown))}")
        names = cfg["first_names"]
        if isinstance(names, Mapping):
            extra = sorted(set(names) - {"common", "word_like"})
            if extra or "common" not in names:
                raise ValueError("redaction config: 'first_names' must have a 'common' list and may have a "
                                 f"'word_like' list{' (unexpected: ' + ', '.join(extra) + ')' if extra else ''}")
            common = _string_list(names["common"], "first_names.common")
            word_like = _string_list(names.get("word_like") or [], "first_names.word_like")
        else:
            common, word_like = _string_list(names, "first_names"), []
        safe = cfg["safe_terms"]
        if isinstance(safe, Mapping):
            safe_terms = [t for group, terms in safe.items() for t in _string_list(terms, f"safe_terms.{group}")]
        else:
            safe_terms = _string_list(safe, "safe_terms")
        return cls(safe_terms=safe_terms, first_names=common, titles=_string_list(cfg["titles"], "titles"),
                   word_like_names=word_like, english_words=english_words)

    def find(self, text: str) -> list[PiiSpan]:
        """All personal data in ``text``: sorted, non-overlapping. Earlier types in the order below
        win an overlap, so an email's local part is never also read as a name."""
        spans: list[PiiSpan] = []
        for kind, finder in (("EMAIL", _emails), ("DOB", _dobs), ("NHS_NUMBER", _nhs_numbers),
                             ("ID_NUMBER", _id_numbers), ("PHONE", _phones),
                             ("POSTCODE", _postcodes), ("ADDRESS", _addresses)):
            for start, end in finder(text):
                if not any(start < s.end and s.start < end for s in spans):
                    spans.append(PiiSpan(start, end, kind))
        # Names last, around what is already taken ("Dr" in "12 Mill Dr" is a street, not a title).
        spans += [PiiSpan(start, end, "NAME") for start, end in self._names(text, [(s.start, s.end) for s in spans])]
        return sorted(spans, key=lambda s: s.start)

    def redact(self, text: str) -> str:
        """``text`` with each span replaced by its typed placeholder, e.g. "[PHONE]"."""
        out, last = [], 0
        for s in self.find(text):
            out += [text[last:s.start], f"[{s.type}]"]
            last = s.end
        return "".join(out) + text[last:]

    # --- names ----------------------------------------------------------------------------------

    def _names(self, text: str, taken: list[tuple[int, int]]) -> list[tuple[int, int]]:
        protected = [m.span() for m in self._safe_phrases.finditer(text)] if self._safe_phrases else []
        tokens: list[_Token] = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)
                                if not any(s < m.end() and m.start() < e for s, e in taken)]
        found: list[tuple[int, int]] = []
        i = 0
        while i < len(tokens):
            hit = self._title_name(text, tokens, i) or self._plain_name(text, tokens, i)
            if hit and not any(hit[0] < e and s < hit[1] for s, e in protected):
                found.append(hit[:2])
                i = hit[2]
            else:
                i += 1
        return found

    def _is_surname(self, word: str) -> bool:
        key = word.casefold()
        return (bool(_CAPITALISED.fullmatch(word)) and key not in _STOP and key not in self._safe_words
                and key not in self._titles and key not in _PLACE_NOUNS)

    def _is_unknown(self, word: str) -> bool:
        """A capitalised word that no dictionary, gazetteer or safe list knows: likely a name."""
        key = word.casefold()
        if "-" in word and key not in self._safe_words:  # "Pryce-Jones": a double-barrelled surname
            parts = word.split("-")
            return all(_CAPITALISED.fullmatch(p) for p in parts) and any(self._is_unknown(p) for p in parts)
        return (bool(self._english) and word.isalpha() and len(word) > 2 and key not in self._english
                and self._is_surname(word) and word not in self._first)

    def _unknown_lower(self, word: str) -> bool:
        """A lower-case word after a title ("dr whitfield") that is not English: a surname."""
        key = word.casefold()
        return (bool(self._english) and word.isalpha() and word.islower() and len(word) > 2
                and key not in self._english and key not in _STOP and key not in self._safe_words
                and key not in self._titles)

    def _is_title(self, word: str) -> bool:
        key = word.casefold()
        return key in self._titles and (word[0].isupper() or key in _ABBREVIATED_TITLES)

    def _surnames(self, text: str, tokens: list[_Token], j: int, end: int, *, after_title: bool = False,
                  lower_case: bool = False) -> tuple[int, int, int]:
        """Extend a name over initials and up to two surnames: (end, next token index, surnames taken).
        Initials count only when a surname follows them, so "Sharon I think" stays "Sharon"."""
        taken, tentative, dotted = 0, end, after_title
        while j < len(tokens) and taken < 2 and _gap(text, tentative, tokens[j][0], dotted):
            raw = tokens[j][2]
            word = _strip_possessive(raw)
            if len(word) == 1 and word.isupper() and not taken:
                tentative, dotted = tokens[j][0] + 1, True
            elif self._is_surname(word) or (lower_case and word.islower() and len(word) > 1
                                            and word not in _STOP and word not in self._safe_words):
                end = tentative = tokens[j][0] + len(word)
                taken, dotted = taken + 1, False
                if word != raw:  # a possessive ends the name
                    return end, j + 1, taken
            else:
                break
            j += 1
        while j > 0 and tokens[j - 1][0] >= end:  # give back initials that found no surname
            j -= 1
        return end, j, taken

    def _followed_by_place_noun(self, text: str, tokens: list[_Token], j: int, end: int) -> bool:
        return j < len(tokens) and tokens[j][2].casefold() in _PLACE_NOUNS and _gap(text, end, tokens[j][0])

    def _title_name(self, text: str, tokens: list[_Token], i: int) -> tuple[int, int, int] | None:
        """"Dr Singh", "Mrs R. Hetherington", "Mr and Mrs Smith": a title, initials, then surnames."""
        start, end, word = tokens[i]
        if not self._is_title(word):
            return None
        j = i + 1
        if j < len(tokens) and self._is_title(tokens[j][2]) and re.fullmatch(r"\.?[ ]*&[ ]*", text[end:tokens[j][0]]):
            end, j = tokens[j][1], j + 1
        elif (j + 1 < len(tokens) and tokens[j][2].casefold() == "and" and self._is_title(tokens[j + 1][2])
              and _gap(text, end, tokens[j][0], True) and _gap(text, tokens[j][1], tokens[j + 1][0])):
            end, j = tokens[j + 1][1], j + 2
        # A first name right after the title counts even when it is also a month: "Mrs June Armstrong".
        taken = 0
        if j < len(tokens) and _gap(text, end, tokens[j][0], True):
            word = _strip_possessive(tokens[j][2])
            if word in self._first and _CAPITALISED.fullmatch(word):
                end, j, taken = tokens[j][0] + len(word), j + 1, 1
                if word != tokens[j - 1][2]:
                    return start, end, j
        end, j, more = self._surnames(text, tokens, j, end, after_title=not taken)
        if (not (taken or more) and j < len(tokens) and _gap(text, end, tokens[j][0], True)
                and self._unknown_lower(tokens[j][2])):
            end, j, more = tokens[j][1], j + 1, 1
        if not (taken or more) or self._followed_by_place_noun(text, tokens, j, end):
            return None
        return start, end, j

    def _plain_name(self, text: str, tokens: list[_Token], i: int) -> tuple[int, int, int] | None:
        """A gazetteer first name, or any name after a cue such as "my name is", plus surname(s)."""
        start, _, raw = tokens[i]
        first = _strip_possessive(raw)
        key = first.casefold()
        if i and tokens[i - 1][2].casefold() in _NOT_AFTER and _gap(text, tokens[i - 1][1], start, True):
            return None
        # Most words are neither capitalised nor a lower-case first name: none of them can start a
        # name, so skip the cue searches below for them (they dominate the cost of redaction).
        if not (first.islower() and key in self._first_lower) and not _CAPITALISED.fullmatch(first):
            return None
        before = text[max(0, start - 60):start]
        cue = ("strong" if _CUE_STRONG.search(before) else "relation" if _CUE_RELATION.search(before)
               else "weak" if _CUE_WEAK.search(before) else None)
        # Lower-case names only right after a cue ("ask for jane"), never word-like ones ("ask for help").
        lower_case = first.islower() and cue is not None and key in self._first_lower
        if cue == "relation" and key.rstrip("s") in _EPONYMS and (raw != first or key.endswith("s")):
            return None  # "my mum Alzheimer's", "my dad Parkinsons"; "my son Addison" is a name
        family = cue == "relation" and _CUE_FAMILY.search(before) is not None and self._is_surname(first)
        known = lower_case or first in self._first or family
        role = cue == "relation" or _CUE_ROLE.search(before) is not None
        unknown = not known and (
            # After a cue or a job, possessive or not: "my son Tyrone's NHS number".
            (self._is_unknown(first) and (cue is not None or role))
            or first == raw and (
                (self._is_unknown(first) and (_AT_WORK.match(text, start + len(first))
                                              or self._unknown_follows(text, tokens, i)))
                # After a job, a capitalised word before an unknown one: "social worker Precious Mbeki".
                or (role and self._is_surname(first) and self._unknown_follows(text, tokens, i))
                # Joined by "and" to a name or another unknown word: "with Chidi and Oluwadamilare".
                or (self._is_unknown(first) and self._joined_to_name(text, tokens, i))))
        if not lower_case:
            if not _CAPITALISED.fullmatch(first):
                return None
            if not known and not unknown and not (cue in ("strong", "relation") and self._is_surname(first)):
                return None
            if key in self._safe_words and first not in self._word_like:
                return None
        end, j, surnames = start + len(first), i + 1, 0
        if first == raw:
            end, j, surnames = self._surnames(text, tokens, j, end, lower_case=lower_case and cue == "strong")
        if self._followed_by_place_noun(text, tokens, j, end) or (surnames and self._venue(text, tokens, i, j)):
            return None
        if first in self._word_like and not surnames:
            # "Grace" needs a cue or a partner ("Jean and Derek"); a month or season ("May", "Summer")
            # needs a close cue: "my daughter May".
            if key in self._safe_words and cue in ("weak", None):
                return None
            if cue is None and not self._paired_with_name(text, tokens, i):
                return None
        if not known and not unknown and cue == "relation" and not surnames:
            return None
        if (not surnames and not cue and first == raw and i and tokens[i - 1][2].casefold() in _PLACE_PREPOSITIONS
                and _gap(text, tokens[i - 1][1], start)):
            return None  # "an appointment at Stanley", "lives in Florence": a place
        return start, end, j

    def _venue(self, text: str, tokens: list[_Token], i: int, j: int) -> bool:
        """"at the Victoria Hall", "in Victoria Park", "at Ulverston Victoria High": the name's last word
        ends place names too, and "the" or a place preposition comes before it (or before one
        capitalised word before it, a town's name)."""
        if tokens[j - 1][2].casefold() not in _VENUE_SURNAMES:
            return False
        k = i - 1
        if k > 0 and _CAPITALISED.fullmatch(tokens[k][2]) and tokens[k][2] not in self._first \
                and _gap(text, tokens[k][1], tokens[i][0]):
            k -= 1
        return k >= 0 and tokens[k][2].casefold() in _PLACE_PREPOSITIONS | {"the"} \
            and _gap(text, tokens[k][1], tokens[k + 1][0])

    def _unknown_follows(self, text: str, tokens: list[_Token], i: int) -> bool:
        """"Chidi Okafor": the next word is another capitalised word nobody knows."""
        return (i + 1 < len(tokens) and _gap(text, tokens[i][1], tokens[i + 1][0])
                and self._is_unknown(_strip_possessive(tokens[i + 1][2])))

    def _joined_to_name(self, text: str, tokens: list[_Token], i: int) -> bool:
        """"Chidi and Oluwadamilare", "Sarah and Oluwadamilare": joined by "and"/"&" to a known first
        name or to another capitalised word nobody knows (a place neither gazetteer nor dictionary
        knows may go with them: over-redaction loses a place, never a person)."""
        for k in (i - 2, i + 2):
            lo, hi = sorted((i, k))
            if not (0 <= k < len(tokens) and tokens[lo + 1][2].casefold() == "and"):
                continue
            if not re.fullmatch(r"[ ]+and[ ]+", text[tokens[lo][1]:tokens[hi][0]], re.I):
                continue
            other = _strip_possessive(tokens[k][2])
            before = tokens[lo - 1][2].casefold() if lo else ""
            # Two unknown words need a word that goes before people ("with", "thanks to"): "Covid and
            # Brexit hit staffing" are no names.
            if other in self._first or (self._is_unknown(other) and before in _BEFORE_PEOPLE):
                return True
        return False

    def _paired_with_name(self, text: str, tokens: list[_Token], i: int) -> bool:
        """"Jean and Derek", "Derek & Jean": a word-like name joined to an unambiguous one."""
        for step in (1, -1):
            k = i + step
            if 0 <= k < len(tokens) and tokens[k][2].casefold() == "and":
                k += step
            if not 0 <= k < len(tokens):
                continue
            lo, hi = sorted((i, k))
            other = _strip_possessive(tokens[k][2])
            if (re.fullmatch(r"[ ]+(?:and|&)[ ]+", text[tokens[lo][1]:tokens[hi][0]], re.I)
                    and other in self._first and other not in self._word_like):
                return True
        return False


_BEFORE_PEOPLE = frozenset("with by from thank thanks ask asked tell told call called phoned emailed met saw see "
                           "and nurses doctors carers colleagues".split())


def _gap(text: str, end: int, start: int, after_abbrev: bool = False) -> bool:
    """Whether two words are adjacent within one name: spaces only, or ". " after a title or initial."""
    return re.fullmatch(r"\.?[ ]{1,2}" if after_abbrev else r"[ ]{1,2}", text[end:start]) is not None


def _strip_possessive(word: str) -> str:
    return word[:-2] if len(word) > 2 and word[-2] in "'’" and word[-1] in "sS" else word


def _id_numbers(text: str) -> list[tuple[int, int]]:
    """The number after a staff or patient identifier's name (the name itself stays: "my staff number
    [ID_NUMBER]" still reads)."""
    out = []
    for m in _ID_NUMBER.finditer(text):
        digits = sum(c.isdigit() for c in m.group(1))
        # After "NMC"/"GMC"/"ESR" alone a year is no ID ("The NMC 2018 code"): six digits, or letters and
        # digits (an NMC PIN); after "number", "no.", "pin" or "id", four digits will do.
        named = _ID_NAMED.search(m.group(0)[:m.start(1) - m.start()])
        if digits >= 6 or (digits >= 4 and (named or not m.group(1).isdigit())):
            out.append(m.span(1))
    return out


def _emails(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _EMAIL.finditer(text)]


def _dobs(text: str) -> list[tuple[int, int]]:
    return [m.span("date") for m in _DOB.finditer(text)]


def _nhs_numbers(text: str) -> list[tuple[int, int]]:
    """Mod-11-valid ten-digit numbers. One starting with 0 is left to the phone rule unless "NHS" precedes it."""
    out = []
    for m in _NHS.finditer(text):
        if not nhs_number_valid(m.group()):
            continue
        if m.group()[0] == "0" and not _NHS_CUE.search(text[max(0, m.start() - 30):m.start()]):
            continue
        out.append(m.span())
    return out


def _phones(text: str) -> list[tuple[int, int]]:
    """UK numbers: the longest run of digit groups adding up to a valid national length, plus any
    extension; and an extension on its own."""
    out = []
    for m in _PHONE.finditer(text):
        groups = list(re.finditer(r"\d+", m.group("body")))
        national = "0" if m.group("intl") and not m.group("body").lstrip("(").startswith("0") else ""
        best = None
        for g in groups:
            national += g.group()
            if len(national) > 11:
                break
            if _valid_national(national):
                best = m.start("body") + g.end()
        if best is None:
            continue
        if m.group("body").startswith("(") and text[best:best + 1] == ")":
            best += 1
        ext = _PHONE_EXT.match(text, best)
        out.append((m.start(), ext.end() if ext else best))
    out += [e.span() for e in _LONE_EXT.finditer(text) if not any(a <= e.start() < b for a, b in out)]
    out += [x.span(1) for x in _X_EXT.finditer(text) if not any(a <= x.start(1) < b for a, b in out)]
    return out + [b.span(1) for b in _BLEEP.finditer(text) if not any(a <= b.start(1) < z for a, z in out)]


def _valid_national(digits: str) -> bool:
    if len(digits) == 11:
        return digits[1] in "1235789"
    return len(digits) == 10 and (digits.startswith("01") or digits.startswith("0800") or digits.startswith("0500"))


def _postcodes(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _POSTCODE.finditer(text)]


def _addresses(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _ADDRESS.finditer(text)]
    # Not a ward, room or bay in a hospital ("Ward 22, Cumberland Infirmary, Carlisle CA2 7HY").
    return spans + [m.span(1) for m in _HOUSE_BEFORE_POSTCODE.finditer(text)
                    if not any(a < m.end(1) and m.start(1) < b for a, b in spans)
                    and not _IN_A_BUILDING.search(text, max(0, m.start(1) - 12), m.start(1))
                    and not set(m.group(1).casefold().split()) & _PLACE_NOUNS]


def _string_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"redaction config: '{where}' must be a list of strings, got {type(value).__name__}")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ValueError(f"redaction config: '{where}' has entries that are not non-empty strings: {bad[:3]!r}")
    return value


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """English words, lower case: spaCy's lemma index (WordNet's nouns, verbs, adjectives and
    adverbs) and its lookup table of inflected forms, from spacy-lookups-data (offline)."""
    index, forms = lemma_tables()
    words = {w for ws in index.values() for w in ws} | set(forms) | set(forms.values())
    return frozenset(w.casefold() for w in words if "_" not in w)


@lru_cache(maxsize=1)
@lru_cache(maxsize=1)
def lemma_tables() -> tuple[dict[str, list[str]], dict[str, str]]:
    """spacy-lookups-data's English lemma index by part of speech ({"noun": [...], "verb": [...], …})
    and its lookup of inflected forms ("nurses" -> "nurse"), read once per process."""
    import spacy_lookups_data

    data = Path(spacy_lookups_data.__file__).parent / "data"
    return (json.loads(gzip.decompress((data / "en_lemma_index.json.gz").read_bytes())),
            json.loads(gzip.decompress((data / "en_lemma_lookup.json.gz").read_bytes())))


@lru_cache(maxsize=1)
def default_redactor() -> Redactor:
    """The redactor configured by the repository's config/redaction.yaml (read once per process)."""
    path = Path(__file__).resolve().parents[1] / "config" / "redaction.yaml"
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Redactor.from_config(cfg, english_words=english_words())
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
