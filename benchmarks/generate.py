"""A synthetic engagement of N answers, built from the project's own labelled answers, for scale tests.

Usage:
  .venv/bin/python benchmarks/generate.py N [--out DIR] [--seed S]
  .venv/bin/python benchmarks/generate.py --add N --out DIR [--seed S]   # one more export, in the inbox

Real answers are recombined rather than copied, so a load of 100,000 answers has (almost) as many
different texts and sentences as a real one would: the embedding cache gets no free ride. Each
synthetic answer starts from a real answer of the same source and question (so its length follows
the real distribution and it stays on that answer's topic); its sentences are swapped for sentences of
other answers sharing the first label, clauses are recombined across such sentences, and place names
and openers vary. A few per cent are non-answers ("n/a") and a few are long answers of two parts.

The working area it writes (`engage run --home DIR` processes it) looks like a real engagement:
  data/raw/public/public-survey-wave-K.csv   SmartSurvey wide exports (ID, times, IP, Q1, Q2, age, postcode),
                                             with about 1% double submissions (same person, minutes later)
  data/raw/public/public-survey-coded.csv    a tidied long copy of about 3% of public answers (the same
                                             answers in two exports: counted once)
  data/raw/staff/staff-survey.csv            a generic long export (response_id, question, text)
  data/raw/healthwatch/healthwatch-notes.csv a long export with a "Respondent type" column
  data/raw/partner/partner-survey.csv        a semicolon-separated wide export with an Organisation column
  data/raw/labels/<taxonomy>/                the labelled answers, for training
  config/                                    the repository's config, with sources.yaml for these files
N counts every answer written, duplicates included. The same N and seed give the same bytes.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "data/raw/engagement-2019/labelled_responses.csv"
TAXONOMY = "north-cumbria-2019-2024"

SHARES = {"public": 0.45, "staff": 0.28, "healthwatch": 0.17, "partner": 0.10}
PUBLIC_QUESTIONS = ("What matters most to you about health and care?", "What should we do over the next five years?")
WAVE_ANSWERS = 20_000          # answers per public export file
DOUBLE_SUBMISSION_SHARE = 0.01  # of public respondents, who send the same form twice
CODED_COPY_SHARE = 0.03        # of public answers, also in a tidied long export
NON_ANSWER_SHARE = 0.03
LONG_ANSWER_SHARE = 0.03
# Typed non-answers: read as answers, then flagged as saying nothing ("n/a" alone is not an answer at all).
NON_ANSWERS = ("No comment", "Nothing to add", "None", "no comment thanks", "Not sure", "n/a thanks", "nothing")
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75+", "Prefer not to say", "")
AGE_WEIGHTS = (15, 32, 47, 43, 42, 42, 21, 8, 4)
DISTRICTS = ("CA28", "CA14", "CA1", "CA13", "CA3", "CA11", "CA12", "CA2", "", "CA15", "CA10", "CA7", "CA8",
             "CA25", "CA9", "CA22", "CA16", "CA20", "LA18")
DISTRICT_WEIGHTS = (60, 26, 20, 17, 17, 16, 16, 14, 13, 13, 8, 7, 5, 5, 4, 4, 4, 3, 2)
PLACES = ("Carlisle", "Whitehaven", "Workington", "Penrith", "Keswick", "Cockermouth", "Maryport", "Wigton",
          "Alston", "Brampton", "Egremont", "Millom", "Appleby", "Silloth", "Aspatria", "Longtown")
OPENERS = ("", "", "", "", "", "Honestly, ", "For me, ", "I think ", "To be honest ", "Personally, ",
           "In my experience ", "Above all, ", "Mainly ", "Really, ")
CLOSERS = ("",) * 12 + (" Thank you.", " That's all.", " Please listen.", " Thanks for asking.")
ORGANISATIONS = ("Age UK West Cumbria", "Cumbria Fire and Rescue", "Carlisle Eden Mind", "Cumbria County Council",
                 "Carers Support North Cumbria", "West Cumbria Community Trust", "Eden District Council",
                 "Copeland Citizens Advice", "North Cumbria Housing", "Allerdale Food Bank")
PARTNER_QUESTIONS = ("How could the NHS work better with your organisation?",
                     "What are the biggest barriers to partnership working?",
                     "What should the health and care system prioritise over the next five years?")
HEALTHWATCH_TYPES = ("Healthwatch Cumbria", "Healthwatch event", "Healthwatch (phone)")

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=\S)")
_CLAUSE = re.compile(r"(?<=,)\s+|(?<=;)\s+|\s+(?=(?:and|but|because|so|or) )")
_PLACE = re.compile(r"\b(" + "|".join(PLACES) + r")\b")
_CONJUNCTION = re.compile(r"^(?:and|but|because|so|or)\s+", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d:/.£-])\b[1-9]\d?\b(?![\d:/.%])")
# Everyday alternatives people use for the same thing; one may be swapped per sentence.
SWAPS = (("GP", "doctor"), ("doctor", "GP"), ("really", "very"), ("very", "really"), ("hospital", "infirmary"),
         ("appointment", "appt"), ("staff", "people"), ("need", "want"), ("more", "better"),
         ("the NHS", "the health service"), ("services", "care"), ("nurses", "nursing staff"), ("waiting", "queueing"), ("help", "support"),
         ("support", "help"), ("local", "nearby"), ("get", "have"), ("because", "as"), ("lot", "great deal"))
CONNECTORS = (", ", ", and ", ", and ", ", but ", " because ", ", so ")


@dataclass(frozen=True)
class Corpus:
    """The labelled answers, cut into sentences and clauses and grouped by first label."""
    answers: pd.DataFrame                       # source, question, text, label, sentences
    sentences_by_label: dict[str, list[str]]
    clauses_by_label: dict[str, list[str]]


def load_corpus(path: Path = LABELLED) -> Corpus:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df = df[df["text"].str.strip() != ""].reset_index(drop=True)
    df["label"] = df["labels"].str.split(";").str[0].str.strip()
    df["sentences"] = [[s.strip() for s in _SENTENCE.split(t.strip()) if s.strip()] for t in df["text"]]
    sentences: dict[str, list[str]] = {}
    clauses: dict[str, list[str]] = {}
    for label, sents in zip(df["label"], df["sentences"]):
        sentences.setdefault(label, []).extend(sents)
        for s in sents:
            if '"' in s:  # a quotation cut in two would leave a stray quote mark
                continue
            for c in _CLAUSE.split(s):
                c = _CONJUNCTION.sub("", c.strip().rstrip(",;.!? "))
                if len(c.split()) >= 3:
                    clauses.setdefault(label, []).append(c)
    return Corpus(df, sentences, clauses)


def _continue(clause: str) -> str:
    """A clause as it reads after a comma: lower-case first letter, unless it is "I" or a name."""
    first = clause.split(" ", 1)[0]
    if first[:1].isupper() and (first[1:].islower() or first == "A") and first not in PLACES \
            and not first.startswith(("I'", "I’")):
        return clause[:1].lower() + clause[1:]
    return clause


class AnswerMaker:
    """Deterministic synthetic answers for one (source, question), recombined from real ones."""

    def __init__(self, corpus: Corpus, rng: np.random.Generator):
        self.corpus = corpus
        self.rng = rng
        self.by_sq = {k: g.index.to_numpy() for k, g in corpus.answers.groupby(["source", "question"])}
        self.by_source = {k: g.index.to_numpy() for k, g in corpus.answers.groupby("source")}
        self.labels = corpus.answers["label"].tolist()
        self.sentences = corpus.answers["sentences"].tolist()
        self.words = [len(t.split()) for t in corpus.answers["text"]]

    def _pick(self, items: list[str] | tuple[str, ...]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def _vary(self, sentence: str, label: str) -> str:
        """Recombine clauses with another sentence on the same topic; move places, numbers and words."""
        if self.rng.random() < 0.75 and '"' not in sentence:
            parts = _CLAUSE.split(sentence)
            head = " ".join(parts[:int(self.rng.integers(1, len(parts)))]) if len(parts) > 1 else sentence
            tail = _continue(self._pick(self.corpus.clauses_by_label[label]))
            sentence = head.rstrip(",;.!? ") + self._pick(CONNECTORS) + tail + "."
        if _PLACE.search(sentence) and self.rng.random() < 0.7:
            sentence = _PLACE.sub(lambda _m: self._pick(PLACES), sentence)
        if _NUMBER.search(sentence) and self.rng.random() < 0.6:
            sentence = _NUMBER.sub(lambda m: str(max(1, int(int(m.group()) * self.rng.uniform(0.5, 2.0)))), sentence)
        swaps = [(a, b) for a, b in SWAPS if f" {a} " in sentence]
        if swaps and self.rng.random() < 0.5:
            a, b = swaps[int(self.rng.integers(len(swaps)))]
            sentence = sentence.replace(f" {a} ", f" {b} ", 1)
        return sentence

    def answer(self, source: str, question: str | None = None) -> str:
        """An answer of `source` to `question` (any of the source's questions when None)."""
        if self.rng.random() < NON_ANSWER_SHARE:
            return self._pick(NON_ANSWERS)
        pool = self.by_sq.get((source, question)) if question else None
        pool = pool if pool is not None and len(pool) else self.by_source[source]
        text = self._from(int(pool[int(self.rng.integers(len(pool)))]))
        if self.rng.random() < LONG_ANSWER_SHARE:
            text += " " + self._from(int(pool[int(self.rng.integers(len(pool)))]))
        return text

    def _from(self, row: int) -> str:
        """A new answer modelled on a real one: its topic, its number of sentences, about its length."""
        label, out = self.labels[row], []
        for s in self.sentences[row]:
            if self.rng.random() < 0.5:
                s = self._pick(self.corpus.sentences_by_label[label])
            out.append(self._vary(s, label))
        limit = self.words[row] * self.rng.uniform(1.0, 1.3)
        while len(out) > 1 and sum(len(s.split()) for s in out) > limit:
            out.pop(int(self.rng.integers(1, len(out))))
        text = " ".join(out)
        opener = self._pick(OPENERS)
        if opener:
            text = opener + _continue(text)
        return text + self._pick(CLOSERS)


def _split(n: int) -> dict[str, int]:
    """Answers per source, summing to n."""
    counts = {s: int(round(n * share)) for s, share in SHARES.items()}
    counts["public"] += n - sum(counts.values())
    return counts


def _csv_bytes(rows: list[list[str]], delimiter: str = ",", quote_all: bool = False, bom: bool = False) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL,
               lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")


def public_waves(maker: AnswerMaker, n: int, rng: np.random.Generator, first_id: int,
                 start: datetime) -> tuple[list[list[list[str]]], list[tuple[str, str, str]]]:
    """SmartSurvey wide rows (header first) in waves of about WAVE_ANSWERS answers, and the
    (respondent id, question, text) of every answer written, for the coded copy."""
    header = ["Response ID", "Started", "Ended", "IP Address", f"Q1. {PUBLIC_QUESTIONS[0]}",
              f"Q2. {PUBLIC_QUESTIONS[1]}", "Q3. Age group", "Q4. Postcode district"]
    ages = np.asarray(AGE_WEIGHTS, float) / sum(AGE_WEIGHTS)
    districts = np.asarray(DISTRICT_WEIGHTS, float) / sum(DISTRICT_WEIGHTS)
    waves: list[list[list[str]]] = []
    written: list[tuple[str, str, str]] = []
    rows: list[list[str]] = [header]
    done, in_wave, rid, when = 0, 0, first_id, start
    while done < n:
        q1 = maker.answer("public", PUBLIC_QUESTIONS[0])
        q2 = maker.answer("public", PUBLIC_QUESTIONS[1]) if n - done > 1 and rng.random() > 0.27 else ""
        age = AGE_BANDS[rng.choice(len(AGE_BANDS), p=ages)]
        district = DISTRICTS[rng.choice(len(DISTRICTS), p=districts)]
        when += timedelta(seconds=int(rng.integers(20, 900)))
        took = timedelta(seconds=int(rng.integers(120, 1500)))
        copies = 2 if rng.random() < DOUBLE_SUBMISSION_SHARE and n - done >= 2 * (1 + bool(q2)) else 1
        for c in range(copies):
            t0 = when + timedelta(minutes=4 * c)
            rows.append([str(rid), t0.strftime("%d/%m/%Y %H:%M:%S"), (t0 + took).strftime("%d/%m/%Y %H:%M:%S"), "",
                         q1, q2, age, district])
            if c == 0:
                written.append((str(rid), PUBLIC_QUESTIONS[0], q1))
                if q2:
                    written.append((str(rid), PUBLIC_QUESTIONS[1], q2))
            rid += 1
            done += 1 + bool(q2)
            in_wave += 1 + bool(q2)
        if in_wave >= WAVE_ANSWERS:
            waves.append(rows)
            rows, in_wave = [header], 0
    if len(rows) > 1:
        waves.append(rows)
    return waves, written


def long_rows(maker: AnswerMaker, source: str, n: int, prefix: str, per_person: int,
              type_values: tuple[str, ...] | None = None) -> list[list[str]]:
    """A long export: one row per answer; each person answers up to `per_person` questions."""
    questions = sorted(q for s, q in maker.by_sq if s == source)
    header = ["response_id", "question", "text"] + (["Respondent type"] if type_values else [])
    rows, person = [header], 0
    while len(rows) - 1 < n:
        person += 1
        for q in questions[:per_person]:
            if len(rows) - 1 >= n:
                break
            row = [f"{prefix}-{person:06d}", q, maker.answer(source, q)]
            rows.append(row + ([maker._pick(type_values)] if type_values else []))
    return rows


def partner_rows(maker: AnswerMaker, n: int, start: datetime) -> list[list[str]]:
    """A partner survey as a colleague saved it: semicolon-separated, one row per organisation's reply."""
    header = ["Ref", "Submitted", "Organisation", *PARTNER_QUESTIONS]
    rows, k = [header], 0
    while k < n:
        answers = []
        for q in PARTNER_QUESTIONS:
            answers.append(maker.answer("partner", q) if k < n else "")
            k += bool(answers[-1])
        rows.append([f"P{len(rows):05d}", (start + timedelta(hours=len(rows))).strftime("%d/%m/%Y"),
                     maker._pick(ORGANISATIONS), *answers])
    return rows


def write_config(home: Path) -> None:
    """The repository's config and labelled answers, and a sources.yaml naming these exports' groups."""
    shutil.copytree(ROOT / "config", home / "config", dirs_exist_ok=True)
    labels = home / "data/raw/labels" / TAXONOMY
    labels.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "data/raw/labels" / TAXONOMY / "engagement-2019.csv", labels / "engagement-2019.csv")
    manifest = {"files": [{"pattern": "public/*", "source": "public"}, {"pattern": "staff/*", "source": "staff"},
                          {"pattern": "healthwatch/*", "source": "healthwatch"},
                          {"pattern": "partner/*", "source": "partner"}]}
    (home / "config/sources.yaml").write_text("# Written by benchmarks/generate.py\n" + yaml.safe_dump(manifest))


