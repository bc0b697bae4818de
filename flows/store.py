"""The embedded database (DuckDB) in data/processed: one short-lived connection per unit of work,
and every write inside a transaction, so a killed run never leaves half its rows behind."""
from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    file_hash VARCHAR PRIMARY KEY, source_file VARCHAR, raw_path VARCHAR, source_spec VARCHAR,
    format VARCHAR, layout VARCHAR, n_answers INTEGER, status VARCHAR, reason VARCHAR,
    ingested_at TIMESTAMP, file_rank INTEGER);
ALTER TABLE files ADD COLUMN IF NOT EXISTS notes VARCHAR;
ALTER TABLE files ADD COLUMN IF NOT EXISTS mapping VARCHAR;
-- notes: what the officer should know about a file that went in (JSON list), e.g. a column left out;
-- mapping: the column mapping it was read with (JSON), so a new one has it read again.
CREATE TABLE IF NOT EXISTS answers (
    answer_id VARCHAR PRIMARY KEY, file_hash VARCHAR, source_file VARCHAR, respondent_id VARCHAR,
    question VARCHAR, question_key VARCHAR, source VARCHAR, text VARCHAR, text_hash VARCHAR,
    dedup_key VARCHAR, is_empty BOOLEAN, duplicate_of VARCHAR, metadata VARCHAR, row_order INTEGER,
    double_submission BOOLEAN);
ALTER TABLE answers ADD COLUMN IF NOT EXISTS double_submission BOOLEAN DEFAULT false;
-- duplicate_of: the answer_id counted instead (same answer in another export), or
-- 'double-submission' (the respondent submitted the same answers twice); NULL for counted answers.
CREATE TABLE IF NOT EXISTS segments (
    answer_id VARCHAR, seg_index INTEGER, text VARCHAR, text_hash VARCHAR, lemmas VARCHAR,
    PRIMARY KEY (answer_id, seg_index));
-- segmenter: nlp.preprocess.SEGMENTER_VERSION that cut them (NULL: before versions were kept).
ALTER TABLE segments ADD COLUMN IF NOT EXISTS segmenter VARCHAR;
CREATE TABLE IF NOT EXISTS embeddings (
    text_hash VARCHAR, model VARCHAR, vector BLOB, PRIMARY KEY (text_hash, model));
CREATE TABLE IF NOT EXISTS predictions (
    taxonomy_id VARCHAR, answer_id VARCHAR, code VARCHAR, score DOUBLE, assigned BOOLEAN,
    model_version VARCHAR, PRIMARY KEY (taxonomy_id, answer_id, code));
-- The labels a person gave an answer (engage review import, engage train --labels): its categories
-- follow them, not the classifier; kept so a label taken back gives the classifier's decision again.
CREATE TABLE IF NOT EXISTS coder_labels (
    taxonomy_id VARCHAR, answer_id VARCHAR, labels VARCHAR, PRIMARY KEY (taxonomy_id, answer_id));
CREATE TABLE IF NOT EXISTS segment_scores (
    taxonomy_id VARCHAR, answer_id VARCHAR, seg_index INTEGER, code VARCHAR, score DOUBLE,
    PRIMARY KEY (taxonomy_id, answer_id, seg_index, code));
-- Writer's stance per segment, and per whole answer at seg_index -1 (negative/neutral/positive/mixed).
CREATE TABLE IF NOT EXISTS sentiments (
    answer_id VARCHAR, seg_index INTEGER, sentiment VARCHAR, model_version VARCHAR,
    PRIMARY KEY (answer_id, seg_index));
CREATE TABLE IF NOT EXISTS themes (
    taxonomy_id VARCHAR, code VARCHAR, theme_id VARCHAR, rank INTEGER, statement VARCHAR,
    n_people INTEGER, detail VARCHAR, PRIMARY KEY (taxonomy_id, code, theme_id));
ALTER TABLE themes ADD COLUMN IF NOT EXISTS centroid BLOB;
CREATE TABLE IF NOT EXISTS theme_changes (
    run_at TIMESTAMP, taxonomy_id VARCHAR, code VARCHAR, theme_id VARCHAR, change VARCHAR,
    statement VARCHAR, n_before INTEGER, n_after INTEGER, statement_before VARCHAR);
-- JSON: where a new theme's answers were, or where a vanished theme's answers went.
ALTER TABLE theme_changes ADD COLUMN IF NOT EXISTS related VARCHAR;
CREATE TABLE IF NOT EXISTS theme_members (
    taxonomy_id VARCHAR, code VARCHAR, theme_id VARCHAR, answer_id VARCHAR, seg_index INTEGER,
    centrality DOUBLE, PRIMARY KEY (taxonomy_id, code, answer_id, seg_index));
-- Every segment a category's themes were last worked out over (theme_id NULL: in no theme), and
-- whether it was there when the topic model was last fitted, so a refresh can tell what is new.
CREATE TABLE IF NOT EXISTS theme_assignments (
    taxonomy_id VARCHAR, code VARCHAR, answer_id VARCHAR, seg_index INTEGER, theme_id VARCHAR, fitted BOOLEAN,
    PRIMARY KEY (taxonomy_id, code, answer_id, seg_index));
