"""Turn one category's themes into "they said" statements with counted, quotable evidence.

A statement is a short clause taken from the theme's own words, put in the strategy's collective
voice ("I" becomes "we"). Being extractive means it never says anything nobody said. Of the
clauses that could be printed (4–15 words, a whole phrase: no placeholder, no dangling "and", no
question, no "it"/"they" that needs the previous sentence), the one chosen is the closest in
meaning to the theme's centre and richest in its keywords, with a strong preference for asks
("More help for older people living alone", "Sort out social care") over anecdotes ("I've got
heart failure…"), lists of nouns, and one person's place names. The ranking depends only on the
theme's members, never on the order the topic model produced them in, so the same theme found
with another random seed gets the same words.

The other good candidates are kept (`Statement.alternatives`) so that `distinct_statements` can
give two themes that chose the same words (the same answer often speaks to two categories)
different statements: the weaker claim takes its next-best phrasing.
"""
from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from nlp.attribution import attribution, facets

Encoder = Callable[[Sequence[str]], np.ndarray]

# Sentences, dashes, brackets and ", but": a consequence or reason (", so …", ", because …") is not
# split off, since it is rarely the ask itself.
_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;:])\s+|\s+[-–—]\s+|\s*\(\s*|\s*\)\s*|,\s+(?=but\b)|\n+")
_LEADING_FILLER = re.compile(
    r"^(?:(?:(?:i|we)\s+)?(?:(?:just|only|really)\s+)?(?:want(?:ed)?|would\s+like|['’]d\s+like)\s+to\s+"
    r"(?:say|add|mention)(?:\s+that)?|"
    r"and|but|so|also|plus|then|just|please|ok|okay|well|oh|yes|yeah|no(?=\s*,)|i think|i feel|i believe|i guess|"
    r"in my opinion|personally|for me|to me|honestly|basically|overall|definitely|otherwise|simply|"
    r"to be honest|tbh|in all honesty|to be fair|quite frankly|frankly|if i'?m honest|if i am honest|"
    r"it would be (?:good|nice|great|helpful|better) (?:if|to)|i would like to see|i'?d like to see|would like to see|"
    r"i would like|i'?d like|what matters (?:most )?(?:to me )?is|the most important thing (?:for me )?is|"
    r"most important(?:ly)?|my (?:main |biggest )?(?:priority|wish|hope) (?:is|would be)|"
    r"top priority|priority|suggestion|idea|firstly|secondly|thirdly|lastly|finally|first of all|above all|"
    # Who is speaking, before what they say: "Speaking as a nurse, the crisis team …"
    r"(?:(?:speaking|writing|responding|answering)\s+)?as\s+an?\s+[\w'’ -]{1,30}?(?:\s+myself)?(?=\s*,))[\s,:]+",
    re.IGNORECASE)
# Healthwatch notes report what someone said: "A carer at the Maryport drop-in suggested fining …".
# What follows "suggested"/"called for" is the ask itself.
_REPORTED = re.compile(
    r"^(?:an?|the|one|two|three|several|some|many|most)?\s*[\w'’ -]{0,60}?\b(?:suggested|called for|asked for|"
    r"proposed|recommended|would like to see|want to see|wants to see)\s+(?:that\s+)?", re.IGNORECASE)
# "A woman at the Penrith event said she …": a report of one person's account.
_REPORTED_ACCOUNT = re.compile(r"\b(?:said|says|told us|mentioned|explained|described|reported|"
                               r"complained)\b", re.IGNORECASE)
_TRAILING = re.compile(r"(?:[\s,]+(?:please|thanks|thank you|full stop|etc|and so on|asap))+\s*[.!]*$", re.IGNORECASE)
_VOICE = [  # first person singular to the strategy's plural voice
    (r"\b[Ii]['’]m\b", "we're"), (r"\bIm\b", "we're"), (r"\b[Ii] am\b", "we are"), (r"\b[Ii] was\b", "we were"),
    (r"\b[Ii]['’]ve\b", "we've"), (r"\b[Ii]['’]d\b", "we'd"), (r"\b[Ii]['’]ll\b", "we'll"), (r"\bI\b", "we"),
    (r"\bi\b(?!['’])", "we"),
    (r"\bmy\b", "our"), (r"\bMy\b", "Our"), (r"\bme\b", "us"), (r"\bmyself\b", "ourselves"), (r"\bmine\b", "ours"),
]
_WORD = re.compile(r"[A-Za-z0-9£&'’]+")
_PLACEHOLDER = re.compile(r"\[|\]|\b(?:NAME|PHONE|EMAIL|NHS_NUMBER|POSTCODE|ADDRESS|DOB)\b")
# A strategy's "they said" box holds asks and priorities, not anecdotes: clauses that read as a
# suggestion are preferred, clauses that narrate one person's episode are never statements.
_ASK_START = re.compile(
    r"^(?:more|better|less|fewer|faster|quicker|keep|stop|start|invest|make|give|bring|sort|get|use|"
    r"listen|train|pay|recruit|support|fund|provide|improve|increase|reduce|cut|end|let|put|treat|"
    r"help|join|share|open|build|work|plan|focus|involve|ask|tell|value|look|offer|ensure|create|"
    r"free|proper|easier|shorter|joined|access to|somewhere|someone|one|a single|same|stay|protect|"
    r"develop|expand|extend|grow|move|set up|link|simplify|reward|respect|prioriti[sz]e|tackle|deal|"
    r"think|learn|talk|communicate|publish|pool|shift|spend|don't|do not|no more|never)\b", re.IGNORECASE)
_ASK_ANYWHERE = re.compile(
    r"\b(?:need(?:s)? to|should|must|want(?:s)? to|have to|has to|ought to|would like|would help|"
    r"we need|we want|(?<!complex )(?<!special )(?<!their )(?<!our )(?<!your )(?<!his )(?<!her )needs?\b)",
    re.IGNORECASE)
_NARRATIVE = re.compile(
    r"\b(?:was|were|had|got|told|said|asked|waited|went|took|came|did|rang|phoned|saw|died|"
    r"yesterday|last (?:week|month|year|time)|ago|husband|wife|mum|mam|dad|son|daughter|mother|father|"
    r"grandchildren|grandkids|kids|baby|toddler|sister|brother|partner's|friend|friends|neighbour)\b",
    re.IGNORECASE)
_OWN_BURDEN = re.compile(r"\b(?:I|I've|Ive)\s+(?:have\s+|had\s+|got\s+|have\s+got\s+)to\b", re.IGNORECASE)
_FAMILY_WORDS = (r"mum|mam|mother|dad|father|husband|wife|son|daughter|nan|nana|gran|granny|grandad|grandma|"
                 r"grandson|granddaughter|brother|sister|aunt|auntie|uncle")
