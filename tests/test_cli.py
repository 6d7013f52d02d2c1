import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from climseg import cli

REPO = Path(__file__).resolve().parents[1]


def run_climseg(*args):
    return subprocess.run([sys.executable, "-m", "climseg", *args], capture_output=True, text=True, timeout=300)


def listed_commands(help_text: str) -> list[str]:
    """The command names of the 'commands:' section of ``climseg --help``."""
    section = help_text.split("commands:", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in section.splitlines() if line.strip()]


def test_top_level_help_lists_the_documented_commands_and_each_runs():
    result = run_climseg("--help")
    assert result.returncode == 0
    listed = listed_commands(result.stdout)
    documented = set(re.findall(r"^climseg (\w+) ", (REPO / "docs" / "design.md").read_text(), flags=re.M))
    assert documented and documented <= set(listed), f"documented in docs/design.md, not in --help: {documented - set(listed)}"
    for name in listed:
        shown = run_climseg(name, "--help")
        assert shown.returncode == 0 and shown.stdout.startswith(f"usage: climseg {name} "), shown.stderr


def test_unknown_command_is_an_error():
    result = run_climseg("frobnicate")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_explains_itself_and_each_option(name):
    parser = cli.command_parser(name)
    text = parser.format_help()
    assert text.startswith(f"usage: climseg {name} ")
    assert len(parser.description.split()) >= 8, f"climseg {name}: a description of a few words explains little"
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, f"climseg {name}: {action.dest} has no help"