-- The last topic-model fit per category: what it depended on (seed, classifier) and its size.
CREATE TABLE IF NOT EXISTS theme_fits (
    taxonomy_id VARCHAR, code VARCHAR, seed INTEGER, model_version VARCHAR, method VARCHAR,
    n_fitted INTEGER, fitted_on INTEGER, fitted_at TIMESTAMP, PRIMARY KEY (taxonomy_id, code));
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, taxonomy_id VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    status VARCHAR, summary VARCHAR);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS fingerprint VARCHAR;
"""


class DatabaseBusy(RuntimeError):
    """Another engage process holds the database; the message says what to do."""


@contextlib.contextmanager
def connect(db_path: Path, read_only: bool = False, wait_seconds: float = 600.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the database, waiting a while if another engage command is writing to it."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if read_only and not db_path.exists():
        raise FileNotFoundError(f"no database at {db_path}: run `engage run` first")
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
            break
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise DatabaseBusy(f"the database {db_path} is in use by another engage command; "
                                   "wait for it to finish and try again") from e
            time.sleep(0.5)
    try:
        if not read_only:
            con.execute(SCHEMA)
        yield con
    finally:
        con.close()


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def write_snapshot(db_path: Path, snapshot_path: Path) -> None:
    """Copy the database, from inside a connection that holds its lock (so no writer is half-way
    through), to a temporary file that is then renamed over the previous snapshot."""
    tmp = snapshot_path.with_name(f".{snapshot_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    with connect(db_path) as con:
        name = con.execute("SELECT current_database()").fetchone()[0]
        con.execute(f"ATTACH '{tmp}' AS snap")
        try:
            con.execute(f'COPY FROM DATABASE "{name}" TO snap')
        finally:
            con.execute("DETACH snap")
    os.replace(tmp, snapshot_path)


def text_hash(text: str) -> str:
    """The key of a text in the database (answers, segments) and in the embedding cache: one
    definition, so a segment's stored hash always finds its cached vector."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def reader_path(db_path: Path, snapshot_path: Path) -> Path:
    """Readers use the last complete run's snapshot; before any run has finished, the database."""
    return snapshot_path if snapshot_path.exists() else db_path


def question_scope(con: duckdb.DuckDBPyConnection, tax, column: str = "question") -> tuple[str, list]:
    """A SQL condition (and its parameters) keeping the answers to the questions `tax` covers
    (nlp.taxonomy.Taxonomy.questions); TRUE for a taxonomy that covers every question."""
    if not tax.questions:
        return "TRUE", []
    asked = scoped_questions(con, tax)
    return (f"list_contains(?, {column})", [asked]) if asked else ("FALSE", [])


def scoped_questions(con: duckdb.DuckDBPyConnection, tax) -> list[str]:
    """The questions of the working area's answers that `tax` covers. A report's section heading
    ("Summary of themes", "Event notes") is no survey question: its passages are covered unless the
    heading asks a question the taxonomy does not list (a Healthwatch report was left out whole)."""
    sections = {q for (q,) in con.execute("SELECT DISTINCT a.question FROM answers a JOIN files f USING (file_hash) "
                                          "WHERE f.layout = 'document'").fetchall()}
    return [q for (q,) in con.execute("SELECT DISTINCT question FROM answers ORDER BY 1").fetchall()
            if tax.asks(q) or (q in sections and not q.rstrip().endswith("?"))]


def last_run_taxonomy(db_path: Path, snapshot_path: Path) -> str | None:
    """The taxonomy id of the working area's last run (also one that found no answers yet), or None."""
    path = reader_path(db_path, snapshot_path)
    if not path.exists():
        return None
    with connect(path, read_only=True) as con:
        row = con.execute("SELECT taxonomy_id FROM runs WHERE status IN ('completed', 'no answers') "
                          "ORDER BY finished_at DESC LIMIT 1").fetchone()
    return row[0] if row else None


def require_classified(con: duckdb.DuckDBPyConnection, taxonomy_id: str) -> None:
    """A clear error, not an empty report, for a working area with no answers yet, or a taxonomy it has
    never run while it has run another (`engage report` without --taxonomy in another system's area)."""
    done = [t for (t,) in con.execute("SELECT DISTINCT taxonomy_id FROM predictions ORDER BY 1").fetchall()]
    if not done and not con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]:
        raise FileNotFoundError("there are no answers in this working area yet, so nothing to report: drop exports "
                                "into data/raw/inbox/ and run `engage run`")
    if done and taxonomy_id not in done:
        raise FileNotFoundError(f"taxonomy {taxonomy_id} has not been run in this working area; it has results "
                                f"for {', '.join(done)}: add --taxonomy {done[0]} (or run `engage run --taxonomy "
                                f"{taxonomy_id}` first)")


def cached_embeddings(con: duckdb.DuckDBPyConnection, hashes: list[str], model: str) -> dict[str, np.ndarray]:
    if not hashes:
        return {}
    con.register("wanted", _frame({"text_hash": sorted(set(hashes))}))
    rows = con.execute("SELECT e.text_hash, e.vector FROM embeddings e JOIN wanted w USING (text_hash) "
                       "WHERE e.model = ?", [model]).fetchall()
    con.unregister("wanted")
    return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}


def _frame(cols: dict):
    import pandas as pd

    return pd.DataFrame(cols)
