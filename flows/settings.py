"""Where things live (the working area) and the environment every run needs (offline, private).

Import this before Prefect: Prefect reads PREFECT_HOME and its telemetry settings at import time.
"""
from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from functools import lru_cache
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
def local_prefect(pipeline_module: str, prefect_home: Path) -> Iterator[None]:
    """Import `pipeline_module`, and have a Prefect server ready for the flows called inside the block.

    With no server configured, the first flow would boot a temporary one (a second Python process,
    about 7 s) only once this process had imported the pipeline (spaCy, scikit-learn, pandas: another
    7 s). Here that server boots first and the pipeline imports while it does; it stops when this
    process ends. Flow heartbeats are off on it: they mark crashed runs for a lasting server, but
    this one ends with the process, and every flow waited up to a second at its end for its heartbeat
    thread (a night runs five flows). A configured server (`engage serve`, PREFECT_API_URL) or a
    Prefect already set up in this process (its test harness) is used as it is.
    """
    if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
        importlib.import_module(pipeline_module)
        yield
        return
    url, server, log = _boot_server(prefect_home)
    importlib.import_module(pipeline_module)
    _wait_for_server(url, server, log)
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def _boot_server(prefect_home: Path) -> tuple[str, subprocess.Popen, Path]:
    """Start Prefect's own temporary server (the one its flows start when none is configured) on a
    free local port, and point this process and its children (Dask workers) at it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = prefect_home / "temporary-server.log"
    package = Path(importlib.util.find_spec("prefect").origin).parent  # found, not imported
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(package.parent), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "error", "--lifespan", "on"],
            # As Prefect's own SubprocessASGIServer runs it (prefect 3.8.8): no UI, no services.
            env={**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                 "PREFECT__SERVER_FINAL": "1"},
            stdout=out, stderr=subprocess.STDOUT)
    # Registered before Prefect is imported, so it runs after Prefect's own exit handlers have sent
    # their last logs and events.
    atexit.register(_stop_server, server)
    url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = url
    return url, server, log


def _wait_for_server(url: str, server: subprocess.Popen, log: Path) -> None:
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
    deadline = time.monotonic() + timeout
    while server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    state = f"exited with code {server.returncode}" if server.poll() is not None else f"not up after {timeout:.0f} s"
    raise RuntimeError(f"the temporary Prefect server {state}; its output is in {log}. Set "
                       "PREFECT_API_URL to a running server (`engage serve` starts one) to run without it.")


def _stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()


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
    raise TaxonomyError(f"no taxonomy {spec!r}: give a YAML file path or one of: {', '.join(known) or 'none found'} "
                        f"(the taxonomy files in {' and '.join(str(d) for d in taxonomy_dirs(home))})")


def min_group_size(path: Path | None = None) -> int:
    """The smallest group a printed attribution may point into (nlp.attribution.Disclosure), from
    config/disclosure.yaml, validated so a typo cannot silently switch the rule off."""
    return _read_min_group_size(str(path or REPO / "config" / "disclosure.yaml"))


@lru_cache(maxsize=4)
def _read_min_group_size(path: str) -> int:
    cfg = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(cfg, dict) or set(cfg) != {"min_group_size"}:
        raise ValueError(f"{path}: expected exactly one key, min_group_size")
    n = cfg["min_group_size"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"{path}: min_group_size must be a whole number of people, 1 or more (got {n!r})")
    return n
