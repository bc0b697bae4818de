"""The nightly flow: everything new in data/raw, retrain when labels changed, classify, themes, reports."""
from __future__ import annotations

from prefect import flow, get_run_logger

from flows.analyse import analyse_flow
from flows.ingest import ingest_flow
from flows.report import report_flow
from flows.store import write_snapshot
from flows.settings import resolve_taxonomy, workspace
from flows.train import train_flow


@flow(name="engage-nightly")
def nightly_flow(home: str, taxonomy: str | None = None, seed: int = 0) -> dict:
    ws = workspace(home).ensure()
    tax = resolve_taxonomy(taxonomy, ws.home)
    ingested = ingest_flow(str(ws.home))
    trained = train_flow(str(ws.home), taxonomy)
    analysed = analyse_flow(str(ws.home), taxonomy, seed)
    reports = report_flow(str(ws.home), taxonomy, from_snapshot=False)
    write_snapshot(ws.db_path, ws.snapshot_path)
    get_run_logger().info("nightly run for %s finished: %s", tax.id, reports)
    return {"ingest": ingested, "train": trained,
            "analyse": analysed, "reports": reports}
