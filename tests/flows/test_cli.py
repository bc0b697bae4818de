"""The command line's options, parsed as a user types them (no flow runs here)."""
from __future__ import annotations

import pytest

from flows.cli import build_parser


@pytest.mark.parametrize("argv", [["ingest", "survey.csv", "--taxonomy", "my-aims"],
                                  ["--taxonomy", "my-aims", "ingest", "survey.csv"],
                                  ["inspect", "survey.csv", "--taxonomy", "my-aims"]])
def test_commands_that_read_exports_take_the_taxonomy_wherever_it_is_typed(argv):
    """An officer's script passes --taxonomy to every command; ingest must not refuse it."""
    assert build_parser().parse_args(argv).taxonomy == "my-aims"


def test_ingest_help_says_the_taxonomy_changes_nothing_there(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["ingest", "--help"])
    assert "exports are read the same whatever the taxonomy" in " ".join(capsys.readouterr().out.split())


def test_an_option_after_the_command_wins_over_none_before_it():
    args = build_parser().parse_args(["run", "--taxonomy", "cumbria-system-objectives", "--home", "/tmp/x"])
    assert (args.taxonomy, args.home) == ("cumbria-system-objectives", "/tmp/x")
