"""Ingest flow: exports in data/raw → redacted, segmented answers in the database.

Raw files are read, never edited. Each file is identified by its content hash, so a file that
was already ingested costs nothing on the next nightly run, and a file dropped twice counts once.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import yaml
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from flows.settings import Workspace, workspace
from flows.store import connect, text_hash, transaction
from flows.files import atomic_write_bytes, atomic_write_text
from flows.parallel import run_chunks
from flows.timing import stage
from nlp.dedupe import cross_file_duplicates, dedup_key
from nlp.embed import preload_encoder
from nlp.ingest import ANSWER_COLUMNS, SOURCES, IngestError, detect_format, iter_export, normalise_question
from nlp.preprocess import SEGMENTER_VERSION, is_empty_answer, preprocess
from nlp.redact import default_redactor, postcode_district

DOUBLE_SUBMISSION = "double-submission"  # duplicate_of marker for a respondent's repeated submission
EXPORT_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".docx", ".pdf"}
_SKIP_DIRS = {"labels", "quarantine", "inbox", "store"}
REDACT_CHUNK = 5_000  # answers per redaction task: fixed, so chunking never depends on the runner
_PARTIAL = (".", "~$")  # hidden files and Office lock files; also skipped while still being copied


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RawFile:
    """A file to read: where its bytes are, the name the officer gave it, and who answered."""
    path: Path
    name: str
    source: str | None
    mapping: dict | None = None
    dropped_as: str | None = None  # the name a copy of an export already in the store was dropped under


def discover(ws: Workspace) -> list[RawFile]:
    """Every export in data/raw: files placed there directly, and the content-addressed store."""
    manifest = load_manifest(ws)
    found = []
    for p in sorted(ws.raw.rglob("*")):
        rel = p.relative_to(ws.raw)
        if p.is_file() and p.suffix.lower() in EXPORT_SUFFIXES and not p.name.startswith(_PARTIAL) \
                and rel.parts[0] not in _SKIP_DIRS:
            entry = manifest_entry(rel.as_posix(), p.name, manifest)
            found.append(RawFile(p, p.name, entry.get("source"), entry.get("mapping")))
    for meta in sorted(ws.store.glob("*/*.meta.json")):
        info = json.loads(meta.read_text(encoding="utf-8"))
        data_path = meta.with_name(meta.name[: -len(".meta.json")] + info["suffix"])
        entry = manifest_entry(info["source_file"], info["source_file"], manifest)
        found.append(RawFile(data_path, info["source_file"], info.get("source") or entry.get("source"),
                             info.get("mapping") or entry.get("mapping")))
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
        if not isinstance(e, dict) or "pattern" not in e or e.get("source", "public") not in SOURCES \
                or not isinstance(e.get("mapping", {}), dict):
            raise ValueError(f"{path}: each entry needs a `pattern`, and optionally a `source` ({', '.join(SOURCES)}) "
                             f"and a `mapping` (questions, metadata, id_column, …); got {e!r}")
    return entries


def manifest_entry(rel: str, name: str, manifest: list[dict]) -> dict:
    """The first entry of config/sources.yaml whose pattern matches the file (source, column mapping)."""
    for e in manifest:
        if fnmatch.fnmatch(rel, e["pattern"]) or fnmatch.fnmatch(name, e["pattern"]):
            return e
    return {}


def add_to_store(ws: Workspace, data: bytes, name: str, source: str | None, mapping: dict | None = None) -> RawFile:
    """Keep an immutable copy named by its content hash, with the officer's file name and source
    beside it, so the database can always be rebuilt from data/raw alone. Adding the same bytes
    again (even under another name) changes nothing, except that a column mapping given now
    replaces the one kept (and the file is read again with it)."""
    digest = sha256(data)
    meta = ws.store / digest[:2] / f"{digest}.meta.json"
    if meta.exists():  # the same bytes under another name (even another extension): the copy kept first
        target = meta.with_name(digest + json.loads(meta.read_text(encoding="utf-8"))["suffix"])
    else:
        target = meta.with_name(digest + Path(name).suffix.lower())
    if not target.exists():
        atomic_write_bytes(target, data)
    stored = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else None
    if stored is None or (mapping and mapping != stored.get("mapping")):
        kept = stored or {"source_file": name, "source": source, "suffix": target.suffix, "sha256": digest}
        atomic_write_text(meta, json.dumps({**kept, "source": kept.get("source") or source, "mapping": mapping},
                                           indent=2))
    stored = json.loads(meta.read_text(encoding="utf-8"))
    return RawFile(target, stored["source_file"], stored.get("source"), stored.get("mapping"),
                   name if name != stored["source_file"] else None)


def collect_inbox(ws: Workspace) -> list[RawFile]:
    """Move files dropped in data/raw/inbox/ into the store. A sub-folder named after a source
    (inbox/staff/…) says who answered. Files still being written (size changing) wait for next time."""
    moved = []
    for p in sorted(ws.inbox.rglob("*")):
        if not p.is_file() or p.name.startswith(_PARTIAL) or p.name.endswith(".tmp"):
            continue
        size = p.stat().st_size
        time.sleep(0.05)
        if p.stat().st_size != size:
            continue
        parts = p.relative_to(ws.inbox).parts
        hint = parts[0].lower() if len(parts) > 1 and parts[0].lower() in SOURCES else None
        moved.append(add_to_store(ws, p.read_bytes(), p.name, hint))
        p.unlink()
    return moved


def quarantine(ws: Workspace, name: str, data: bytes, reason: str) -> Path:
    """Keep the original bytes beside a plain-English reason; nothing is lost. A different file
    already quarantined under the same name keeps its place: this one gets its hash in its name."""
    target = ws.quarantine / name
    if target.exists() and target.read_bytes() != data:
        target = target.with_name(f"{Path(name).stem}.{sha256(data)[:12]}{Path(name).suffix}")
    atomic_write_bytes(target, data)
    atomic_write_text(target.with_name(f"{target.name}.reason.txt"), reason.rstrip() + "\n")
    return target


def release_from_quarantine(ws: Workspace, data: bytes, digest: str) -> list[str]:
    """Once a file is read, its quarantined copy (under whatever name) and reason go: the officer
    fixed what the reason asked, and a file left there would still look failed. Returns their names."""
    released = []
    for p in sorted(ws.quarantine.glob("*")) if ws.quarantine.is_dir() else ():
        if p.is_file() and not p.name.endswith(".reason.txt") and p.stat().st_size == len(data) \
                and sha256(p.read_bytes()) == digest:
            p.with_name(f"{p.name}.reason.txt").unlink(missing_ok=True)
            p.unlink()
            released.append(p.name)
    return released


def _leave_store(ws: Workspace, path: str, digest: str) -> None:
    """A quarantined file's bytes are in quarantine: its store copy goes, so no night retries it."""
    if ws.store in Path(path).resolve().parents:
        Path(path).unlink(missing_ok=True)
        Path(path).with_name(f"{digest}.meta.json").unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # no empty store/3d/ left behind (unless a file arrived meanwhile)
            Path(path).parent.rmdir()