_FIRST_SINGULAR = re.compile(r"\b(?:I|I'm|I've|I'd|I'll|Im|Ive)\b|\b(?:my|me|mine|myself)\b", re.IGNORECASE)
_PRAISE = re.compile(r"\b(?:love|loved|great|brilliant|fantastic|excellent|amazing|wonderful|thank|thanks|positive|lovely|"
                     r"rubbish|awful|terrible|dreadful|disgrace|nightmare|madness|joke)\b", re.IGNORECASE)
# A clause that needs the sentence before it to make sense.
_CONTEXT_START = re.compile(
    r"^(?:it|its|it's|they|they're|them|their|this|that|these|those|he|she|his|her|which|who|whom|whose|"
    r"because|although|though|while|whereas|as|than|or|nor|if so|otherwise|instead|even|such|same here|"
    r"that's|here|again|too|either|should|would|could|can|will|might|may|must|is|are|was|were|has|had|"
    r"does|did|being done|also|both|every time|whenever|when|once|until|unless|since|turned|nearly|went|got|"
    r"ended|found|tried|waited|spent|took|came|said|told|apparently|anyway|meanwhile|besides|furthermore|"
    r"moreover|plus|then|therefore|so that|as a result|on top of that|what's more|yet)\b", re.IGNORECASE)
# Starts with a preposition: often the tail of a longer sentence ("Across the trust, the CCG …").
_PREP_START = re.compile(r"^(?:across|with|for|in|on|at|from|to|into|by|of|about|between|within|without|after|"
                         r"before|during|under|over|through)\b", re.IGNORECASE)
# A verdict on something ("Great that you're asking …", "Shame that …", "Good to see …"): it comments
# on what came before, or on the survey, rather than saying what should happen.
_REMARK = re.compile(r"^(?:(?:it'?s|it is|that'?s|that is)\s+)?(?:great|good|nice|lovely|brilliant|fantastic|"
                     r"wonderful|shame|a shame|sad|funny|typical|amazing|interesting|ironic)\s+(?:that|how|to see|"
                     r"to hear|you|you're|you are)\b", re.IGNORECASE)
_SPEAKER = re.compile(r"^(?:(?:speaking|writing|responding|answering)\s+as|as\s+an?\s+\S+(?:\s+\S+)?\s*$)\b",
                      re.IGNORECASE)
# "that"/"this" standing for something said before ("Don't let that happen", "Roll that out
# everywhere", "Keep this up"), not pointing at a noun ("Keep that service").
_DEMONSTRATIVE_OBJECT = re.compile(
    r"\b(?:let|make|do|did|does|done|stop|fix|prevent|change|keep|roll|see|watch|want|need|hear|say|said|like|love|"
    r"hate)\s+(?:that|this)\s+(?:happen\w*|again|out|back|up|work\w*|go|going|stop\w*|continue\w*)\b",
    re.IGNORECASE)
# "them"/"they" within the first words, with no plural noun before it that it could stand for
# ("Keep them going", "Identifying and supporting them …", but not "Ask patients where they …").
_UNANCHORED_PRONOUN = re.compile(r"^(?:(?!\w+s\b)\S+\s+){0,3}?(?:them|they|they're|these|those)\b", re.IGNORECASE)
# A place or standard named in another sentence: "GPs should refer people there", "We're nowhere near
# in rural areas" (near what the sentence before said).
_POINTS_ELSEWHERE = re.compile(r"\bthere\s*[.!]*\s*$|\b(?:nowhere near|not even close|far from it)\b"
                               r"(?!\s+(?:enough|as|the|a|an|our|their|being)\b)", re.IGNORECASE)
# Pronouns whose referent is in another sentence ("help design it", "do them").
_LOOSE_PRONOUN = re.compile(r"\b(?:it|them|they|this|these|those|there)\b", re.IGNORECASE)
_DANGLING_END = re.compile(
    r"\b(?:and|or|but|nor|so|the|a|an|to|of|for|with|in|on|at|by|from|into|onto|about|than|then|that|which|"
    r"who|whose|because|if|as|is|are|was|were|be|been|our|their|your|my|its|not|no|very|more|"
    r"such|like|e\.g|i\.e|eg|ie|etc|&|it|this|these|those|both|either|"
    # an auxiliary whose verb is in the sentence before: "Half the valley doesn't"
    r"does|do|did|doesn[’']?t|don[’']?t|didn[’']?t|can[’']?t|cannot|won[’']?t|isn[’']?t|aren[’']?t|"
    r"wasn[’']?t|weren[’']?t|hasn[’']?t|haven[’']?t|hadn[’']?t|couldn[’']?t|wouldn[’']?t|shouldn[’']?t|"
    r"can|could|will|would|should|has|have|had)$", re.IGNORECASE)
_COMMON_LOWER = frozenset("""a an and or but the of to in on at by for with from as is are was were be not no all
any every some more most very so too just only also our we us your you they them their it its this that these those
what which who when where why how if than then there here up down out over under again new old good bad now
yet still ever never""".split())
_IT_NOUN = re.compile(r" (?:systems?|department|support|team|staff|equipment|kit|issues|problems|services|training|"
                     r"helpdesk|help desk|infrastructure|access|network|kit|desk)\b", re.IGNORECASE)
# Acronyms that are also English words, kept in capitals.
_WORD_ACRONYMS = frozenset("send nice mind age pals cat ace hope step care bame aids asap".split())
MIN_WORDS, MAX_WORDS = 4, 15
LEANING_MAX_WORDS = 12
QUOTE_MAX_WORDS = 45
# A quote after the first must be at least this alike (cosine) to its statement: below it, in the 2019
# sample, were fragments ("In reality I've had one session in a year.") and other points ("Stop wasting
# money on glossy brochures …" under "Voice recognition for clinic letters", at 0.285).
QUOTE_MIN_SIMILARITY = 0.29
# How much less typical a quote in capitals is taken to be: enough to let a calm quote on the same
# point come first, not enough to lose the only quote that backs a statement.
SHOUTED_QUOTE_PENALTY = 0.08
ASK_FULL_GAP, ASK_NONE_GAP = 0.1, 0.2
N_ALTERNATIVES = 8


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def to_collective_voice(text: str) -> str:
    for pat, rep in _VOICE:
        text = re.sub(pat, rep, text)
    return text


