"""engage: turn engagement survey exports into "When we asked people … they said" summaries.

Everything runs on this machine. Exports are read from the working area's data/raw/, personal
details are redacted before anything is stored, and summaries are written to reports/<taxonomy>/.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

from flows.files import atomic_write_text, safe_cell
from flows.settings import DEFAULT_TAXONOMY, REPO, configure_environment, local_prefect, workspace
from flows.parallel import ADDRESS_ENV

EPILOG = """\
typical use:
  engage run                                   nightly job: ingest new exports, retrain if labels
                                               changed, classify, find themes, write reports
  engage inspect survey.xlsx                   what would be read from an export (nothing stored)
  engage ingest survey.xlsx --source staff     add one export now (copied into data/raw/store/)
  engage train --labels coded_answers.csv      add labelled answers (text, labels) and retrain
  engage report --format md,json,html,docx     rewrite the reports from the last run
  engage quotes --category AIM2 --source public -n 5
  engage export responses --out answers.csv    one row per answer with labels and scores
  engage review export review.xlsx             uncertain answers for an officer to label;
  engage review import review.xlsx             ... and their corrections back into training
  engage serve                                 local Prefect server + nightly schedule (02:00)

working area: --home DIR, else $ENGAGE_HOME, else this repository. It holds
  data/raw/         exports as dropped (may contain personal data: restrict access)
  data/raw/labels/<taxonomy id>/   labelled answers used for training (examples/: written examples)
  data/processed/   the database (engage.duckdb) and models (redacted text only)
  reports/<taxonomy id>/they-said.md, .json, .html, .docx; changes.md (themes new/grown/shrunk since last run)
  config/sources.yaml   which group (public/staff/healthwatch/partner) each export speaks for
"""

SOURCES = ("public", "staff", "healthwatch", "partner")


class UserError(Exception):
    """Something the user can fix; printed without a traceback."""



SCALE_EPILOG = """\
scale:
  A run only does what is new: files are known by their content, and embeddings and
  classifications are cached by text and model, so a night that adds 1% more answers costs a
  small part of the first run. A category's themes are fitted afresh only when its segments
  changed by 5% or more since their last fit (or with --refit-themes); otherwise new answers join
  the nearest existing theme and statement ids stay. Everything runs in this
  process unless a Dask cluster is given; then redaction, embedding and classification run there,
  in the same chunks, and the results are identical. The database stays on this machine.

  engage run --workers 2                        a temporary cluster of 2 worker processes here
  engage run --dask-address tcp://HOST:8786     an existing cluster (or set ENGAGE_DASK_ADDRESS)

  Workers of an existing cluster need engage installed, the same version as here, and
  PREFECT_API_URL set to a Prefect server they can reach (set it here too, so this machine uses
  the same one). On a single machine --workers mostly tests the set-up: the encoder already uses
  every core, and workers add start-up time. See README.md, "Scale", for measured figures.
"""


MAPPING_EPILOG = """\
column mapping (--mapping FILE.yaml), when `engage inspect` guessed a column wrongly:
  questions: ["Q3. What should we do over the next five years?", "Q4. Anything else?"]
  metadata: ["Postcode district", "Age band"]
  id_column: Response ID
  source_column: Respondent type
  source_values: {"A health or care professional": staff, "Other (please specify)": public}
                                   # the export's own words for public, staff, healthwatch, partner
  question_column: Question        # long layout: one row per answer
  sheet: Responses                 # which sheet of a workbook
  Give only the keys you need; the rest is still detected.