def _file_record(ws: Workspace, digest: str) -> tuple | None:
    """(status, n_answers, reason, source_spec, mapping) of the file with these bytes, if seen before."""
    with connect(ws.db_path) as con:
        return con.execute("SELECT status, n_answers, reason, source_spec, mapping FROM files WHERE file_hash = ?",
                           [digest]).fetchone()


def _unreported(ws: Workspace, digest: str) -> bool:
    """Whether this file was read after the working area's last completed run (or before any)."""
    with connect(ws.db_path) as con:
        return bool(con.execute(
            "SELECT f.ingested_at > coalesce((SELECT max(finished_at) FROM runs WHERE status = 'completed'), "
            "TIMESTAMP '1970-01-01') FROM files f WHERE f.file_hash = ?", [digest]).fetchone()[0])


def _mapping_key(mapping: dict | None) -> str | None:
    return json.dumps(mapping, sort_keys=True, ensure_ascii=False) if mapping else None


def _to_read(row: tuple | None, source: str | None, mapping: dict | None) -> bool:
    """Whether a file with this record is read: a new one is; an ingested one is read again only
    with a column mapping other than the one it was read with (as a note on a left-out column may
    have asked). A quarantined file is read again only when the officer now says more about it (a
    source, a column mapping), as its reason may have asked; the same bytes on their own fail the
    same way."""
    if row is None:
        return True
    if row[0] == "ingested":
        return mapping is not None and _mapping_key(mapping) != row[4]
    return bool(mapping or (source and source != row[3]))


def anything_to_read(ws: Workspace, targets: list[RawFile]) -> bool:
    """Whether ingesting these files will read any of them (hashes them: cheap beside reading)."""
    return any(_to_read(_file_record(ws, sha256(t.path.read_bytes())), t.source, t.mapping) for t in targets)