def _strip(text: str) -> str:
    """Fillers, reported-speech framing and trailing politeness off; whitespace and punctuation tidied."""
    t = " ".join(text.split()).strip(" ,;:-–—\"'“”‘’")
    prev = None
    while prev != t:
        prev = t
        t = _LEADING_FILLER.sub("", t).strip(" ,;:-\"'“”")
        t = _REPORTED.sub("", t, count=1).strip(" ,;:-\"'“”") if _REPORTED.match(t) else t
        t = _TRAILING.sub("", t).strip()
    t = re.sub(r"[.!?,;:…]+$", "", t).strip()
    t = re.sub(r"([!?])\1+", r"\1", t)
    if t.count('"') % 2:  # an opening quote mark cut off with the framing: drop the orphan
        t = t.replace('"', "")
    if t.count("“") != t.count("”"):
        t = t.replace("“", "").replace("”", "")
    return t


# Emoji and other pictographs: a statement is printed in plain words ("No dentist 🦷😢 for 3 yrs").
_PICTOGRAPHS = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]+")


# "its a worry", "its not fair": "it's", as a printed statement must read; "its staff" stays.
_ITS_IS = re.compile(r"\b([Ii])ts (?=(?:a|an|the|not|so|too|very|all|just|been|getting|going|always|never|really|"
                     r"about|like|hard|impossible|ridiculous|disgraceful|terrible|awful|time|only|no|what|"
                     r"cheaper|better|worse|easier|harder|quicker|safer|cheap|easy|important|vital|essential|"
                     r"unacceptable|shocking|good|bad)\b)")


def clean_clause(text: str) -> str:
    """Strip fillers and trailing punctuation, fix the voice and "its a", drop emoji, capitalise: a
    printable phrase."""
    t = to_collective_voice(_strip(" ".join(_PICTOGRAPHS.sub(" ", text).split())))
    t = _ITS_IS.sub(r"\1t's ", t)
    return t[:1].upper() + t[1:] if t else t


def _balanced(text: str) -> bool:
    return (text.count("(") == text.count(")") and text.count('"') % 2 == 0
            and text.count("“") == text.count("”"))


def printable(text: str) -> bool:
    """Whether a cleaned clause can stand alone in print as a statement.

    4–15 words, no redaction placeholder, not a question, no dangling conjunction or preposition at
    either end, nothing that needs the previous sentence ("It would save …"), balanced quotes."""
    n = len(words(text))
    if not (MIN_WORDS <= n <= MAX_WORDS) or _PLACEHOLDER.search(text) or text.endswith("?") or "?" in text:
        return False
    if _DANGLING_END.search(text.rstrip(" .!,;:")) or _CONTEXT_START.match(text) or not _balanced(text):
        return False
    if re.search(r"\b(?:this|that|these|those)\b(?=\s*$|\s*,|\s+(?:and|but|or|so|because)\b)", text, re.IGNORECASE):
        return False  # "District councils are working on this and …": this what?
    if _DEMONSTRATIVE_OBJECT.search(text):
        return False
    if _UNANCHORED_PRONOUN.match(text):
        return False  # "Identifying and supporting them …": who?
    if not re.match(r"[A-Za-z0-9£\"“']", text):
        return False
    if _REMARK.match(text):
        return False  # "Great that you're asking us what matters": a remark on something, often sarcastic
    if _SPEAKER.match(text):
        return False  # "Speaking as a nurse": who says it, not what
    if _POINTS_ELSEWHERE.search(text):
        return False
    return True


def is_anecdote(raw: str) -> bool:
    """One person's episode or circumstances ("I've got heart failure", "my husband waited 4 hours",
    "a woman at the Penrith event said she …"), judged on the words as typed (before "I" becomes "we")."""
    if _REPORTED_ACCOUNT.search(raw) or re.search(r"\b(?:he|she|him|his|her|hers)\b", raw, re.IGNORECASE):
        return True  # a report of what one person said, or about one other person
    if _told_from_its_verb(raw):
        return True  # "Self harmed on the ward while on 15 minute obs": an episode whose subject was cut off
    if re.match(rf"\s*(?:(?:my|our)\s+)?(?:{_FAMILY_WORDS})\b", raw, re.IGNORECASE):
        return True  # "Mum needs her dressings changed …": one family's circumstances
    narrative = _NARRATIVE.findall(raw)
    first = bool(_FIRST_SINGULAR.search(raw)) or bool(re.match(r"\s*we(?:'ve| have)? (?:got|had|were|was)\b", raw, re.I))
    if first and narrative:
        return True
    own = _OWN_BURDEN.sub(" ", raw)  # "I have to ring up …" is what one person puts up with, not an ask
    if first and not is_ask(own) and not is_ask(to_collective_voice(_strip(own))):
        # "The course really helped me", "I can't afford to heat my house": one person's experience,
        # which "we" would turn into everyone's.
        return True
    if re.search(r"\b(?:I|I've|I have|I had|I'd|Ive|we've|we have|we had)\s+(?:just\s+|never\s+|always\s+|been\s+)?"
                 r"(?:\w+ed|been|had|got|seen|done|gone|made|taken|spent|lost|come|known|heard|felt|waited|"
                 r"left|met|paid|sat|kept|brought|bought|given|told|rung)\b", raw, re.I):
        return True
    if re.search(r"\b(?:would|could|might)(?:n'?t| not)? have\s+(?!to\b)\w+", raw, re.I):
        return True  # "A phone call would have taken 2 minutes": what should have happened, once
    return len(narrative) >= 2


_VERB_FIRST = re.compile(r"\s*(?:self[- ])?([a-z]+ed)\s+(?:on|at|in|for|by|from|to|with|after|before|into|out|home|"
                         r"back|off|twice|again|while|without)\b", re.IGNORECASE)
# Past forms that open a description or a wish, not an episode: "Focused on prevention", "Based in the
# community", "Asked before decisions are made", "Treated with respect".
_DESCRIBING = frozenset("focused focussed based centred centered located built joined linked aimed targeted tailored "
                        "geared designed committed dedicated devoted asked consulted involved listened heard treated "
                        "informed included supported valued respected trusted kept".split())


@lru_cache(maxsize=1)
def _past_forms() -> frozenset[str]:
    """Words ending in -ed that are a verb's past form ("harmed", "discharged"; not "need", "speed")."""
    from nlp.redact import lemma_tables

    index, forms = lemma_tables()
    verbs = set(index["verb"])
    return frozenset(w for w, lemma in forms.items() if w.endswith("ed") and lemma != w and lemma in verbs)


def _told_from_its_verb(raw: str) -> bool:
    """A clause opening with a verb's past form and a preposition, its subject cut off by a bracket
    or a full stop before it: "Self harmed on the ward …", "Discharged at 10pm with nothing …",
    "Waited for 6 hours". "Improved access to GPs" or "Dedicated support for carers" go on with
    a noun, and stay statements."""
    m = _VERB_FIRST.match(raw)
    return bool(m) and m.group(1).casefold() in _past_forms() and m.group(1).casefold() not in _DESCRIBING