"""


def _para(text: str) -> str:
    """A description wrapped for a raw-formatted parser (which keeps the epilog's layout)."""
    return textwrap.fill(text, 100)


def _positive(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {n}")
    return n


def _not_negative(value: str) -> int:
    n = int(value)
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {n}")
    return n


def _scale(p: argparse.ArgumentParser, serving: bool = False) -> None:
    runs = "each run's" if serving else "the"
    p.add_argument("--dask-address", metavar="ADDR", default=None,
                   help=f"run {runs} heavy tasks (redaction, embedding, classification) on the Dask scheduler "
                        f"at ADDR, e.g. tcp://10.0.0.5:8786 (default: ${ADDRESS_ENV}; neither: in this process)")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="start a temporary Dask cluster of N worker processes on this machine "
                        + ("while serving" if serving else "for this run") + ", and stop it afterwards")


def _cluster(args):
    """The Dask cluster the command asked for (see flows.parallel.dask_cluster)."""
    from flows.parallel import dask_address, dask_cluster

    if args.workers is not None and args.workers < 1:
        raise UserError("--workers needs at least 1 worker")
    if args.workers and args.dask_address:
        raise UserError("give either --dask-address or --workers, not both")
    return dask_cluster(None if args.workers else dask_address(args.dask_address), args.workers)


def _common(p: argparse.ArgumentParser, taxonomy: bool = True) -> None:
    """--home and --taxonomy after the command as well as before it. Commands that read exports
    (`taxonomy=False`) take --taxonomy too, so one set of options works with every command, but
    say that it changes nothing there: exports are read the same whatever the taxonomy."""
    p.add_argument("--home", default=argparse.SUPPRESS, metavar="DIR",
                   help="working area (default: $ENGAGE_HOME or this repository)")
    p.add_argument("--taxonomy", default=argparse.SUPPRESS, metavar="FILE-or-ID",
                   help=f"taxonomy YAML file or id in config/taxonomies/ (default: the one this working area last ran, else {DEFAULT_TAXONOMY})"
                   if taxonomy else "accepted for scripts that pass it to every command; exports are read "
                                    "the same whatever the taxonomy (it applies at `engage run`)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="engage", description=__doc__, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default=None, metavar="DIR", help="working area (default: $ENGAGE_HOME or this repository)")
    ap.add_argument("--taxonomy", default=None, metavar="FILE-or-ID",
                    help=f"taxonomy YAML file or id (default: the one this working area last ran, else {DEFAULT_TAXONOMY})")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="add exports (CSV, XLSX, DOCX or text PDF) to the working area and read them",
                       description=_para("Copy exports into data/raw/store/ (kept by content, so the same bytes "
                                         "under another name are not counted twice), redact personal details and "
                                         "store one row per answer. A file that cannot be read is quarantined in "
                                         "data/raw/quarantine/ with a .reason.txt saying what to do; the other "
                                         "files still go in. Dropping files into data/raw/inbox/ (or "
                                         "inbox/<source>/) and running `engage run` does the same."),
                       epilog=MAPPING_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="export files")
    p.add_argument("--source", choices=SOURCES,
                   help="who answered, when the export has no source column (kept with the file)")
    p.add_argument("--mapping", type=Path, metavar="FILE.yaml",
                   help="override what is guessed: a YAML mapping with any of questions, metadata, id_column, "
                        "source_column, source_values, question_column, sheet (see `engage inspect`)")
    _common(p, taxonomy=False)

    p = sub.add_parser("inspect", help="show what would be read from an export, without ingesting it",
                       description="Detect the file's format, encoding, layout, ID column, free-text questions "
                                   "(with answer counts) and metadata columns, and say what would be read; "
                                   "nothing is stored. If the file cannot be read, says why and what to do.")
    p.add_argument("file", type=Path, metavar="FILE", help="the export to look at (CSV, XLSX, DOCX or PDF)")
    p.add_argument("--mapping", type=Path, metavar="FILE.yaml", help="a column mapping to try (as for ingest)")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    _common(p, taxonomy=False)

    p = sub.add_parser("train", help="add labelled answers and (re)train the classifier",
                       description=_para("Train the taxonomy's classifier from every labelled CSV in "
                                         "data/raw/labels/<taxonomy id>/ and every CSV of written examples in its "
                                         "examples/ folder. --labels adds a CSV with a `text` column and a `labels` "
                                         "column (codes separated by ';', e.g. AIM2;END) first; optional columns "
                                         "`sentiment`, `question`, `source` and `response_id`. --examples adds answers "
                                         "written to illustrate the categories (same columns): they train the "
                                         "classifier, and the ones most like an answer vote on it, but they are not "
                                         "counted as labelled answers or scored in its cross-validated F1. A "
                                         "taxonomy is classified by a trained model once it has 50 labelled answers "
                                         "and examples between them, at least 5 in every category, and the model "
                                         "agrees with the labelled answers better than zero-shot does; until then, "
                                         "zero-shot."))
    p.add_argument("--labels", type=Path, action="append", metavar="FILE", help="labelled CSV to add (repeatable)")
    p.add_argument("--examples", type=Path, action="append", metavar="FILE",
                   help="CSV of written examples of the coding frame to add (repeatable)")
    p.add_argument("--force", action="store_true", help="retrain even if nothing changed")
    _common(p)

    p = sub.add_parser("run", help="the nightly job: ingest, train if needed, classify, themes, reports",
                       description=_para("Ingest every new export in data/raw/ (and data/raw/inbox/), retrain "
                                         "when the labelled data changed, classify new answers, find themes in "
                                         "each category and write reports/<taxonomy id>/they-said.md, .json, "
                                         ".html and .docx, and changes.md (themes new, grown, shrunk or "
                                         "reworded since the last run). Exits 1 if any file was quarantined."),
                       epilog=SCALE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0, help="random seed for the topic models (default 0)")
    p.add_argument("--refit-themes", action="store_true",
                   help="fit every category's themes afresh; by default a category whose segments changed by "
                        "less than 5%% since its last fit keeps those themes and new answers join the nearest one")
    _scale(p)
    _common(p)

    p = sub.add_parser("export", help="export tables (responses) as CSV",
                       description="Write one row per counted answer: source_file, respondent_id, question, source, "
                                   "text (redacted), labels, score_<CODE> per category and theme. Cells that a "
                                   "spreadsheet would run as a formula are prefixed with an apostrophe.")
    p.add_argument("what", choices=["responses"], help="what to export")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.csv", help="where to write the CSV")
    _common(p)

    p = sub.add_parser("report", help="rewrite the they-said reports from the last run",
                       description="Rebuild reports/<taxonomy id>/they-said.* from the database, without "
                                   "re-running any model.")
    p.add_argument("--format", default="md,json,html,docx",
                   help="comma-separated formats: md, json, html, docx (default: all four)")
    _common(p)

    p = sub.add_parser("quotes", help="representative quotes, for pasting into a document",
                       description=_para("Redacted quotes, most typical of each theme first and one per person, "
                                         "attributed as a strategy would print them (\"member of the public, CA28, "
                                         "65–74\"). Filter by category, theme, source, sentiment or locality, "
                                         "or search by meaning with --about."),
                       epilog="examples:\n  engage quotes --category AIM2 --source public -n 5\n"
                              "  engage quotes --about \"video appointments\" --format md\n"
                              "  engage quotes --category AIM3 --locality CA28 --format docx --out quotes.docx",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--category", metavar="CODE", help="category code, e.g. AIM2 (default: all)")
    p.add_argument("--theme", metavar="ID", help="theme id from the report, e.g. AIM2-3")
    p.add_argument("--source", choices=SOURCES, help="only quotes from this group")
    p.add_argument("--sentiment", choices=["negative", "neutral", "positive", "mixed"], help="only this sentiment")
    p.add_argument("--locality", metavar="PLACE", help="only this locality, e.g. CA28 or 'Maryport drop-in'")
    p.add_argument("--about", metavar="TEXT", help="search by meaning, e.g. \"video appointments\", over every "
                                                   "classified sentence, also those in no theme")
    p.add_argument("-n", type=_positive, default=10, help="how many quotes (default 10)")
    p.add_argument("--with-redacted", action="store_true",
                   help="also quotes in which personal details were redacted ([NAME], [PHONE] …): left out by "
                        "default, as what is left can still point to someone (as in the reports)")
    p.add_argument("--format", choices=["table", "md", "csv", "docx"], default="table",
                   help="output format; only csv, for the engagement team's records, names each quote's file "
                        "and respondent id")
    p.add_argument("--out", type=Path, metavar="FILE", help="write to FILE (required for docx)")
    _common(p)

    p = sub.add_parser("review", help="the review loop: export uncertain answers to XLSX, import corrections",
                       description="`review export` writes the answers the classifier is least sure of, plus a "
                                   "random sample for quality control, to an XLSX; while a category has fewer than "
                                   "5 labelled answers (so no trained model yet), the 10 answers most likely in it "
                                   "come first. An officer types the right "
                                   "codes in its yellow 'labels' column; `review import` adds those rows to the "
                                   "labelled data, and the next `engage run` retrains and reports the change in "
                                   "cross-validated F1.")
    p.add_argument("action", choices=["export", "import"],
                   help="export: write the workbook to FILE; import: read an officer's filled-in FILE")
    p.add_argument("file", type=Path, metavar="FILE.xlsx", help="the workbook to write (export) or read (import)")
    p.add_argument("-n", type=_positive, default=100, help="how many uncertain answers to export (default 100)")
    p.add_argument("--sample", type=_not_negative, default=20,
                   help="how many random answers to add for quality control")
    _common(p)

    p = sub.add_parser("serve", help="run the nightly job on a schedule with a local Prefect server",
                       description=_para("Start a local Prefect server (127.0.0.1 only, state in the working "
                                         "area) unless PREFECT_API_URL points at one, and serve the nightly flow "
                                         "on a cron schedule, watching data/raw/inbox/ for new exports. Stop with Ctrl-C, "
                                         "or SIGTERM (how systemd or Docker stop a service): either pauses the "
                                         "schedule and stops the server."),
                       epilog=SCALE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cron", default="0 2 * * *", help="cron schedule (default: '0 2 * * *', 02:00 daily)")
    p.add_argument("--port", type=int, default=4200, help="local server port (default 4200)")
    _scale(p, serving=True)
    _common(p)
    return ap


# Commands that only read what a run produced: a mistyped --home must not create a new, empty area.
READ_ONLY = {"report", "export", "quotes"}
TAXONOMY_COMMANDS = {"train", "run", "export", "report", "quotes", "review", "serve"}


def _working_taxonomy(args, ws) -> str | None:
    """The taxonomy a command works with. Given as a YAML file to a command that writes, it is saved as
    config/taxonomies/<id>.yaml, so later commands can name it by id. Not given, it is the one this
    working area last ran (said on stderr when that is not the default): forgetting --taxonomy
    on a Westmorland working area used to analyse it under North Cumbria's aims without a word."""
    from flows.settings import load_taxonomy_file, resolve_taxonomy
    from flows.store import DatabaseBusy, last_run_taxonomy
    from nlp.taxonomy import TaxonomyError

    spec = args.taxonomy
    if spec is None:
        try:
            last = last_run_taxonomy(ws.db_path, ws.snapshot_path)
            if last and last != DEFAULT_TAXONOMY and resolve_taxonomy(last, ws.home):
                print(f"taxonomy: {last}, the one this working area last ran (--taxonomy chooses another)",
                      file=sys.stderr)
                return last
        except (DatabaseBusy, TaxonomyError):  # busy: the command itself says so; gone: the default
            pass
        return None
    path = Path(spec).expanduser()
    if args.command in ("train", "run", "serve") and path.suffix in (".yaml", ".yml") and path.is_file():
        tax = load_taxonomy_file(path)
        saved = ws.home / "config/taxonomies" / f"{tax.id}.yaml"
        bundled = REPO / "config/taxonomies" / f"{tax.id}.yaml"
        text = path.read_text(encoding="utf-8")
        if path.resolve() in (saved.resolve(), bundled.resolve()) or \
                (saved.is_file() and saved.read_text(encoding="utf-8") == text):
            return spec
        if bundled.is_file():  # a draft that kept a shipped id must not replace the shipped file
            print(f"taxonomy {path} has the id {tax.id} of a taxonomy that ships with engage: used for this "
                  "command only, not saved; give it an id of its own to keep it", file=sys.stderr)
            return spec
        atomic_write_text(saved, text)
        print(f"taxonomy {tax.id} saved as {saved}: later commands here can give --taxonomy {tax.id}, or "
              "nothing once it has run", file=sys.stderr)
    return spec


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ws = workspace(args.home)
    if (args.command in READ_ONLY or args.command == "review" and args.action == "export") \
            and not ws.db_path.exists():
        print(f"engage: no results in {ws.home} (no {ws.db_path.relative_to(ws.home)}): check --home or "
              "$ENGAGE_HOME, or run `engage run` there first", file=sys.stderr)
        return 1
    ws = ws.ensure()
    configure_environment(ws)
    if args.command in TAXONOMY_COMMANDS:
        args.taxonomy = _working_taxonomy(args, ws)
    if args.command != "serve":
        join_running_server(ws)
    try:
        if args.command in FLOW_MODULES:
            with local_prefect(FLOW_MODULES[args.command], ws.prefect_home):
                return COMMANDS[args.command](args, ws)
        return COMMANDS[args.command](args, ws)
    except UserError as e:
        print(f"engage: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"engage: {msg}", file=sys.stderr)
        return 1


def cmd_ingest(args, ws) -> int:
    from flows.ingest import ingest_flow

    missing = [str(p) for p in args.paths if not p.is_file()]
    if missing:
        raise UserError(f"no such file: {', '.join(missing)}")
    result = ingest_flow(str(ws.home), [str(p.resolve()) for p in args.paths], args.source, _mapping(args.mapping))
    return _print_ingest(result, ws)


def _print_ingest(result: dict, ws, nightly: bool = False) -> int:
    """What happened to each file; on a nightly run a file `engage ingest` read since the last report
    is "new" (to the report), not "unchanged"."""
    bad = 0
    for r in result["files"]:
        if r["status"] == "quarantined":
            bad += 1
            # The reason names the file itself as often as not ("X is empty.", "X: the … column").
            reason = r["reason"] if r["reason"].startswith(r["file"]) else f"{r['file']}: {r['reason']}"
            print(f"QUARANTINED {reason}\n  (original kept in {ws.quarantine}; "
                  "see the .reason.txt beside it)", file=sys.stderr)
        else:
            new = nightly and r.get("unreported")
            print(f"{'new' if new else r['status']:>10}  {r['file']}  ({r.get('answers', 0)} answers)")
            if new:
                print("            note: read by `engage ingest` since the last report; new to this one")
            for note in r.get("notes") or []:
                print(f"            note: {note}")
    for c in result.get("renamed_copies") or []:
        print(f"{c['file']} is the same file as {c['same_as']}, already in: nothing new to read")
    # Both counts are of the whole working area (every export so far), not of this command's files.
    if result.get("copies"):
        print(f"in all exports: {_answers(result['copies'])} in more than one export, counted once")
    if result.get("recut"):
        print(f"{result['recut']} answers were cut into sentences again (this version cuts them differently); "
              "they are classified and placed in themes afresh")
    if result.get("empty_flags_changed"):
        print(f"{_answers(result['empty_flags_changed'])} read again as saying nothing (\"see previous answer\") or "
              "as saying something, by this version's rule; they are classified and placed in themes afresh")
    if result.get("double_submissions"):
        print(f"in all exports: {_answers(result['double_submissions'])} from a respondent's second submission "
              "of the same answers, counted once")
    return 1 if bad else 0


def _answers(n: int) -> str:
    return f"{n} answer" if n == 1 else f"{n} answers"


def _mapping(path: Path | None) -> dict | None:
    if path is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"cannot read the mapping {path}: {e}") from e
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a YAML mapping, e.g. `questions: [Q5. Any other comments?]`")
    return data


def cmd_inspect(args, ws) -> int:
    from nlp.ingest import IngestError, describe_export

    if not args.file.is_file():
        raise UserError(f"no such file: {args.file}")
    try:
        d = describe_export(args.file.read_bytes(), args.file.name, _mapping(args.mapping))
    except IngestError as e:
        raise UserError(str(e)) from e
    if args.json:
        print(json.dumps(d, indent=2, ensure_ascii=False))
        return 0
    where = ", ".join(f"{k} {d[k]}" for k in ("encoding", "delimiter", "sheet") if d.get(k))
    print(f"{d['file']}: {d['format']} ({where or 'no options'}), {d['layout']} layout, "
          f"{d['header_rows']} header row(s), {d['rows']} rows")
    print(f"respondent id: {d['id_column'] or 'none (row numbers will be used)'}; "
          f"source: {d['source_column'] or 'not in the file (give --source)'}")
    print(f"{d['answers']} answers from {d['respondents']} respondents"
          + (f"; {d['double_submissions']} double submission{'s' if d['double_submissions'] != 1 else ''} flagged"
             if d.get("double_submissions") else ""))
    print("questions (free text):")
    for q in d["questions"]:
        print(f"  {q['answers']:>6}  {q['question']}")
    if d["metadata"]:
        print("kept as metadata: " + ", ".join(f"{m['column']} ({m['role']})" for m in d["metadata"]))
    if d.get("sources"):
        print("sources: " + ", ".join(f"{k} {n}" for k, n in d["sources"].items()))
    for note in d.get("notes") or []:
        print(f"note: {note}")
    return 0


def cmd_train(args, ws) -> int:
    from flows.train import train_flow

    for p in [*(args.labels or []), *(args.examples or [])]:
        if not p.is_file():
            raise UserError(f"no such labels file: {p}")
    r = train_flow(str(ws.home), args.taxonomy, [str(p) for p in args.labels or []], args.force,
                   [str(p) for p in args.examples or []])
    print(model_summary(r))
    return 0


def themes_summary(themes: dict) -> str:
    """One line on the theme refresh: which categories kept their last fit and which were refitted."""
    kept = [c for c, s in themes.items() if s.get("segments") and not s.get("refitted", True)]
    refitted = [c for c, s in themes.items() if s.get("segments") and s.get("refitted", True)]
    parts = []
    if refitted:
        parts.append(f"refitted in {', '.join(refitted)}")
    if kept:
        parts.append(f"kept from their last fit in {', '.join(kept)} (little changed since; "
                     "`engage run --refit-themes` refits them)")
    return "themes: " + ("; ".join(parts) if parts else "no category has segments yet")


def model_summary(r: dict) -> str:
    """One line on the classifier, with the change in cross-validated F1 when it was retrained."""
    state = "retrained" if r["trained"] else "up to date"
    prev = r.get("previous") or {}
    if r.get("mode") == "zero-shot" and r.get("trained_macro_f1") is not None:
        state = "kept" if r["trained"] else "unchanged"
        return (f"classifier for {r['taxonomy_id']} {state}: zero-shot from the category titles and descriptions, as a "
                f"model trained on the {r['n_train']} labelled answers agrees with them less well (macro F1 "
                f"{r['trained_macro_f1']:.3f}) than zero-shot does ({r['zero_shot_macro_f1']:.3f}); label more answers, "
                "every category among them (`engage review export`), and it takes over once it does better")
    thin = r.get("thin_categories") or {}
    if r.get("mode") == "zero-shot" and thin and r["n_train"] + r.get("n_examples", 0) >= r["min_labelled"]:
        state = "kept" if r["trained"] else "unchanged"
        few = ", ".join(f"{c} has {n}" for c, n in thin.items())
        return (f"classifier for {r['taxonomy_id']} {state}: zero-shot from the category titles and descriptions, "
                f"though {r['n_train']} answers are labelled: a trained model takes over once every category has "
                f"{r['min_per_category']} labelled answers, and so far {few} (`engage review export` lists answers "
                "likely to be in them first)")
    if r.get("mode") == "zero-shot":
        state = "set up" if r["trained"] else "unchanged"
        short = f"; so far {', '.join(f'{c} has {n}' for c, n in thin.items())}" if thin and r["n_train"] else ""
        return (f"classifier for {r['taxonomy_id']} {state}: zero-shot from the category titles and descriptions "
                f"({r['n_train']} different labelled answers so far; a trained model takes over from "
                f"{r['min_labelled']}, with at least {r.get('min_per_category', 5)} in every category{short}, once it "
                "agrees with them better than zero-shot does: add labels with `engage train --labels FILE.csv` or "
                "`engage review import`)")
    examples = f" and {r['n_examples']:,} written examples of the coding frame" if r.get("n_examples") else ""
    if r["oof_macro_f1"] is None:
        return (f"classifier for {r['taxonomy_id']} {state}: trained on {r['n_train']} labelled answers{examples}; "
                f"its F1 is measured once {r['min_labelled']} answers are labelled (`engage review export`)")
    line = (f"classifier for {r['taxonomy_id']} {state}: {r['n_train']} labelled answers{examples}, cross-validated "
            f"on the labelled answers: micro F1 {r['oof_micro_f1']:.3f}, macro F1 {r['oof_macro_f1']:.3f}"
            + (f" (zero-shot: {r['zero_shot_macro_f1']:.3f})" if r.get("zero_shot_macro_f1") is not None else ""))
    if r["trained"] and prev.get("mode") == "zero-shot":
        line += (". It replaces the zero-shot start: answers were classified again, so counts and themes move "
                 "because of that, not because people said something new (changes.md)")
    elif r["trained"] and prev.get("oof_macro_f1") is not None:
        line += (f" (was {prev['oof_micro_f1']:.3f} / {prev['oof_macro_f1']:.3f} with {prev['n_train']} answers; "
                 f"macro {r['oof_macro_f1'] - prev['oof_macro_f1']:+.3f})")
    return line


def cmd_run(args, ws) -> int:
    from flows.nightly import nightly_flow

    with _cluster(args) as address:
        result = nightly_flow(str(ws.home), args.taxonomy, args.seed, dask_address=address,
                              refit_themes=args.refit_themes)
    status = _print_ingest(result["ingest"], ws, nightly=True)
    if result.get("no_answers"):
        print(f"no answers to analyse yet, so no report: drop exports (CSV, XLSX, DOCX or PDF) into "
              f"{ws.inbox}/ (or inbox/<group>/, e.g. inbox/staff/) and run `engage run` again"
              + (", after fixing the quarantined files above" if status else ""))
        return status
    if none := result.get("no_questions"):
        listed = "; ".join(f"\u201c{q}\u201d" for q in none["questions"][:8]) + (" …" if len(none["questions"]) > 8 else "")
        print(f"engage: no answer is to a question containing {' or '.join(repr(w) for w in none['words'])} (the "
              f"taxonomy's questions list), so nothing was analysed and the reports were left as they were. The "
              f"questions in this working area are: {listed}. Correct the taxonomy's questions and run again.",
              file=sys.stderr)
        return 1
    print(model_summary(result["train"]))
    if result.get("skipped"):
        print("nothing new since the last run: the reports are up to date")
    elif result.get("analyse"):
        print(themes_summary(result["analyse"]["themes"]))
    for path in result["reports"]:
        print(f"report: {path}")
    if result["reports"] and not result.get("skipped"):
        print(f"what changed since the last run: {Path(result['reports'][0]).with_name('changes.md')}")
    return status


def cmd_report(args, ws) -> int:
    from flows.report import FORMATS, report_flow
    from flows.settings import resolve_taxonomy

    # Checked here, not in the flow, so a typo gets one line rather than a flow run's traceback.
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise UserError(f"unknown report format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    tax = resolve_taxonomy(args.taxonomy, ws.home)
    from flows.store import connect, reader_path, require_classified

    if ws.db_path.exists():
        with connect(reader_path(ws.db_path, ws.snapshot_path), read_only=True) as con:
            require_classified(con, tax.id)
    for path in report_flow(str(ws.home), args.taxonomy, formats):
        print(f"report: {path}")
    return 0


def cmd_export(args, ws) -> int:
    from flows.queries import responses_table
    from flows.files import atomic_write_text
    import io

    df = responses_table(ws, args.taxonomy)
    buf = io.StringIO()
    df.map(safe_cell).to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL)
    atomic_write_text(args.out, buf.getvalue())
    print(f"wrote {len(df)} answers to {args.out}")
    return 0


def cmd_quotes(args, ws) -> int:
    from flows.files import atomic_write_bytes, atomic_write_text
    from flows.queries import quotes_table
    from flows.report_docx import render_quotes_docx

    df = quotes_table(ws, args.taxonomy, args.category, args.source, args.n, theme=args.theme,
                      locality=args.locality, about=args.about, sentiment=args.sentiment,
                      with_redacted=args.with_redacted)
    if df.empty:
        print("no quotes match those filters", file=sys.stderr)
        return 0
    if args.format == "docx":
        if not args.out:
            raise UserError("--format docx needs --out FILE.docx")
        title = "Quotes" + (f": {args.category}" if args.category else "") + (f" about {args.about}" if args.about else "")
        atomic_write_bytes(args.out, render_quotes_docx(title, df.to_dict("records")))
        print(f"wrote {len(df)} quotes to {args.out}")
        return 0
    if args.format == "csv":
        text = df.map(safe_cell).to_csv(index=False)
    elif args.format == "md":
        text = "".join(f"{_warning(r, '*{}*')}> “{r.quote}”\n> — {r.attribution} ({_theme_of(r)})\n\n"
                       for r in df.itertuples())
    else:
        # No file or respondent id on screen either, as it may be pasted; the csv format has them.
        text = "".join(f"{_warning(r, '{}')}“{r.quote}”\n    — {r.attribution}; {_theme_of(r)}\n\n"
                       for r in df.itertuples())
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {len(df)} quotes to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def _warning(row, form: str) -> str:
    """A content note on the line before a quote that speaks of suicide or self-harm."""
    from flows.report_html import QUOTE_CONTENT_NOTE

    return form.format(QUOTE_CONTENT_NOTE) + "\n" if row.distressing else ""


def _theme_of(row) -> str:
    """Where a quote sits: its theme, or (found by --about) its category when it is in no theme."""
    if isinstance(row.theme_id, str):
        return f"{row.theme_id}: {row.statement}"
    return f"{row.code}, close to none of its themes"


def cmd_review(args, ws) -> int:
    from flows.review import import_review, review_candidates, write_review_xlsx
    from flows.settings import resolve_taxonomy

    tax = resolve_taxonomy(args.taxonomy, ws.home)
    if args.action == "export":
        df = review_candidates(ws, args.taxonomy, args.n, args.sample)
        if df.empty:
            print("every answer is labelled already (or says nothing): nothing to review, no workbook written")
            return 0
        write_review_xlsx(df, [(c.code, c.title) for c in tax.categories], args.file)
        print(f"wrote {len(df)} answers to review to {args.file}; fill in the yellow 'labels' column, "
              f"then run: engage review import {args.file}")
        return 0
    if not args.file.is_file():
        raise UserError(f"no such file: {args.file}")
    target, n = import_review(ws, args.taxonomy, args.file)
    if not n:
        print(f"{args.file} has no rows with labels filled in; nothing imported")
        return 0
    print(f"imported {n} reviewed answers into {target}; the next `engage run` retrains the classifier")
    return 0


def _wait_healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(1)
    return False


def server_file(ws) -> Path:
    """Where `engage serve` leaves its server's address for commands run from other terminals."""
    return ws.prefect_home / "server.url"


def join_running_server(ws) -> None:
    """Run this command's flows on the working area's `engage serve` server when one is up.

    Otherwise each command would start a temporary server on the same Prefect database file as the
    running one; joining it avoids that and shows the command's runs in the served UI.
    """
    f = server_file(ws)
    if os.environ.get("PREFECT_API_URL") or not f.exists():
        return
    url = f.read_text().strip()
    if _wait_healthy(url, 2):
        os.environ["PREFECT_API_URL"] = url


def cmd_serve(args, ws) -> int:
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        url = f"http://127.0.0.1:{args.port}/api"
        log = open(ws.prefect_home / "server.log", "ab")
        # In its own session, so Ctrl-C stops this command first: on its way out the flow runner pauses
        # its schedule through this server (which otherwise died at the same moment, and the runner's
        # retries kept Ctrl-C waiting a minute or more); the `finally` below then stops the server.
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(args.port)], stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PREFECT_UI_ENABLED": "true"}, start_new_session=True)
        if not _wait_healthy(url, 120):
            _stop_session(server)
            raise UserError(f"the local Prefect server did not start; see {ws.prefect_home / 'server.log'}")
        os.environ["PREFECT_API_URL"] = url
        atomic_write_text(server_file(ws), url)
        print(f"local Prefect server: {url[:-4]} (state in {ws.prefect_home})")
    from flows.nightly import nightly_flow
    from flows.serve import serve
    from flows.watch import watch_inbox

    stop = threading.Event()
    watcher = threading.Thread(target=watch_inbox, args=(ws, "engage-nightly/nightly", stop), daemon=True)
    watcher.start()
    print(f"serving the nightly flow on cron '{args.cron}' and watching {ws.inbox} for new exports; "
          "Ctrl-C (or SIGTERM) to stop")
    try:
        with _cluster(args) as address:
            if address:
                print(f"heavy tasks run on the Dask cluster at {address}")
            serve(nightly_flow, "nightly", args.cron,
                  {"home": str(ws.home), "taxonomy": args.taxonomy, "dask_address": address})
    finally:
        stop.set()
        if server is not None:
            server_file(ws).unlink(missing_ok=True)
            _stop_session(server)
    return 0


def _stop_session(process: subprocess.Popen, grace: float = 30) -> None:
    """Stop a process started in its own session, and anything it started: as Ctrl-C in its own
    terminal would (`prefect server start` can outlive a SIGTERM by half a minute), then by force."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(grace)
            return
        except subprocess.TimeoutExpired:
            continue


# Commands that run Prefect flows in this process, and the module their flows come from.
FLOW_MODULES = {"ingest": "flows.ingest", "train": "flows.train", "run": "flows.nightly", "report": "flows.report"}
COMMANDS = {"inspect": cmd_inspect, "review": cmd_review, "ingest": cmd_ingest, "train": cmd_train, "run": cmd_run, "report": cmd_report,
            "export": cmd_export, "quotes": cmd_quotes, "serve": cmd_serve}

if __name__ == "__main__":
    raise SystemExit(main())