def ingest_file(home: str, path: str, name: str, source: str | None = None, mapping: dict | None = None) -> dict:
    """Read, redact and store one export; returns what happened (never answer text).

    The export is read here in chunks (so a huge one is never held whole) and each piece of
    REDACT_CHUNK answers is redacted by a `redact_chunk` task, on the Dask cluster when the flow
    has one; the answers are stored here, in one transaction per file."""
    ws = workspace(home)
    data = Path(path).read_bytes()
    digest = sha256(data)
    row = _file_record(ws, digest)
    if not _to_read(row, source, mapping):
        if row[0] == "ingested":
            # `unreported`: read by `engage ingest` since the last report, so new to tonight's.
            return {"file": name, "status": "unchanged", "answers": row[1], "unreported": _unreported(ws, digest)}
        _leave_store(ws, path, digest)
        return {"file": name, "status": "quarantined", "reason": row[2]}
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    raw_rel = Path(path).resolve().relative_to(ws.home).as_posix() if ws.home in Path(path).resolve().parents else path
    notes: list[str] = []

    def chunks() -> Iterator[pd.DataFrame]:
        for chunk in iter_export(Path(path), name, source, mapping=mapping):
            notes.extend(chunk.attrs.get("notes", []))
            yield chunk

    pieces = ({"answers": chunk.iloc[i:i + REDACT_CHUNK]} for chunk in chunks()
              for i in range(0, len(chunk), REDACT_CHUNK))
    try:
        # One transaction for the whole file, so an error in its last row leaves nothing of it behind.
        with connect(ws.db_path) as con, transaction(con):
            con.execute("DELETE FROM answers WHERE file_hash = ?", [digest])
            occurrences: dict[tuple[str, str], int] = {}
            n, layout = 0, None
            for red in run_chunks(redact_chunk, pieces):
                layout = layout or str(red["layout"].iat[0])
                frame = answers_frame(red, digest, n, occurrences)
                con.register("new_answers", frame)
                con.execute("INSERT INTO answers SELECT * FROM new_answers")
                con.unregister("new_answers")
                n += len(frame)
            con.execute("DELETE FROM files WHERE file_hash = ?", [digest])
            con.execute("INSERT INTO files (file_hash, source_file, raw_path, source_spec, format, layout, "
                        "n_answers, status, reason, ingested_at, file_rank, notes, mapping) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, 'ingested', NULL, ?, ?, ?, ?)",
                        [digest, name, raw_rel, source, detect_format(data, name), layout, n, now,
                         0 if layout == "wide" else 1, json.dumps(notes) if notes else None, _mapping_key(mapping)])
    except IngestError as e:
        reason = (f"{name} was not ingested.\n\n{e}\n\nThe original file is kept unchanged here. "
                  "Once fixed, drop the corrected file into data/raw/inbox/ (or run `engage ingest`).")
        quarantine(ws, name, data, reason)
        with connect(ws.db_path) as con, transaction(con):
            con.execute("DELETE FROM files WHERE file_hash = ?", [digest])
            con.execute("INSERT INTO files (file_hash, source_file, raw_path, source_spec, format, layout, "
                        "n_answers, status, reason, ingested_at, file_rank) "
                        "VALUES (?, ?, ?, ?, NULL, NULL, 0, 'quarantined', ?, ?, NULL)",
                        [digest, name, raw_rel, source, str(e), now])
        _leave_store(ws, path, digest)
        return {"file": name, "status": "quarantined", "reason": str(e)}
    if released := release_from_quarantine(ws, data, digest):
        notes.append(f"read now, so its quarantined copy ({', '.join(released)}) and reason were removed")
    return {"file": name, "status": "ingested", "answers": n, "layout": layout, "notes": notes}


@task(cache_policy=NONE)
def redact_chunk(answers: pd.DataFrame) -> pd.DataFrame:
    """Redact free text and metadata values before anything is stored: the answers (ANSWER_COLUMNS,
    `layout`, `double_submission`) with `text` redacted and the other columns as one redacted JSON
    `metadata` column. The heavy part of ingest, run on a Dask worker when there is one."""
    redactor = default_redactor()
    done: dict[str, str] = {}  # metadata values (age bands, districts, organisations) repeat a lot

    def redact(value: str) -> str:
        if value not in done:
            done[value] = redactor.redact(value)
        return done[value]

    def redact_meta(value: str) -> str:
        return postcode_district(value) or redact(value)

    flags = ["layout", "double_submission"]
    meta_cols = [c for c in answers.columns if c not in ANSWER_COLUMNS and c not in flags]
    out = answers[ANSWER_COLUMNS + [c for c in flags if c in answers]].copy()
    out["text"] = [redact(str(t)) for t in answers["text"]]
    out["metadata"] = [json.dumps({c: redact_meta(str(v)) for c, v in zip(meta_cols, vals) if v is not None and str(v) != ""},
                                  ensure_ascii=False)
                       for vals in answers[meta_cols].itertuples(index=False, name=None)] if meta_cols else "{}"
    return out


