"""Ingest flow: exports in data/raw → redacted, segmented answers in the database.

Raw files are read, never edited. Each file is identified by its content hash, so a file that
was already ingested costs nothing on the next nightly run, and a file dropped twice counts once.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.settings import Workspace, workspace
from flows.store import connect, transaction
from flows.files import atomic_write_bytes, atomic_write_text
from nlp.dedupe import cross_file_duplicates, dedup_key
from nlp.ingest import SOURCES, IngestError, normalise_question, read_export
from nlp.preprocess import is_empty_answer, preprocess
from nlp.redact import default_redactor

EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm"}
_SKIP_DIRS = {"labels", "quarantine", "inbox"}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def discover(ws: Workspace) -> list[Path]:
    """Every export in data/raw (not training labels, not quarantined files)."""
    found = []
    for p in sorted(ws.raw.rglob("*")):
        rel = p.relative_to(ws.raw)
        if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES and not p.name.startswith((".", "~$")) \
                and rel.parts[0] not in _SKIP_DIRS and not p.name.endswith(".reason.txt"):
            found.append(p)
    return found


def manifest_path(ws: Workspace) -> Path:
    return ws.home / "config" / "sources.yaml"


def load_manifest(ws: Workspace) -> list[dict]:
    path = manifest_path(ws)
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML ({e}); fix the indentation or delete the broken entry") from e
    entries = data.get("files") or []
    for e in entries:
        if not isinstance(e, dict) or "pattern" not in e or e.get("source") not in SOURCES:
            raise ValueError(f"{path}: each entry needs a `pattern` and a `source` ({', '.join(SOURCES)}); got {e!r}")
    return entries


def source_for(ws: Workspace, raw_path: Path, manifest: list[dict]) -> str | None:
    rel = raw_path.relative_to(ws.raw).as_posix()
    for e in manifest:
        if fnmatch.fnmatch(rel, e["pattern"]) or fnmatch.fnmatch(raw_path.name, e["pattern"]):
            return e["source"]
    return None


def remember_source(ws: Workspace, raw_path: Path, source: str) -> None:
    """Record the officer's --source so the nightly re-run reads the file the same way."""
    entries = load_manifest(ws)
    rel = raw_path.relative_to(ws.raw).as_posix()
    if any(e["pattern"] == rel and e["source"] == source for e in entries):
        return
    entries = [e for e in entries if e["pattern"] != rel] + [{"pattern": rel, "source": source}]
    path = manifest_path(ws)
    header = ("# Which group of people each export speaks for, when the file has no source column.\n"
              "# `pattern` is matched against the path relative to data/raw/. Sources: "
              f"{', '.join(SOURCES)}.\n")
    atomic_write_text(path, header + yaml.safe_dump({"files": entries}, sort_keys=False))


def place_in_raw(ws: Workspace, path: Path, data: bytes, digest: str) -> Path:
    """Copy a file given on the command line into data/raw (unless it is already there)."""
    path = path.resolve()
    if ws.raw in path.parents:
        return path
    target = ws.raw / path.name
    if target.exists() and sha256(target.read_bytes()) != digest:
        target = ws.raw / f"{path.stem}-{digest[:8]}{path.suffix}"
    if not target.exists():
        atomic_write_bytes(target, data)
    return target


def quarantine(ws: Workspace, name: str, data: bytes, reason: str) -> Path:
    """Keep the original bytes beside a plain-English reason; nothing is lost."""
    ws.quarantine.mkdir(parents=True, exist_ok=True)
    target = ws.quarantine / name
    atomic_write_bytes(target, data)
    atomic_write_text(ws.quarantine / f"{name}.reason.txt", reason.rstrip() + "\n")
    return target


@task(cache_policy=NONE)
def ingest_file(home: str, path: str, source: str | None = None) -> dict:
    """Read, redact and store one export; returns what happened (never raw text)."""
    ws = workspace(home)
    src_path = Path(path)
    data = src_path.read_bytes()
    digest = sha256(data)
    name = src_path.name
    with connect(ws.db_path) as con:
        row = con.execute("SELECT status, n_answers FROM files WHERE file_hash = ?", [digest]).fetchone()
    if row and row[0] == "ingested":
        return {"file": name, "status": "unchanged", "answers": row[1]}
    raw_path = place_in_raw(ws, src_path, data, digest)
    if source:
        remember_source(ws, raw_path, source)
    else:
        source = source_for(ws, raw_path, load_manifest(ws))
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        answers, info = read_export(data, name, source)
    except IngestError as e:
        reason = f"{name} was not ingested.\n\n{e}\n\nThe original file is kept unchanged at {raw_path}."
        quarantine(ws, name, data, reason)
        with connect(ws.db_path) as con, transaction(con):
            con.execute("DELETE FROM files WHERE file_hash = ?", [digest])
            con.execute("INSERT INTO files VALUES (?, ?, ?, ?, NULL, NULL, 0, 'quarantined', ?, ?, NULL)",
                        [digest, name, raw_path.relative_to(ws.home).as_posix(), source, str(e), now])
        return {"file": name, "status": "quarantined", "reason": str(e)}

    frame = answers_frame(answers, digest)
    with connect(ws.db_path) as con, transaction(con):
        con.execute("DELETE FROM answers WHERE file_hash = ?", [digest])
        con.register("new_answers", frame)
        con.execute("INSERT INTO answers SELECT * FROM new_answers")
        con.unregister("new_answers")
        con.execute("DELETE FROM files WHERE file_hash = ?", [digest])
        con.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, 'ingested', NULL, ?, ?)",
                    [digest, name, raw_path.relative_to(ws.home).as_posix(), source, info.format, info.layout,
                     len(frame), now, 0 if info.layout == "wide" else 1])
    return {"file": name, "status": "ingested", "answers": len(frame), "layout": info.layout}


