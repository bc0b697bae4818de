"""Where things live (the working area) and the environment every run needs (offline, private).

Import this before Prefect: Prefect reads PREFECT_HOME and its telemetry settings at import time.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml

from nlp.taxonomy import Taxonomy, TaxonomyError, parse_taxonomy

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TAXONOMY = "north-cumbria-2019-2024"

# Offline and private by default: no telemetry, no model hubs, no parallel tokenizer warnings.
_ENV_DEFAULTS = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_UI_ENABLED": "false",
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


@dataclass(frozen=True)
class Workspace:
    """The working area: raw inputs, processed data and reports for one engagement programme."""
    home: Path

    @property
    def raw(self) -> Path:
        return self.home / "data" / "raw"

    @property
    def labels_dir(self) -> Path:
        return self.raw / "labels"

    @property
    def quarantine(self) -> Path:
        return self.raw / "quarantine"

    @property
    def inbox(self) -> Path:
        return self.raw / "inbox"

    @property
    def store(self) -> Path:
        """Content-addressed copies of every file added through the inbox or `engage ingest`."""
        return self.raw / "store"

    @property
    def processed(self) -> Path:
        return self.home / "data" / "processed"

    @property
    def db_path(self) -> Path:
        return self.processed / "engage.duckdb"

    @property
    def snapshot_path(self) -> Path:
        """A copy of the database as of the last complete run: what readers (export, quotes,
        report) open, so they never wait for, or see half of, a run in progress."""
        return self.processed / "engage.snapshot.duckdb"

    @property
    def models(self) -> Path:
        return self.processed / "models"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def prefect_home(self) -> Path:
        return self.home / ".prefect"

    def ensure(self) -> "Workspace":
        for p in (self.raw, self.inbox, self.labels_dir, self.processed, self.models, self.reports, self.prefect_home):
            p.mkdir(parents=True, exist_ok=True)
        return self


def workspace(home: str | os.PathLike | None = None) -> Workspace:
    """--home, else $ENGAGE_HOME, else the repository itself (which bundles the sample data)."""
    chosen = home or os.environ.get("ENGAGE_HOME") or REPO
    return Workspace(Path(chosen).expanduser().resolve())


def configure_environment(ws: Workspace) -> None:
    """Keep Prefect's state inside the working area and everything offline; call before importing Prefect."""
    for k, v in _ENV_DEFAULTS.items():
        os.environ.setdefault(k, v)
    os.environ.setdefault("PREFECT_HOME", str(ws.prefect_home))
    ws.prefect_home.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def local_prefect(pipeline_module: str) -> Iterator[None]:
    """Import `pipeline_module` and run the flows called inside the block the quick way.

    With no Prefect server configured, the first flow boots a temporary one (a second Python process,
    about 7 s) and every flow then waits up to a second at its end for a heartbeat thread whose beats
    nobody reads, since that server ends with this process (a night runs five flows). So the server
    boots in the background while this process imports the pipeline (spaCy, scikit-learn, pandas:
    another 7 s), and heartbeats are off. A configured server (`engage serve`, PREFECT_API_URL) is
    used as it is, heartbeats included: there they mark runs that crashed.
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        importlib.import_module(pipeline_module)
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server, failed = SubprocessASGIServer(), []

    def boot() -> None:
        try:
            server.start()
        except Exception as e:  # re-raised below, in the caller's thread
            failed.append(e)

    booting = threading.Thread(target=boot, name="prefect-server-boot", daemon=True)
    booting.start()
    try:
        importlib.import_module(pipeline_module)
    finally:
        booting.join()
    if failed:
        raise failed[0]
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def taxonomy_dirs(home: Path | None = None) -> list[Path]:
    dirs = [REPO / "config" / "taxonomies"]
    if home is not None and (home / "config" / "taxonomies") not in dirs:
        dirs.insert(0, home / "config" / "taxonomies")
    return dirs


def load_taxonomy_file(path: Path) -> Taxonomy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise TaxonomyError(f"{path}: not valid YAML ({e})") from e
    return parse_taxonomy(data, origin=str(path))


def resolve_taxonomy(spec: str | None, home: Path | None = None) -> Taxonomy:
    """A taxonomy by file path or by id (a file `<id>.yaml` in config/taxonomies/)."""
    spec = spec or DEFAULT_TAXONOMY
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_taxonomy_file(path)
    for d in taxonomy_dirs(home):
        for cand in (d / f"{spec}.yaml", d / f"{spec}.yml"):
            if cand.is_file():
                return load_taxonomy_file(cand)
    known = sorted({p.stem for d in taxonomy_dirs(home) if d.is_dir() for p in d.glob("*.y*ml")})
    raise TaxonomyError(f"no taxonomy {spec!r}: give a YAML file path or one of: {', '.join(known) or 'none found'}")