def generate(n: int, out: Path, seed: int = 0) -> dict[str, int]:
    """Write a working area with about n answers (duplicates included); returns answers per file."""
    if n < 10:
        raise ValueError("N must be at least 10")
    rng = np.random.default_rng(seed)
    maker = AnswerMaker(load_corpus(), rng)
    raw = out / "data/raw"
    for d in ("public", "staff", "healthwatch", "partner"):
        (raw / d).mkdir(parents=True, exist_ok=True)
    write_config(out)
    counts = _split(n)
    coded_n = int(counts["public"] * CODED_COPY_SHARE)
    waves, written = public_waves(maker, counts["public"] - coded_n, rng, 104_900_000, datetime(2019, 7, 8, 9))
    files: dict[str, int] = {}
    for k, rows in enumerate(waves, 1):
        name = f"public/public-survey-wave-{k}.csv"
        (raw / name).write_bytes(_csv_bytes(rows, quote_all=True, bom=True))
        files[name] = sum(bool(r[4]) + bool(r[5]) for r in rows[1:])
    if coded_n:
        pick = np.sort(rng.choice(len(written), size=min(coded_n, len(written)), replace=False))
        coded = [["response_id", "source", "question", "text"]] + \
                [[written[i][0], "public", written[i][1], written[i][2]] for i in pick]
        (raw / "public/public-survey-coded.csv").write_bytes(_csv_bytes(coded))
        files["public/public-survey-coded.csv"] = len(coded) - 1
    for source, name, prefix, per, types in (("staff", "staff/staff-survey.csv", "STF", 3, None),
                                             ("healthwatch", "healthwatch/healthwatch-notes.csv", "HW", 2,
                                              HEALTHWATCH_TYPES)):
        rows = long_rows(maker, source, counts[source], prefix, per, types)
        (raw / name).write_bytes(_csv_bytes(rows))
        files[name] = len(rows) - 1
    prow = partner_rows(maker, counts["partner"], datetime(2019, 7, 15))
    (raw / "partner/partner-survey.csv").write_bytes(_csv_bytes(prow, delimiter=";"))
    files["partner/partner-survey.csv"] = sum(bool(v) for r in prow[1:] for v in r[3:])
    return files