def test_command_modules_do_not_import_tensorflow_at_import_time():
    code = ("import sys, importlib; from climseg.cli import COMMANDS\n"
            "[importlib.import_module(m) for m, _ in COMMANDS.values()]\n"
            "print('tensorflow' in sys.modules, 'mpi4py.MPI' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_user_error_is_one_line_and_exit_code_2(tmp_path):
    result = run_climseg("stats", str(tmp_path / "missing-dir"), "--out", str(tmp_path / "stats.h5"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("climseg stats: error:") and "missing-dir" in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------- sample sources
@pytest.fixture(scope="module")
def nested_samples(tiny_trained_run, tmp_path_factory):
    """The tiny run's 8 samples spread over nested folders (as a workflow writes them: one folder per
    input file or year), plus a text list naming two of them by paths relative to the list's folder."""
    import shutil

    root = tmp_path_factory.mktemp("nested")
    samples = sorted(tiny_trained_run["samples"].glob("data-*.h5"))
    for i, sample in enumerate(samples):
        folder = root / "samples" / ("2000" if i < 4 else "2001/late")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, folder / sample.name)
    (root / "lists").mkdir()
    (root / "lists" / "two.txt").write_text(f"# two samples\n../samples/2000/{samples[0].name}\n\n"
                                            f"../samples/2001/late/{samples[-1].name}  # the last\n")
    return {"dir": root / "samples", "list": root / "lists" / "two.txt", "count": len(samples),
            "run": tiny_trained_run["run"], "stats": tiny_trained_run["stats"]}


def test_stats_and_split_read_a_nested_directory(nested_samples, tmp_path, capsys):
    assert cli.main(["stats", str(nested_samples["dir"]), "--out", str(tmp_path / "stats.h5")]) == 0
    assert f"{nested_samples['count']} sample(s)" in capsys.readouterr().out
    assert cli.main(["stats", str(nested_samples["list"]), "--out", str(tmp_path / "two.h5")]) == 0
    assert "2 sample(s)" in capsys.readouterr().out
    assert cli.main(["split", str(nested_samples["dir"]), "--out", str(tmp_path / "split"),
                     "--block-hours", "6"]) == 0
    listed = sum(len((tmp_path / "split" / f"{s}.txt").read_text().split()) for s in ("train", "validation", "test"))
    assert listed == nested_samples["count"]


def test_predict_and_evaluate_read_a_nested_directory_and_a_relative_list(nested_samples, tmp_path, capsys):
    run = str(nested_samples["run"])
    assert cli.main(["predict", "--run", run, str(nested_samples["list"]), "--out", str(tmp_path / "p"),
                     "--no-progress"]) == 0
    assert len(list((tmp_path / "p").glob("data-*.h5"))) == 2
    assert cli.main(["evaluate", "--run", run, "--data", str(nested_samples["dir"]), "--out",
                     str(tmp_path / "r.json"), "--no-progress"]) == 0
    assert f"{nested_samples['count']} samples, mean IoU" in capsys.readouterr().out


def test_train_reads_a_nested_directory(nested_samples, tmp_path):
    assert cli.main(["train", "--data", str(nested_samples["dir"]), "--stats", str(nested_samples["stats"]),
                     "--model-preset", "small", "--crop", "44", "68", "--out", str(tmp_path / "run"),
                     "--batch-size", "2", "--epochs", "1", "--steps-per-epoch", "1", "--read-workers", "1",
                     "--no-deterministic", "--no-progress"]) == 0


@pytest.mark.parametrize("name", ["stats", "split", "predict", "evaluate", "train"])
def test_every_sample_reading_command_documents_the_same_sources(name):
    import argparse

    from climseg.samples import SOURCES_HELP

    module = importlib.import_module(cli.COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"climseg {name}")
    getattr(module, f"{name}_parser")(parser)
    assert " ".join(SOURCES_HELP.split()) in " ".join(parser.format_help().split())


# ------------------------------------------------------------------------------------- common options
@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_has_the_common_options(name):
    parser = cli.command_parser(name)
    text = parser.format_help()
    for shown in ("--no-progress", "-v, --verbose", "-q, --quiet"):
        assert shown in text, f"climseg {name} --help lacks {shown}"
    assert parser.parse_args(_required_args(parser) + ["-q"]).quiet


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_no_progress_sets_args_progress_on_every_command(name):
    parser = cli.command_parser(name)
    required = _required_args(parser)
    assert parser.parse_args(required).progress is True
    assert parser.parse_args(required + ["--no-progress"]).progress is False


def test_worker_counts_follow_one_convention():
    """--workers: processes that compute (label); --read-workers: readers ahead of the computation."""
    flags = {name: {option for action in cli.command_parser(name)._actions for option in action.option_strings
                    if "worker" in option} for name in cli.COMMANDS}
    assert set().union(*flags.values()) <= {"--workers", "--read-workers"}
    assert flags["label"] == {"--workers"}
    assert flags["train"] == flags["infer"] == {"--read-workers"}


def test_quiet_and_no_progress_silence_a_command(nested_samples, tmp_path, capsys):
    source, out = str(nested_samples["dir"]), str(tmp_path / "stats.h5")
    assert cli.main(["stats", source, "--out", out]) == 0
    loud = capsys.readouterr()
    assert "stats:" in loud.err and "wrote" in loud.out  # the progress bar, the summary
    assert cli.main(["stats", source, "--out", out, "--no-progress"]) == 0
    plain = capsys.readouterr()
    assert plain.err == "" and "wrote" in plain.out
    assert cli.main(["stats", source, "--out", out, "-q"]) == 0
    assert capsys.readouterr() == ("", "")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["stats", source, "--out", out, "-q", "-v"])
    assert exit_.value.code == 2 and "exclude each other" in capsys.readouterr().err


def _required_args(parser):
    """Placeholder values for the required options and positionals of ``parser`` (parsing only)."""
    args = []
    for action in parser._actions:
        if action.option_strings and action.required:
            args += [action.option_strings[0], "1"]
        elif not action.option_strings and action.nargs in (None, "+"):
            args.append("1")
    for group in parser._mutually_exclusive_groups:  # one of (--out | --partial) and the like
        if group.required:
            args += [group._group_actions[0].option_strings[0], "1"]
    return args


@pytest.mark.parametrize("flags, shown", [([], {"WARNING"}), (["-v"], {"WARNING", "INFO"}),
                                          (["-vv"], {"WARNING", "INFO", "DEBUG"}), (["-q"], {"WARNING"})])
def test_verbosity_sets_what_the_packages_log(flags, shown, tmp_path, monkeypatch):
    import logging

    seen = set()
    monkeypatch.setattr(cli, "PACKAGES", ("climseg",))
    args = cli.command_parser("split").parse_args(["x", "--out", str(tmp_path), *flags])
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with cli._apply_common_options(cli.command_parser("split"), args):
        log = logging.getLogger("climseg.test")
        for level in ("DEBUG", "INFO", "WARNING"):
            if log.isEnabledFor(getattr(logging, level)):
                seen.add(level)
    assert seen == shown
    logging.getLogger("climseg").setLevel(logging.NOTSET)