def answers_frame(answers: pd.DataFrame, digest: str, row_offset: int = 0,
                  occurrences: dict[tuple[str, str], int] | None = None) -> pd.DataFrame:
    """Rows for the answers table from redacted answers (see `redact_chunk`). `occurrences` carries
    the count of each (respondent, question) across chunks, so answer ids do not depend on chunking."""
    occurrences = {} if occurrences is None else occurrences
    texts = answers["text"].tolist()
    qkeys = [normalise_question(q) for q in answers["question"]]
    ids = []
    for r, q in zip(answers["respondent_id"].astype(str), answers["question"].astype(str)):
        k = occurrences.get((r, q), 0)
        occurrences[(r, q)] = k + 1
        ids.append(text_hash(f"{digest}\x1f{r}\x1f{q}\x1f{k}"))
    double = answers["double_submission"].astype(bool).tolist() if "double_submission" in answers else [False] * len(texts)
    return pd.DataFrame({
        "answer_id": ids,
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
        "metadata": answers["metadata"].tolist(),
        "row_order": list(range(row_offset, row_offset + len(texts))),
        "double_submission": double,
    })


@task(cache_policy=NONE)
def resolve_duplicates(home: str) -> dict[str, int]:
    """Mark answers that another export already holds (counted once, across all files), and a
    respondent's second submission of the same answers. Returns how many of each are not counted."""
    ws = workspace(home)
    with connect(ws.db_path) as con:
        df = con.execute("SELECT a.answer_id, a.file_hash, a.source, a.dedup_key, a.row_order, a.respondent_id, "
                         "a.text, a.metadata, a.double_submission, f.file_rank, f.ingested_at FROM answers a "
                         "JOIN files f USING (file_hash)").df()
        df["duplicate_of"] = cross_file_duplicates(df)
        copies = int(df["duplicate_of"].notna().sum())
        # A respondent's second submission of the same answers counts once (the first copy counts).
        df.loc[df["double_submission"] & df["duplicate_of"].isna(), "duplicate_of"] = DOUBLE_SUBMISSION
        with transaction(con):
            con.register("dups", df[["answer_id", "duplicate_of"]])
            con.execute("UPDATE answers SET duplicate_of = dups.duplicate_of FROM dups "
                        "WHERE answers.answer_id = dups.answer_id")
            con.unregister("dups")
            con.execute("DELETE FROM segments WHERE answer_id IN (SELECT answer_id FROM answers "
                        "WHERE duplicate_of IS NOT NULL)")
    return {"copies": copies, "double_submissions": int(df["duplicate_of"].notna().sum()) - copies}


@task(cache_policy=NONE)
def segment_answers(home: str) -> int:
    """Sentence segments and lemmas for counted answers that have none yet (also those whose segments
    `recut_stale_segments` dropped)."""
    ws = workspace(home)
    with connect(ws.db_path) as con:
        todo = con.execute("SELECT answer_id, text FROM answers WHERE duplicate_of IS NULL AND NOT is_empty "
                           "AND answer_id NOT IN (SELECT DISTINCT answer_id FROM segments)").df()
        if todo.empty:
            return 0
        seg = _cut(todo)
        with transaction(con):
            con.register("new_segments", seg)
            con.execute("INSERT OR REPLACE INTO segments BY NAME SELECT * FROM new_segments")
            con.unregister("new_segments")
    return len(todo)


def _cut(answers: pd.DataFrame) -> pd.DataFrame:
    rows = [(aid, s.index, s.text, text_hash(s.text), s.lemmas, SEGMENTER_VERSION)
            for aid, pre in zip(answers["answer_id"], preprocess(answers["text"].tolist())) for s in pre.segments]
    return pd.DataFrame(rows, columns=["answer_id", "seg_index", "text", "text_hash", "lemmas", "segmenter"])


@task(cache_policy=NONE)
def recut_stale_segments(home: str) -> int:
    """Answers whose stored segments another segmenter version cut: an answer cut the same way now
    is only marked; one cut differently loses its segments and everything derived from them (its
    scores, sentiments and theme places in every taxonomy), so the run cuts, scores and places it
    afresh. Returns how many answers are cut differently."""
    with connect(workspace(home).db_path) as con:
        return _recut(con)