@lru_cache(maxsize=1 << 18)  # asked once per category a sentence speaks to, every night
def leans_on_context(segment: str) -> bool:
    """A sentence whose point is in another sentence: a remark on it ("Yeah great that you're asking
    us what matters", "That's what matters"), or "that"/"them" standing for it ("Please don't let
    that happen", "Identifying and supporting them should be a priority"). Such a sentence is not
    evidence for a theme on its own; its answer's other sentences carry what it refers to. A longer
    sentence says something of its own ("Great that you're asking, but the surgery closes at 4")."""
    if len(segment.split()) > 2 * LEANING_MAX_WORDS:  # cheap: most sentences are long enough to stand
        return False
    t = _strip(segment)
    n = len(words(t))
    if n > LEANING_MAX_WORDS:
        return False
    short_verdict = re.match(r"(?:that'?s|that is|this is|it'?s|it is|same as|same here|ditto|again)\b", t, re.I)
    return bool(_REMARK.match(t) or _DEMONSTRATIVE_OBJECT.search(t) or (n <= 6 and short_verdict)
                or (n <= 10 and _UNANCHORED_PRONOUN.match(t)) or _POINTS_ELSEWHERE.search(t))


def is_ask(text: str) -> bool:
    """Reads as a want, need, should, or an imperative/"more of" suggestion (thanks are not asks)."""
    if re.search(r"\b(?:thank|thanks|love|loved)\b", text, re.IGNORECASE):
        return False
    return bool(_ASK_START.match(text) or _ASK_ANYWHERE.search(text))


_OPENS_CLAUSE = re.compile(r"(?i)(?<=\w)\s+(?:that|which|who|whose|where|because|if|when|whether|while|although)\b")


def _clauses(segment: str) -> list[tuple[str, str]]:
    """(raw, cleaned) clauses of a segment, with long ones also cut at their first comma."""
    out = []
    parts = [(p or "").strip() for p in _CLAUSE_SPLIT.split(segment)]
    for k, part in enumerate(parts):
        # What comes before a colon names or introduces what follows ("Alston Moor community
        # centre: residents raised …", "Three things:"): a heading, not something anyone asked for.
        if not part or part.endswith(":"):
            continue
        # What comes before ", but" is conceded, not the point, unless it asks for something itself:
        # "Online GP forms are fine if you have broadband | but half the valley doesn't".
        if k + 1 < len(parts) and re.match(r"but\b", parts[k + 1] or "", re.IGNORECASE) and not is_ask(part):
            continue
        # "Services are good but carers like me need a break": the ask after the "but" is the point;
        # printed whole, the statement would have everyone in the group saying that services are good.
        # Only an ask that stands on its own: "… is brilliant but they are so stretched" stays whole.
        if (praise := _PRAISE_BUT.match(part)) and len(words(praise.group(1))) >= MIN_WORDS \
                and is_ask(praise.group(1)) and printable(clean_clause(praise.group(1))) \
                and not _LOOSE_PRONOUN.search(praise.group(1)):
            part = praise.group(1)
        pieces = [part]
        head = part.split(", ")[0]
        # A long clause is also tried up to its first comma, unless that stops inside a clause of its
        # own: "Our work in Eden shows that village hubs, community transport and … keep people well".
        if len(words(part)) > MAX_WORDS and ", " in part and not _OPENS_CLAUSE.search(head) \
                and not _list_goes_on(head, part[len(head) + 2:]):
            pieces.append(head)
        # … or before a reason or contrast that follows the point: "Police end up taking people in
        # mental health crisis to A&E | because there is nothing else open".
        elif len(words(part)) > MAX_WORDS and (cut := _REASON.search(part)) \
                and len(words(part[:cut.start()])) >= MIN_WORDS:
            pieces.append(part[:cut.start()])
        for p in pieces:
            out.append((p, clean_clause(p)))
    return out


_PRAISE_BUT = re.compile(r"^(?:overall,? |on the whole,? |generally,? )?(?:i think |i feel )?[\w' ]{2,40}? (?:is|are|was|were) "
                         r"(?:\w+ )?(?:good|great|fine|ok|okay|brilliant|excellent|lovely|amazing|fantastic)\b,? "
                         r"but (.+)$", re.IGNORECASE)
# Not "but": what comes after it is usually the point ("The staff were kind but there were only two").
_REASON = re.compile(r"\s+(?:because|since|although|though|whereas|unless)\s", re.IGNORECASE)


def _list_goes_on(head: str, rest: str) -> bool:
    """Whether the comma after `head` is inside a list: "shared between the hospital, the GP and
    the mental health team" cut at it would say something else, and so would "Our staff have to
    phone, then email, then fill in a different portal" (a run of steps)."""
    piece = rest.split(", ")[0]
    if re.search(r"\b(?:between|both|either|neither)\b", " ".join(head.split()[-4:]), re.IGNORECASE):
        return True
    if re.match(r"then\s", piece, re.IGNORECASE) and len(words(piece)) <= 4:
        return True
    return (len(words(piece)) <= 8 and bool(re.search(r"\s(?:and|or|&)\s", piece))
            and not re.match(r"(?:and|or|but|so|then|because|which|who)\b", piece, re.IGNORECASE))


def candidate_clauses(segment: str) -> list[str]:
    """Clauses of a segment that could stand alone as a statement."""
    return [c for raw, c in _clauses(segment) if printable(c)]


def casing_table(texts: Sequence[str]) -> dict[str, str]:
    """How the theme's own texts spell words mid-sentence: {"cumbria": "Cumbria", "and": "and", …}.

    Used to put right a statement taken from an answer typed in lower case ("west cumbria") or
    in shouting capitals ("health AND care"), without a dictionary."""
    seen: dict[str, Counter] = {}
    for t in texts:
        for sent in re.split(r"(?<=[.!?:;])\s+|\n+", t):
            toks = _WORD.findall(sent)
            for w in toks[1:]:  # the first word of a sentence says nothing about its case
                seen.setdefault(w.casefold(), Counter())[w] += 1
    table = {}
    for key, forms in seen.items():
        form, n = forms.most_common(1)[0]
        if n >= 2 and n >= 0.75 * sum(forms.values()):
            table[key] = form
    return table


