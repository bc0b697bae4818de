"""benchmarks/generate.py writes a working area the pipeline reads cleanly, the same for the same seed."""
from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def generate():
    spec = importlib.util.spec_from_file_location("generate", REPO / "benchmarks/generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def digests(home: Path) -> dict[str, str]:
    return {p.relative_to(home).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((home / "data/raw").rglob("*.csv"))}


def test_generated_load_ingests_cleanly_with_every_source_and_duplicates(generate, tmp_path):
    from flows.ingest import discover, ingest_file, resolve_duplicates
    from flows.settings import workspace
    from flows.store import connect

    files = generate.generate(200, tmp_path / "a", seed=3)
    assert sum(files.values()) == 200 and len(files) >= 5
    ws = workspace(tmp_path / "a").ensure()
    results = [ingest_file(str(ws.home), str(f.path), f.name, f.source, f.mapping) for f in discover(ws)]
    assert [r["status"] for r in results] == ["ingested"] * len(files)
    assert sum(r["answers"] for r in results) == 200
    assert sum(resolve_duplicates.fn(str(ws.home)).values()) > 0
    with connect(ws.db_path, read_only=True) as con:
        by_source = dict(con.execute("SELECT source, count(*) FROM answers GROUP BY source").fetchall())
        double = con.execute("SELECT count(*) FROM answers WHERE double_submission").fetchone()[0]
        copies = con.execute("SELECT count(*) FROM answers WHERE duplicate_of IS NOT NULL "
                             "AND duplicate_of <> 'double-submission'").fetchone()[0]
        texts = con.execute("SELECT count(DISTINCT text), count(*) FROM answers WHERE duplicate_of IS NULL").fetchone()
    assert set(by_source) == {"public", "staff", "healthwatch", "partner"}
    assert by_source["public"] > by_source["partner"] > 0
    assert double > 0 and copies > 0  # a respondent who sent the form twice; the coded copy of public answers
    assert texts[0] > 0.85 * texts[1]  # recombined, not copied: the embedding cache gets no free ride
    assert (ws.home / "data/raw/labels/north-cumbria-2019-2024/engagement-2019.csv").exists()


def test_same_seed_same_bytes_and_an_added_export_is_new(generate, tmp_path):
    generate.generate(150, tmp_path / "a", seed=1)
    generate.generate(150, tmp_path / "b", seed=1)
    generate.generate(150, tmp_path / "c", seed=2)
    assert digests(tmp_path / "a") == digests(tmp_path / "b") != digests(tmp_path / "c")
    added = generate.add_export(20, tmp_path / "a", seed=1)
    assert added.parent == tmp_path / "a/data/raw/inbox/public"
    old = (tmp_path / "a/data/raw/public/public-survey-wave-1.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    new = added.read_text(encoding="utf-8-sig").splitlines()[1:]
    assert 10 <= len(new) <= 20 and not set(old) & set(new)