def _recut(con) -> int:
    stale = con.execute("SELECT s.answer_id, a.text, list(s.text ORDER BY s.seg_index) AS old FROM segments s "
                        "JOIN answers a USING (answer_id) WHERE s.segmenter IS DISTINCT FROM ? "
                        "GROUP BY s.answer_id, a.text", [SEGMENTER_VERSION]).df()
    if stale.empty:
        return 0
    new = _cut(stale)
    now = new.groupby("answer_id", sort=False)["text"].agg(list)
    differs = [a for a, old in zip(stale["answer_id"], stale["old"]) if list(old) != now.get(a, [])]
    with transaction(con):
        _forget_derived(con, differs)
        con.execute("UPDATE segments SET segmenter = ? WHERE segmenter IS DISTINCT FROM ?",
                    [SEGMENTER_VERSION, SEGMENTER_VERSION])
    return len(differs)


def _forget_derived(con, answer_ids: list[str]) -> None:
    """Drop these answers' segments and everything derived from them, in every taxonomy."""
    con.register("forget", pd.DataFrame({"answer_id": pd.Series(answer_ids, dtype="str")}))
    for table in ("segments", "predictions", "segment_scores", "sentiments", "theme_assignments", "theme_members"):
        con.execute(f"DELETE FROM {table} WHERE answer_id IN (SELECT answer_id FROM forget)")
    con.unregister("forget")


@task(cache_policy=NONE)
def refresh_empty_flags(home: str) -> int:
    """Which answers say nothing ("n/a", "see previous answer") is decided again for every answer,
    so a store read by an older version counts them as this one would; an answer whose flag changes
    is segmented, scored and placed afresh. Returns how many changed."""
    with connect(workspace(home).db_path) as con:
        df = con.execute("SELECT answer_id, text, is_empty FROM answers").df()
        if df.empty:
            return 0
        now = np.array([is_empty_answer(t) for t in df["text"]], dtype=bool)
        changed = df.loc[now != df["is_empty"].to_numpy(dtype=bool), "answer_id"].tolist()
        if changed:
            with transaction(con):
                _forget_derived(con, changed)
                con.register("flags", pd.DataFrame({"answer_id": pd.Series(changed, dtype="str"),
                                                    "is_empty": now[df["answer_id"].isin(changed).to_numpy()]}))
                con.execute("UPDATE answers SET is_empty = flags.is_empty FROM flags "
                            "WHERE answers.answer_id = flags.answer_id")
                con.unregister("flags")
    return len(changed)


@flow(name="engage-ingest")
def ingest_flow(home: str, paths: list[str] | None = None, source: str | None = None,
                mapping: dict | None = None, encode_next: bool = False) -> dict:
    """Ingest the given files (copied into the store first), or the inbox and everything in
    data/raw; then count shared answers once and segment what is new.
    `encode_next`: the caller encodes the new answers next in this process, so the encoder starts
    loading in the background as soon as there is a new export to read (and not when there is none)."""
    ws = workspace(home).ensure()
    logger = get_run_logger()
    if paths:
        targets = added = [add_to_store(ws, Path(p).read_bytes(), Path(p).name, source, mapping) for p in paths]
    else:
        added = collect_inbox(ws)
        targets = discover(ws)
    # "Survey export (1).csv" holding the bytes of "Survey export.csv": said, not silently absorbed.
    renamed = [{"file": f.dropped_as, "same_as": f.name} for f in added if f.dropped_as]
    if encode_next and anything_to_read(ws, targets):
        preload_encoder()
    with stage("read + redact") as st:
        results = [ingest_file(str(ws.home), str(t.path), t.name, t.source, t.mapping) for t in targets]
        st["items"] = sum(r.get("answers", 0) for r in results if r["status"] == "ingested")
    with stage("dedupe"):
        dup = resolve_duplicates(str(ws.home))
    with stage("segment") as st:
        recut = recut_stale_segments(str(ws.home))
        reflagged = refresh_empty_flags(str(ws.home))
        n_seg = st["items"] = segment_answers(str(ws.home))
    for r in results:
        logger.info("%s: %s (%s answers)", r["file"], r["status"], r.get("answers", 0))
    return {"files": results, "duplicates": dup["copies"] + dup["double_submissions"],
            "copies": dup["copies"], "double_submissions": dup["double_submissions"], "segmented": n_seg,
            "recut": recut, "empty_flags_changed": reflagged, "renamed_copies": renamed}