def fix_casing(text: str, table: dict[str, str] | None = None) -> str:
    """Lower-case shouted words ("need A break", "BUILD affordable homes"), restore proper nouns'
    capitals, capitalise the first word. A shouted word is a common word, one the theme's texts
    spell otherwise, or a dictionary word of four letters or more (the first word: of three or more)
    that is not also an acronym ("SEND", "NICE", "MIND"); "NHS", "WCH" and "IT" stay."""
    table = table or {}

    def one(m: re.Match) -> str:
        w = m.group(0)
        key = w.casefold()
        if w == "IT" and _IT_NOUN.match(text, m.end()):  # "IT systems", "the IT department"
            return w
        shouted = w.isupper() and (
            (len(w) > 1 or (w == "A" and m.start() > 0)) and (key in _COMMON_LOWER or table.get(key, w) != w)
            or key not in _WORD_ACRONYMS and len(w) >= (3 if m.start() == 0 else 4) and key in _dictionary())
        if shouted:
            return table.get(key, key) if not table.get(key, key).isupper() else key
        # A function word is never a proper noun, however often it follows a filler ("I think The …").
        if w.islower() and key in table and table[key][:1].isupper() and key not in _COMMON_LOWER:
            return table[key]
        return w

    t = _WORD.sub(one, text)
    return t[:1].upper() + t[1:] if t else t


def _keyword_cover(text: str, keywords: Sequence[str]) -> float:
    low = text.casefold()
    hits = sum(1 for k in keywords[:6] if re.search(rf"\b{re.escape(k.casefold())}", low))
    return hits / max(1, min(6, len(keywords)))


def _rare_names(text: str, member_low: Sequence[str], counts: dict[str, int]) -> int:
    """Capitalised words inside the clause (place or service names) that few of the theme's
    members use: a statement for many people should not name one person's surgery.
    `member_low` holds the members casefolded; `counts` remembers each word's member count, since
    a theme's candidate clauses share most of their names (thousands of members at scale)."""
    n = len(member_low)
    rare = 0
    for w in _WORD.findall(text)[1:]:
        if w[:1].isupper() and not w.isupper() and w.casefold() not in _COMMON_LOWER:
            key = w.casefold()
            if key not in counts:
                pattern = re.compile(rf"\b{re.escape(key)}\b")
                counts[key] = sum(1 for t in member_low if pattern.search(t))
            if counts[key] < max(2, 0.1 * n):
                rare += 1
    return rare


@lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    from nlp.redact import english_words

    return english_words()


def _misspelt(text: str, member_low: Sequence[str], counts: dict[str, int]) -> int:
    """Lower-case words that neither the dictionary nor a second member of the theme knows: likely
    typos ("thigns", "firefighitng"), which a printed statement should not carry when another
    wording says the same. A word the theme's members share ("camhs", "neurodiversity") is fine."""
    n = 0
    for w in _WORD.findall(text):
        if not (w.islower() and w.isalpha() and len(w) >= 4) or w in _dictionary():
            continue
        if w not in counts:
            pattern = re.compile(rf"\b{re.escape(w)}\b")
            counts[w] = sum(1 for t in member_low if pattern.search(t))
        n += counts[w] < 2
    return n


def _unknown_words(text: str) -> int:
    """Lower-case words of three letters or more that the dictionary does not know ("mor esport",
    "thei rbest", "pirmary")."""
    return sum(1 for w in _WORD.findall(text) if w.islower() and w.isalpha() and len(w) >= 3
               and w not in _dictionary())


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float
    ask: bool
    anecdote: bool


def statement_candidates(segments: Sequence[str], seg_emb: np.ndarray, centroid: np.ndarray,
                         keywords: Sequence[str], encode: Encoder, pool: int = 60,
                         limit: int = N_ALTERNATIVES) -> list[Candidate]:
    """Printable clauses from the theme's most central segments, best statement first.

    Score: closeness to the theme's centre, the share of its segments that say much the same
    (cosine >= 0.5), keyword coverage, and a preference for asks about as central as the closest
    clause; lists of nouns, complaints or praise without an ask, other people's place names, typos
    and long clauses are held back, and one person's episode (an anecdote) is never a candidate.
    Ties are broken by the text itself, so the order is a function of the members alone."""
    if len(segments) == 0:
        return []
    sims = seg_emb @ centroid
    central = sorted(range(len(segments)), key=lambda i: (-round(float(sims[i]), 6), segments[i]))[:pool]
    table = casing_table(segments)
    raw_of: dict[str, str] = {}
    for i in central:
        for raw, c in _clauses(segments[i]):
            if (general := _general_part(raw)) is not None:
                raw, c = general, clean_clause(general)
            c = fix_casing(c, table)
            if printable(c) and c.casefold() not in {k.casefold() for k in raw_of}:
                raw_of[c] = raw
    clauses = sorted(raw_of)
    if not clauses:
        return []
    ce = encode(clauses)
    sim = ce @ centroid
    # How many of the theme's segments say much the same: a statement should speak for many.
    support = (ce @ seg_emb.T >= 0.5).mean(axis=1)
    member_low, name_counts, word_counts = [t.casefold() for t in segments], {}, {}
    top = float(sim.max())
    out = []
    for c, s, sup in zip(clauses, sim, support):
        raw = raw_of[c]
        n = len(words(c))
        ask, anecdote = is_ask(c), is_anecdote(raw)
        commas = c.count(",")
        score = (float(s) + 0.3 * _keyword_cover(c, keywords) + 0.2 * float(sup)
                 + (0.2 * _ask_weight(float(s), top) if ask and not anecdote else 0.0)
                 - (0.35 if anecdote else 0.0)
                 - (0.1 if _PRAISE.search(c) and not ask else 0.0)
                 - 0.06 * max(0, commas - 1) - (0.05 if commas and not ask else 0.0)
                 - 0.08 * min(2, _rare_names(c, member_low, name_counts))
                 - (0.1 if _PREP_START.match(c) else 0.0)
                 - 0.05 * bool(_LOOSE_PRONOUN.search(c))
                 - 0.15 * bool(re.search(r"\bthis\b", " ".join(c.split()[:4]), re.I))
                 - 0.04 * bool(re.search(r"\d", c))
                 - 0.06 * min(2, _misspelt(c, member_low, word_counts))
                 - 0.015 * max(0, n - 11))
        out.append(Candidate(c, round(score, 6), ask, anecdote))
    out.sort(key=lambda k: (-k.score, k.text))
    # One person's episode is no statement of what many said (in the strategy's voice "… worked well
    # for me" becomes "… for us"): a theme of episodes alone is named by its keywords instead.
    return _as_most_spell_it([k for k in out if not k.anecdote][:limit], raw_of, segments, table)


