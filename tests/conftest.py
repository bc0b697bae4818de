"""Shared fixtures: an isolated working area per test session and Prefect's test harness."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
FIXTURES = Path(__file__).parent / "fixtures"

# Offline, private and with Prefect's state outside the user's home, before anything imports Prefect.
_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="engage-prefect-"))
atexit.register(shutil.rmtree, _PREFECT_HOME, ignore_errors=True)
os.environ.update({"PREFECT_HOME": str(_PREFECT_HOME), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                   "TOKENIZERS_PARALLELISM": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"})
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("ENGAGE_HOME", None)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def labelled_csv() -> Path:
    return REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv"


def make_home(root: Path, with_labels: bool = True) -> Path:
    """A fresh working area with the repo's taxonomies and (optionally) the labelled sample."""
    home = root / "home"
    (home / "data/raw").mkdir(parents=True)
    if with_labels:
        dst = home / "data/raw/labels/north-cumbria-2019-2024"
        dst.mkdir(parents=True)
        shutil.copy(REPO / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv", dst)
    return home
