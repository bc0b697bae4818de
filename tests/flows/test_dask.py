"""The nightly flow with its heavy tasks on a 2-worker Dask LocalCluster stores exactly what the
default in-process runner stores."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import REPO

TABLES = {
    "answers": "SELECT answer_id, text, duplicate_of, metadata FROM answers ORDER BY answer_id",
    "embeddings": "SELECT text_hash, vector FROM embeddings ORDER BY text_hash",
    "predictions": "SELECT answer_id, code, score, assigned, model_version FROM predictions ORDER BY answer_id, code",
    "segment_scores": "SELECT answer_id, seg_index, code, score FROM segment_scores ORDER BY answer_id, seg_index, code",
    "sentiments": "SELECT answer_id, seg_index, sentiment FROM sentiments ORDER BY answer_id, seg_index",
    "themes": "SELECT code, theme_id, rank, statement, n_people, detail FROM themes ORDER BY code, theme_id",
    "theme_members": "SELECT code, theme_id, answer_id, seg_index, centrality FROM theme_members "
                     "ORDER BY code, answer_id, seg_index",
}


def generated_home(root: Path, n: int) -> Path:
    spec = importlib.util.spec_from_file_location("generate", REPO / "benchmarks/generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = module
    spec.loader.exec_module(module)
    module.generate(n, root, seed=11)
    return root


def dump(home: Path) -> dict[str, list]:
    with duckdb.connect(str(home / "data/processed/engage.duckdb"), read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in TABLES.items()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, prefect_harness) -> Path:
    """A generated working area with the classifier trained (identically for both runs, in-process)
    on every 4th labelled answer: enough for a trained classifier and a sentiment model, quick to fit."""
    from flows.train import train_flow

    home = generated_home(tmp_path_factory.mktemp("base") / "home", 60)
    labels = home / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv"
    labels.write_text(pd.read_csv(labels, dtype=str, keep_default_na=False).iloc[::4].to_csv(index=False))
    assert train_flow(str(home))["mode"] == "trained"
    return home


def test_dask_runner_stores_the_same_results_as_the_default_runner(trained, tmp_path):
    from distributed import Client

    from flows.nightly import nightly_flow
    from flows.parallel import dask_cluster
    from flows.timing import history

    local, cluster = tmp_path / "local", tmp_path / "dask"
    shutil.copytree(trained, local)
    shutil.copytree(trained, cluster)
    nightly_flow(str(local))
    with dask_cluster(None, 2) as address:
        assert address and address.startswith("tcp://")
        nightly_flow(str(cluster), dask_address=address)
        with Client(address) as client:  # the encoding really happened in the workers
            encoded = client.run(lambda: sum(r["items"] for r in history() if r["stage"] == "encode"))
    assert len(encoded) == 2 and sum(encoded.values()) > 50
    a, b = dump(local), dump(cluster)
    assert len(a["predictions"]) > 300 and len(a["themes"]) > 3 and len(a["sentiments"]) > 50
    for name in TABLES:
        assert a[name] == b[name], f"{name} differs between the default and the Dask runner"