def _as_most_spell_it(cands: list[Candidate], raw_of: dict[str, str], segments: Sequence[str],
                      table: dict[str, str]) -> list[Candidate]:
    """Each candidate in the spelling most of the theme's members who typed it used: user tests printed
    "Kids need mor esport at school", "Befrineding phone calls" and "NOW there SI nothing" while
    other members had typed the same words right. Among the clauses that are the candidate typed
    again (`same_text`), the one with the fewest words no dictionary knows wins, then the one the
    most members wrote ("si" is a word too)."""
    members: dict[str, str] = {}
    typed: Counter = Counter()
    for seg, n in Counter(segments).items():
        for raw, cleaned in _clauses(seg):
            members.setdefault(raw, cleaned)
            typed[_retyped_key(raw)] += n
    out, seen = [], set()
    for k in cands:
        raw = raw_of.get(k.text, k.text)
        variants = [r for r in members if abs(len(r) - len(raw)) <= 0.2 * len(raw) + 3 and same_text(raw, r)]
        best = max([raw, *variants], key=lambda r: (-_unknown_words(r.casefold()), typed[_retyped_key(r)], r == raw))
        text = k.text
        if best != raw and printable(fixed := fix_casing(members[best], table)):
            text = fixed
        if text.casefold() not in seen:
            seen.add(text.casefold())
            out.append(Candidate(text, k.score, k.ask, k.anecdote))
    return out


def _retyped_key(raw: str) -> str:
    return " ".join(_WORD.findall(raw.casefold()))


_AND_NEW_SUBJECT = re.compile(r"\s+and\s+(?=(?:the|my|our|i|we|he|she|they|it|his|her|their)\b)", re.IGNORECASE)


def _general_part(raw: str) -> str | None:
    """The general point an episode opens with, when it has one: "The community nurses at Keswick are
    wonderful | and the little hospital did my bloods" (None when the clause is no episode, or
    what comes before the "and" is one too)."""
    if not is_anecdote(raw):
        return None
    cut = _AND_NEW_SUBJECT.search(raw)
    if not cut or len(words(raw[:cut.start()])) < MIN_WORDS or is_anecdote(raw[:cut.start()]):
        return None
    return raw[:cut.start()]


def _ask_weight(sim: float, top: float) -> float:
    """How much of the preference for asks a clause gets: all of it when it is about as close to the
    theme's centre as the closest clause, none when it is much further (an ask from the theme's
    edge would head a theme of praise or complaints it does not speak for)."""
    return 1.0 - float(np.clip((top - sim - ASK_FULL_GAP) / (ASK_NONE_GAP - ASK_FULL_GAP), 0.0, 1.0))


_PRONOUNS = frozenset({"we", "us", "our", "you", "your", "they", "them", "their", "it", "its"})
# Words that name nothing on their own ("Concerns and ideas about self and life").
_ADVERBS = frozenset("""actually really basically literally obviously definitely probably certainly quickly properly
simply generally usually especially currently constantly totally completely absolutely honestly seriously
particularly clearly extremely massively hugely always never often sometimes still even already""".split())
_VAGUE = frozenset("""self end lot lots way thing things people person time times day days life need needs make made
get got getting going go really just like want good bad better worse work worked working take taking took
""".split())


def fallback_statement(keywords: Sequence[str]) -> str:
    """When no clause can be printed: say plainly what the theme is about, in two keywords that do
    not repeat each other's words ("asking thanks" and "thanks asking" are one keyword twice)."""
    kws: list[str] = []
    used: set[str] = set()
    for k in keywords:
        own = set(k.casefold().split())
        if "_" in k or _PLACEHOLDER.search(k) or own & used or _FIRST_SINGULAR.search(k) or own & _PRONOUNS \
                or all(_names_nothing(w) for w in own) or any("'" in w or "\u2019" in w for w in own):
            continue
        kws.append(k)
        used |= own
        if len(kws) == 2:
            break
    if kws:
        return clean_clause(f"{KEYWORD_NAME} {' and '.join(kws)}")
    return OTHER_POINTS


KEYWORD_NAME, OTHER_POINTS = "Concerns and ideas about", "Other points people raised"


def named_by_keywords(statement: str) -> bool:
    """Whether a statement is `fallback_statement`'s name for a group with no printable wording of
    its own: a label for the evidence, not something people said (the reports keep it out of the
    "they said" list)."""
    return statement.startswith(KEYWORD_NAME + " ") or statement == OTHER_POINTS


# A group's statement "speaks for" a person with a sentence at least this alike to it (MiniLM cosine);
# a group it speaks for less than MIXED_AGREEMENT of is a mix of points, not one thing people said.
AGREE_SIMILARITY, MIXED_AGREEMENT = 0.4, 0.15


def statement_agreement(statement: np.ndarray, emb: np.ndarray, persons: Sequence[str],
                        floor: float = AGREE_SIMILARITY) -> float:
    """The share of a group's people with a sentence at least `floor` alike to its statement's vector
    (`emb` rows are the group's sentences, `persons` who wrote each). On the 2019 sample most groups
    score 0.3-0.8; the leftovers of short sentences that lean on their context ("So I went bank.",
    "I feel lucky.") score under 0.1 whichever of their sentences is taken as the statement."""
    if not len(persons):
        return 0.0
    close = {p for p, sim in zip(persons, emb @ statement) if sim >= floor}
    return len(close) / len(set(persons))


_PRAISE_ONLY = re.compile(r"\b(?:love|loved|great|brilliant|fantastic|excellent|amazing|wonderful|lovely|superb|"
                          r"marvellous|outstanding|thank|thanks|grateful|a credit|(?:are|were|was|is) (?:so |very |"
                          r"really )?(?:good|kind|helpful|caring))\b", re.IGNORECASE)
_STILL_ASKS = re.compile(r"\b(?:more|keep|please|again|expand|extend|everywhere|every|should|need|needs)\b",
                         re.IGNORECASE)
_ASKS_FOR_PRAISE = re.compile(r"\b(?:well|good|like|value|valued|best|proud|praise)\b", re.IGNORECASE)


def praise_only(statement: str, heading: str = "") -> bool:
    """Whether a statement praises what is done now without asking for anything ("The nurses on
    Larchfield ward were brilliant"): under a heading that asks what must be done it is no answer, and
    stays out of the "they said" list. "The family hub is brilliant, more of them" still asks, and a
    heading that asks what works well ("What do we do well?") wants praise."""
    return (bool(_PRAISE_ONLY.search(statement)) and not _STILL_ASKS.search(statement) and not is_ask(statement)
            and not _ASKS_FOR_PRAISE.search(heading or ""))


def views_differ(by_sentiment: dict | None) -> bool:
    """Whether a group's people are both for and against: at least three positive and three negative,
    each side at least 15% of the group. "Staff should not have to pay to park" over a group that also
    holds "Car park charges for staff are fair" speaks for one side. Tone is the writer's, not their
    stance on the statement, so a few words of praise in a group of complaints do not count: on the
    2019 sample two groups of 56 qualify ("The car park at WCH is a disgrace for staff": 6 negative,
    3 positive of 16)."""
    by = by_sentiment or {}
    n = sum(by.values())
    side = min(by.get("positive", 0), by.get("negative", 0))
    return side >= 3 and side >= 0.15 * n