def answers_frame(answers: pd.DataFrame, digest: str) -> pd.DataFrame:
    """Redact free text (and metadata values) before anything is stored."""
    redactor = default_redactor()
    base = ["source_file", "respondent_id", "question", "source", "text"]
    meta_cols = [c for c in answers.columns if c not in base and c != "layout"]
    texts = [redactor.redact(str(t)) for t in answers["text"]]
    qkeys = [normalise_question(q) for q in answers["question"]]
    occurrence = answers.groupby(["respondent_id", "question"]).cumcount().tolist()
    metadata = [json.dumps({c: redactor.redact(str(v)) for c, v in zip(meta_cols, vals) if v is not None and str(v) != ""},
                           ensure_ascii=False)
                for vals in answers[meta_cols].itertuples(index=False, name=None)] if meta_cols else ["{}"] * len(answers)
    return pd.DataFrame({
        "answer_id": [text_hash(f"{digest}\x1f{r}\x1f{q}\x1f{k}") for r, q, k in
                      zip(answers["respondent_id"], answers["question"], occurrence)],
        "file_hash": digest,
        "source_file": answers["source_file"].astype(str).tolist(),
        "respondent_id": answers["respondent_id"].astype(str).tolist(),
        "question": answers["question"].astype(str).tolist(),
        "question_key": qkeys,
        "source": answers["source"].astype(str).tolist(),
        "text": texts,
        "text_hash": [text_hash(t) for t in texts],
        "dedup_key": [dedup_key(s, q, t) for s, q, t in zip(answers["source"], qkeys, texts)],
        "is_empty": [is_empty_answer(t) for t in texts],
        "duplicate_of": pd.Series([None] * len(texts), dtype=object),
        "metadata": metadata,
        "row_order": list(range(len(texts))),
    })


@task(cache_policy=NONE)
def resolve_duplicates(home: str) -> int:
    """Mark answers that another export already holds (counted once, across all files)."""
    ws = workspace(home)
    with connect(ws.db_path) as con:
        df = con.execute("SELECT a.answer_id, a.file_hash, a.dedup_key, a.row_order, f.file_rank "
                         "FROM answers a JOIN files f USING (file_hash)").df()
        df["duplicate_of"] = cross_file_duplicates(df)
        with transaction(con):
            con.register("dups", df[["answer_id", "duplicate_of"]])
            con.execute("UPDATE answers SET duplicate_of = dups.duplicate_of FROM dups "
                        "WHERE answers.answer_id = dups.answer_id")
            con.unregister("dups")
            con.execute("DELETE FROM segments WHERE answer_id IN (SELECT answer_id FROM answers "
                        "WHERE duplicate_of IS NOT NULL)")
    return int(df["duplicate_of"].notna().sum())


@task(cache_policy=NONE)
def segment_answers(home: str) -> int:
    """Sentence segments and lemmas for counted answers that have none yet."""
    ws = workspace(home)
    with connect(ws.db_path) as con:
        todo = con.execute("SELECT answer_id, text FROM answers WHERE duplicate_of IS NULL AND NOT is_empty "
                           "AND answer_id NOT IN (SELECT DISTINCT answer_id FROM segments)").df()
        if todo.empty:
            return 0
        rows = []
        for aid, pre in zip(todo["answer_id"], preprocess(todo["text"].tolist())):
            for s in pre.segments:
                rows.append((aid, s.index, s.text, text_hash(s.text), s.lemmas))
        seg = pd.DataFrame(rows, columns=["answer_id", "seg_index", "text", "text_hash", "lemmas"])
        with transaction(con):
            con.register("new_segments", seg)
            con.execute("INSERT OR REPLACE INTO segments SELECT * FROM new_segments")
            con.unregister("new_segments")
    return len(todo)


@flow(name="engage-ingest")
def ingest_flow(home: str, paths: list[str] | None = None, source: str | None = None) -> dict:
    """Ingest the given files (or every export in data/raw), then dedupe and segment."""
    ws = workspace(home).ensure()
    logger = get_run_logger()
    targets = [Path(p) for p in paths] if paths else discover(ws)
    results = [ingest_file(str(ws.home), str(p), source) for p in targets]
    n_dup = resolve_duplicates(str(ws.home))
    n_seg = segment_answers(str(ws.home))
    for r in results:
        logger.info("%s: %s (%s answers)", r["file"], r["status"], r.get("answers", 0))
    return {"files": results, "duplicates": n_dup, "segmented": n_seg}
