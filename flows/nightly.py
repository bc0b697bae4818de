"""The nightly flow: everything new in data/raw, retrain when labels changed, classify, themes, reports.

A night with nothing new does almost nothing: the run's inputs (counted answers, model, taxonomy,
seed and the analysis code itself) are fingerprinted, and when the fingerprint equals that of the
last completed run and its reports are still there, classification, themes and reports are skipped.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger

from flows.analyse import analyse_flow
from flows.ingest import ingest_flow
from flows.parallel import with_runner
from flows.report import report_flow
from flows.settings import REPO, Workspace, resolve_taxonomy, workspace
from flows.store import connect, scoped_questions, transaction, write_snapshot
from flows.timing import stage
from flows.train import coder_labels_digest, train_flow
from nlp.embed import join_preloads
from nlp.taxonomy import Taxonomy

REPORT_NAMES = ("they-said.json", "they-said.md", "they-said.html", "they-said.docx")


def code_version() -> str:
    """A hash of the analysis code and templates, so a changed statement rule re-runs the analysis."""
    h = hashlib.sha256()
    for p in sorted([*(REPO / "nlp").glob("*.py"), *(REPO / "flows").glob("*.py"), *(REPO / "flows/templates").glob("*")]):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def fingerprint(ws: Workspace, tax: Taxonomy, model_version: str, seed: int) -> str:
    h = hashlib.sha256(f"{tax!r}|{model_version}|{seed}|{code_version()}|{coder_labels_digest(ws, tax)}".encode())
    with connect(ws.db_path) as con:
        for (aid,) in con.execute("SELECT answer_id FROM answers WHERE duplicate_of IS NULL ORDER BY answer_id").fetchall():
            h.update(aid.encode())
        # The reports list the files, those left out and their notes: a file quarantined tonight
        # changes no answer but must still reach them.
        for row in con.execute("SELECT file_hash, status, reason, notes FROM files ORDER BY file_hash").fetchall():
            h.update(repr(row).encode())
    return h.hexdigest()


def last_fingerprint(ws: Workspace, tax: Taxonomy) -> str | None:
    with connect(ws.db_path) as con:
        row = con.execute("SELECT fingerprint FROM runs WHERE taxonomy_id = ? AND status = 'completed' "
                          "ORDER BY finished_at DESC LIMIT 1", [tax.id]).fetchone()
    return row[0] if row else None


@flow(name="engage-nightly")
def nightly_flow(home: str, taxonomy: str | None = None, seed: int = 0, dask_address: str | None = None,
                 refit_themes: bool = False) -> dict:
    """`dask_address`: a Dask scheduler on which ingest and analysis run their heavy tasks
    (redaction, embedding, classification); None runs everything in this process.
    `refit_themes`: fit every category's topic model afresh (by default a category that changed
    little keeps last run's themes, see flows.analyse.THEME_REFIT_SHARE)."""
    ws = workspace(home).ensure()
    tax = resolve_taxonomy(taxonomy, ws.home)
    logger = get_run_logger()
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    with stage("ingest"):
        # Encoding happens in this process: the encoder loads while new exports are read.
        ingested = with_runner(ingest_flow, dask_address)(str(ws.home), encode_next=dask_address is None)
    with stage("train"):
        trained = train_flow(str(ws.home), taxonomy)
    with connect(ws.db_path) as con:
        counted = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()[0]
    if not counted:  # a first night whose exports were all quarantined, or none dropped yet: no report of zeros
        logger.info("no answers in %s yet: nothing to analyse", ws.home)
        with connect(ws.db_path) as con, transaction(con):  # still the taxonomy this area works with
            now = datetime.now(timezone.utc).replace(tzinfo=None)
            con.execute("INSERT INTO runs (run_id, taxonomy_id, started_at, finished_at, status, summary) "
                        "VALUES (?, ?, ?, ?, 'no answers', ?)",
                        [uuid.uuid4().hex, tax.id, started, now, f"{len(ingested['files'])} files, none read"])
        join_preloads()
        return {"ingest": ingested, "train": trained, "analyse": None, "reports": [], "skipped": True,
                "no_answers": True}
    if tax.questions:
        with connect(ws.db_path) as con:
            asked = sorted({q for (q,) in con.execute("SELECT DISTINCT question FROM answers WHERE duplicate_of IS NULL "
                                                      "AND NOT is_empty").fetchall()})
            covered = scoped_questions(con, tax)
        if not covered:  # nothing deleted, nothing rewritten: say what there is
            logger.info("no answer is to a question %s covers", tax.id)
            join_preloads()
            return {"ingest": ingested, "train": trained, "analyse": None, "reports": [], "skipped": True,
                    "no_questions": {"words": list(tax.questions), "questions": asked}}
    fp = fingerprint(ws, tax, trained["model_version"], seed)
    out_dir = ws.reports / tax.id
    reports = [str(out_dir / n) for n in REPORT_NAMES]
    if not refit_themes and fp == last_fingerprint(ws, tax) and all(Path(r).exists() for r in reports) and ws.snapshot_path.exists():
        logger.info("nothing new for %s since the last run: reports are up to date", tax.id)
        join_preloads()
        return {"ingest": ingested, "train": trained, "analyse": None, "reports": reports, "skipped": True}
    with stage("analyse"):
        analysed = with_runner(analyse_flow, dask_address)(str(ws.home), taxonomy, seed, refit_themes)
    with stage("report"):
        reports = report_flow(str(ws.home), taxonomy, from_snapshot=False)
    with connect(ws.db_path) as con, transaction(con):
        con.execute("INSERT INTO runs (run_id, taxonomy_id, started_at, finished_at, status, summary, fingerprint) "
                    "VALUES (?, ?, ?, ?, 'completed', ?, ?)",
                    [uuid.uuid4().hex, tax.id, started, datetime.now(timezone.utc).replace(tzinfo=None),
                     f"{len(ingested['files'])} files, model {trained['model_version']}", fp])
    with stage("snapshot"):
        write_snapshot(ws.db_path, ws.snapshot_path)
    logger.info("nightly run for %s finished: %s", tax.id, reports)
    join_preloads()
    return {"ingest": ingested, "train": trained, "analyse": analysed, "reports": reports, "skipped": False}