def is_mixed(statement: str, agreement: float | None) -> bool:
    """Whether a group is a mix of points that its statement does not speak for (see
    `statement_agreement`); a group named by its keywords is already not a statement."""
    return agreement is not None and agreement < MIXED_AGREEMENT and not named_by_keywords(statement)


def _names_nothing(word: str) -> bool:
    """A keyword that cannot say what a theme is about: a vague word, a manner adverb ("actually"),
    text-speak ("didnt", "yrs"), or an English word that is never a noun ("exhausted", "seen",
    "nearly"). Words no dictionary knows (places, "camhs", "wch") can name a theme."""
    return (word in _VAGUE or word in _ADVERBS or word in _TEXT_SPEAK
            or (word in _dictionary() and not _is_noun(word)))


_TEXT_SPEAK = frozenset("""didnt dont cant wont isnt doesnt wasnt werent couldnt wouldnt shouldnt havent hasnt arent
aint im ive id youre theyre thats theres whats yrs yr wks mins hrs thx pls plz tho""".split())


@lru_cache(maxsize=1)
def _nouns() -> frozenset[str]:
    """WordNet's nouns, from spacy-lookups-data's lemma index."""
    from nlp.redact import lemma_tables

    return frozenset(w.casefold() for w in lemma_tables()[0]["noun"])


def _is_noun(word: str) -> bool:
    """A noun, or the plural of one ("faces"); not a verb form whose stem happens to be one
    ("exhausted" -> exhaust, "seen" -> see)."""
    from nlp.redact import lemma_tables

    nouns, forms = _nouns(), lemma_tables()[1]
    return word in nouns or (word.endswith("s") and forms.get(word, word) in nouns)


def make_statement(segments: Sequence[str], seg_emb: np.ndarray, centroid: np.ndarray,
                   keywords: Sequence[str], encode: Encoder, pool: int = 60) -> str:
    """The best printable clause of the theme (see `statement_candidates`), 4–15 words."""
    cands = statement_candidates(segments, seg_emb, centroid, keywords, encode, pool=pool)
    return cands[0].text if cands else fallback_statement(keywords)


def reusable_statement(text: str | None, alternatives: Sequence[str] | None = None, top: int = 3) -> str | None:
    """The wording to keep from an earlier run, or None when today's rules would not choose it.

    It must still be printable and not an anecdote; given the theme's current candidate wordings,
    it must also be one of the `top` best (case and punctuation aside), and their spelling is returned, so
    stability never preserves wording that today's members and rules no longer put near the top."""
    if not text or not printable(text) or is_anecdote(text):
        return None
    if alternatives is None:
        return text
    key = normalise_statement(text)
    return next((a for a in list(alternatives)[:top] if normalise_statement(a) == key), None)


def normalise_statement(text: str) -> str:
    """The wording as compared across themes: case, punctuation and spacing ignored."""
    return " ".join(re.findall(r"[a-z0-9£&]+", text.casefold().replace("’", "'")))


def same_wording(a: str, b: str) -> bool:
    wa, wb = normalise_statement(a), normalise_statement(b)
    if wa == wb:
        return True
    sa, sb = set(wa.split()), set(wb.split())
    return len(sa & sb) / max(1, len(sa | sb)) >= 0.8


def distinct_statements(options: Sequence[Sequence[tuple[str, float]]], strength: Sequence[float],
                        fixed: Sequence[str | None] | None = None,
                        fallback: Sequence[str] | None = None) -> list[str]:
    """One wording per theme, no two the same (or nearly: 80% of words shared), across a report.

    options[i] are theme i's candidate wordings, best first, with their scores; strength[i] breaks
    ties (e.g. people counted). A `fixed` wording (kept from the last run for stability) is tried
    first. When two themes want the same words, the one with the higher claim (fixed first, then
    the candidate's score, then strength, then position) keeps them and the other moves to its
    next candidate; a theme that runs out gets its fallback, numbered if even that is taken."""
    n = len(options)
    fixed = list(fixed) if fixed is not None else [None] * n
    fallback = list(fallback) if fallback is not None else ["Other points people raised"] * n
    lists: list[list[tuple[str, float, bool]]] = []
    for i in range(n):
        lst = [(fixed[i], float("inf"), True)] if fixed[i] else []
        lst += [(t, float(s), False) for t, s in options[i] if not (fixed[i] and same_wording(t, fixed[i]))]
        lists.append(lst)
    pos = [0] * n
    chosen: list[str | None] = [None] * n
    for _ in range(sum(len(x) for x in lists) + n + 1):
        chosen = [lists[i][pos[i]][0] if pos[i] < len(lists[i]) else None for i in range(n)]
        loser = None
        for i in range(n):
            if chosen[i] is None:
                continue
            for j in range(i + 1, n):
                if chosen[j] is None or not same_wording(chosen[i], chosen[j]):
                    continue
                ki = (lists[i][pos[i]][2], lists[i][pos[i]][1], strength[i], -i)
                kj = (lists[j][pos[j]][2], lists[j][pos[j]][1], strength[j], -j)
                loser = j if ki >= kj else i
                break
            if loser is not None:
                break
        if loser is None:
            break
        pos[loser] += 1
    out: list[str] = []
    for i in range(n):
        text = chosen[i]
        if text is None:
            text = fallback[i]
            taken = out + [c for c in chosen if c]
            if any(same_wording(text, o) for o in taken):
                # Numbered copies share most words with each other, so only exact repeats count here.
                exact = {o.casefold() for o in taken}
                k = 2
                while (text := f"{fallback[i]} ({k})").casefold() in exact:
                    k += 1
        out.append(text)
    return out


_ITEM_MARKER = re.compile(r"^(?:[-–•*·]|\d{1,2}[.)])\s+")


_DISTRESSING = re.compile(
    r"\b(?:suicid\w*|self[- ]?harm\w*|overdos\w*|took (?:his|her|their|my) own life|kill(?:ed|ing)? (?:him|her|my|them)"
    r"sel(?:f|ves)|end (?:it all|(?:his|her|my|their) life)|cut(?:s|ting)? (?:him|her|my|them)sel(?:f|ves)|hang(?:ed|ing)? "
    r"(?:him|her|my|them)sel(?:f|ves)|wanted to die|want to die)", re.IGNORECASE)


def distressing(text: str) -> bool:
    """Whether a quote speaks of suicide or self-harm: a reader is told before such a quote, as
    guidance on reporting suicide asks (a carer's "my daughter cut herself again last night")."""
    return bool(_DISTRESSING.search(text))


def shouted(text: str) -> bool:
    """Typed mostly in capitals: at least 12 letters, 60% or more of them upper case ("WHY CANT I
    GET A GP APPOINTMENT"); acronyms in a sentence ("NHS", "A&E", "CAMHS") stay well below that."""
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) >= 0.6 * len(letters)