def add_export(n: int, home: Path, seed: int = 0) -> Path:
    """One more public export of about n new answers, dropped into the working area's inbox
    (as an officer would), with respondent ids and answers unlike the first load's."""
    rng = np.random.default_rng([seed, n, 1])
    maker = AnswerMaker(load_corpus(), rng)
    waves, _ = public_waves(maker, n, rng, 204_900_000, datetime(2019, 9, 2, 9))
    target = home / "data/raw/inbox/public"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"public-survey-late-{n}-{seed}.csv"
    path.write_bytes(_csv_bytes([r for k, w in enumerate(waves) for r in (w if k == 0 else w[1:])],
                                quote_all=True, bom=True))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, nargs="?", help="answers to generate (duplicates included)")
    ap.add_argument("--out", type=Path, default=None, help="working area to write (default: ./synthetic-N)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0); same N and seed, same files")
    ap.add_argument("--add", type=int, metavar="N", help="instead: add one export of N new answers to --out's inbox")
    args = ap.parse_args(argv)
    if args.add:
        if args.out is None:
            ap.error("--add needs --out (an existing working area)")
        print(add_export(args.add, args.out, args.seed))
        return 0
    if not args.n:
        ap.error("give N, the number of answers")
    out = args.out or Path(f"synthetic-{args.n}")
    if (out / "data/raw").exists() and any((out / "data/raw").iterdir()):
        print(f"{out}/data/raw already has files: choose another --out", file=sys.stderr)
        return 1
    files = generate(args.n, out, args.seed)
    for name, k in files.items():
        print(f"{k:>8}  data/raw/{name}")
    print(f"{sum(files.values()):>8}  answers in {out} (run: engage run --home {out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