def trim_quote(text: str, max_words: int = QUOTE_MAX_WORDS) -> str:
    """Short enough to print: whole sentences up to the limit, marking any cut with an ellipsis; a
    list item's bullet or number and a separator left at its end ("… exercise.;") are not printed."""
    text = _ITEM_MARKER.sub("", " ".join(text.split())).rstrip(" ;,")
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


def _same_words(a: set[str], b: set[str], slack: int = 2) -> bool:
    """One word set holds the other but for at most `slack` words: the same quote, give or take "please"."""
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return small <= big and len(big - small) <= slack


def same_text(a: str, b: str) -> bool:
    """The same answer typed again with a slip or two ("theer is never a space" / "nveer a space")."""
    m = difflib.SequenceMatcher(None, a.casefold(), b.casefold(), autojunk=False)
    return m.quick_ratio() >= 0.9 and m.ratio() >= 0.9


def select_quotes(texts: Sequence[str], emb: np.ndarray, centroid: np.ndarray, persons: Sequence[str],
                  n: int = 3, diversity: float = 0.35, statement: np.ndarray | None = None,
                  sources: Sequence[str] | None = None) -> list[int]:
    """Typical but different quotes (maximal marginal relevance), one per person.

    A quote should back the statement printed above it, so closeness to the statement counts as
    much as closeness to the theme's centre when the statement's vector is given. Quotes with a
    redaction placeholder are never used (what is left of them can still point to someone: "ring
    [NAME]'s secretary"), even if a theme is left with fewer quotes; neither is one with the same
    words as a quote already chosen give or take two ("Being listened to by the board - please") or
    but for typos ("theer is never a space" / "nveer a space").
    Very short answers ("Health and housing.") and rambling ones are held back, and so are answers
    typed mostly in capitals (printed first, a shouted quote reads as the strategy's tone); a new
    source is slightly preferred. Beyond the first, a quote must be at least QUOTE_MIN_SIMILARITY alike to
    the statement: "Training time that isn't taken out of my days off" (cosine 0.09) does not back
    "Laptops for community staff", and a theme shows fewer quotes rather than such a one."""
    n_words = np.array([len(t.split()) for t in texts])
    rel = emb @ centroid
    to_statement = emb @ statement if statement is not None else np.ones(len(texts))
    if statement is not None:
        rel = 0.5 * rel + 0.5 * to_statement
    rel = rel - 0.02 * np.maximum(0, 8 - n_words) - 0.002 * np.maximum(0, n_words - 30)
    rel = rel - SHOUTED_QUOTE_PENALTY * np.array([shouted(t) for t in texts])
    has_ph = np.array([bool(_PLACEHOLDER.search(t)) for t in texts])
    word_sets = [set(_WORD.findall(t.casefold())) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: texts[i])  # ties go to the text, not the row order
    chosen: list[int] = []
    seen: set[str] = set()
    seen_src: set[str] = set()
    retyped: set[int] = set()  # the same words as a chosen quote but for typos: checked on the winner only
    while len(chosen) < min(n, len(texts)):
        best, best_score = -1, -np.inf
        for i in order:
            if i in chosen or i in retyped or persons[i] in seen or n_words[i] < 3 or has_ph[i]:
                continue
            if chosen and to_statement[i] < QUOTE_MIN_SIMILARITY:  # the best quote always; others must back it
                continue
            red = max((float(emb[i] @ emb[j]) for j in chosen), default=0.0)
            if red > 0.92 or any(_same_words(word_sets[i], word_sets[j]) for j in chosen):  # a near-duplicate
                continue
            s = (1 - diversity) * rel[i] - diversity * red
            if sources is not None and chosen and sources[i] not in seen_src:
                s += 0.02
            if s > best_score + 1e-9:
                best, best_score = i, s
        if best < 0:
            break
        if any(same_text(texts[best], texts[j]) for j in chosen):
            retyped.add(best)
            continue
        chosen.append(best)
        seen.add(persons[best])
        if sources is not None:
            seen_src.add(sources[best])
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
    alternatives: list[tuple[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"theme_id": self.theme_id, "text": self.text, "n": self.n, "by_source": self.by_source,
                "keywords": self.keywords, "quotes": self.quotes, "answers": self.answers,
                "n_segments": self.n_segments, "alternatives": [t for t, _ in self.alternatives], **self.extra}


def theme_quotes(seg: pd.DataFrame, emb: np.ndarray, statement: np.ndarray | None, n_quotes: int = 3) -> list[dict]:
    """The theme's quotes, trimmed and attributed, chosen to back the statement's vector (when given).
    An `attribution` column, where `seg` has one, is what each row may print (see
    nlp.attribution.Disclosure); without one, the full attribution from its metadata. Called again when a theme's wording changes (see `distinct_statements`), so quotes match it."""
    centroid = emb.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    texts = seg["text"].tolist()
    persons = (seg["source_file"] + "\x1f" + seg["respondent_id"]).tolist()
    q_idx = select_quotes(texts, emb, centroid, persons, n=n_quotes, statement=statement,
                          sources=seg["source"].tolist())
    meta = seg["metadata"] if "metadata" in seg else pd.Series(["{}"] * len(seg), index=seg.index)
    said_by = (seg["attribution"].tolist() if "attribution" in seg
               else [attribution(s, m) for s, m in zip(seg["source"], meta)])
    return [{"text": trim_quote(texts[i]), "source": seg["source"].iat[i],
             "source_file": seg["source_file"].iat[i], "respondent_id": seg["respondent_id"].iat[i],
             "attribution": said_by[i]}
            for i in q_idx]


def summarise_theme(theme_id: int, seg: pd.DataFrame, emb: np.ndarray, keywords: Sequence[str],
                    encode: Encoder, n_quotes: int = 3) -> Statement:
    """One statement with its evidence. `seg` has columns text, source, source_file,
    respondent_id, question (one row per segment of the theme), aligned with `emb`.

    `alternatives` holds the statement's ranked candidate wordings (itself first) for
    `distinct_statements`."""
    centroid = emb.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    texts = seg["text"].tolist()
    cands = statement_candidates(texts, emb, centroid, keywords, encode)
    statement = cands[0].text if cands else fallback_statement(keywords)
    quotes = theme_quotes(seg, emb, encode([statement])[0] if cands else None, n_quotes)
    meta = seg["metadata"] if "metadata" in seg else pd.Series(["{}"] * len(seg), index=seg.index)
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
    alternatives = [(c.text, c.score) for c in cands] or [(statement, 0.0)]
    return Statement(theme_id=theme_id, text=statement, keywords=list(keywords), n=len(people),
                     by_source=by_source, quotes=quotes, answers=answers, n_segments=len(seg), extra=extra,
                     alternatives=alternatives)
