"""training.workdir: the train rule's work directory, resume and clean-up, with a stand-in training command."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.workdir import file_digest, main, work_directory

REPO = Path(__file__).resolve().parents[1]

FAKE_TRAIN = """\
import json, signal, sys, time
from pathlib import Path
args = sys.argv[1:]
out = Path(args[args.index("--out") + 1])
calls = Path(args[args.index("--calls") + 1])
with calls.open("a") as f:
    f.write(json.dumps(args) + "\\n")
if "--wait-for-sigterm" in args:
    signal.signal(signal.SIGTERM, lambda *_: None)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "started").write_text("")
    signal.sigwaitinfo({signal.SIGTERM})
    time.sleep(0.5)  # a checkpoint takes a while: the wrapper must still be waiting
if "--resume" not in args:
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    (out / "checkpoints" / "index.json").write_text("{}")
    sys.exit(75)  # stopped: checkpoint written
(out / "finished").write_text("")
"""


@pytest.fixture
def setup(tmp_path):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    stats = tmp_path / "stats.h5"
    stats.write_bytes(b"statistics v1")
    calls = tmp_path / "calls.jsonl"
    command = [sys.executable, str(script), "--calls", str(calls)]
    wrapper = ["--work-root", str(tmp_path / "work"), "--key", "abc123", "--stats", str(stats),
               "--out", str(tmp_path / "run"), "--"]
    return {"root": tmp_path, "stats": stats, "calls": calls, "command": command, "wrapper": wrapper}


def calls_of(setup):
    import json
    return [json.loads(line) for line in setup["calls"].read_text().splitlines()]


def test_a_stopped_run_is_resumed_in_its_own_directory_then_moved_out(setup, capsys):
    root = setup["root"]
    other = root / "work" / "fff000-000000000000" / "checkpoints"  # another settings' interrupted run
    other.mkdir(parents=True)
    (other / "index.json").write_text("{}")
    work = root / "work" / f"abc123-{file_digest(setup['stats'])}"

    assert main(setup["wrapper"] + setup["command"]) == 75
    assert capsys.readouterr().out.splitlines()[0] == f"train: run directory {work} (new run)"
    assert (work / "checkpoints" / "index.json").is_file() and not (root / "run").exists()

    assert main(setup["wrapper"] + setup["command"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"train: run directory {work} --resume"
    first, second = calls_of(setup)
    assert first[-4:] == ["--out", str(work), "--seed", "0"]
    assert second[-5:] == ["--out", str(work), "--resume", "--seed", "0"]
    assert (root / "run" / "finished").is_file() and not work.exists()
    assert (other / "index.json").is_file()  # never deleted: the user may come back to those settings


def test_other_data_start_a_new_run_and_an_emptied_root_is_removed(setup):
    import shutil

    root = setup["root"]
    assert main(setup["wrapper"] + setup["command"]) == 75
    (old,) = (root / "work").iterdir()
    setup["stats"].write_bytes(b"statistics v2")  # relabelled data: the old checkpoint is not resumed
    assert main(setup["wrapper"] + setup["command"]) == 75
    assert len(list((root / "work").iterdir())) == 2
    assert all("--resume" not in call for call in calls_of(setup))
    shutil.rmtree(old)  # the user gives up the old data's run
    assert main(setup["wrapper"] + setup["command"]) == 0
    assert "--resume" in calls_of(setup)[-1]
    assert (root / "run" / "finished").is_file() and not (root / "work").exists()  # nothing else was in it


def test_the_wrapper_waits_for_the_checkpoint_when_the_job_is_signalled(setup):
    """SIGTERM to the whole process group (as a batch system sends it) reaches the training command; the
    wrapper survives it and returns the command's exit code 75 once its checkpoint is written."""
    root = setup["root"]
    job = subprocess.Popen([sys.executable, "-m", "training.workdir", *setup["wrapper"], *setup["command"],
                            "--wait-for-sigterm"], cwd=REPO, start_new_session=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    while not list((root / "work").glob("*/started")):
        assert job.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGTERM)
    assert job.wait(timeout=60) == 75
    (work,) = (root / "work").iterdir()
    assert (work / "checkpoints" / "index.json").is_file()


def test_errors_name_the_problem(setup, capsys):
    wrapper = setup["wrapper"]
    missing = [*wrapper[:5], str(setup["root"] / "nowhere.h5"), *wrapper[6:]]
    assert main(missing + setup["command"]) == 2
    assert "nowhere.h5: cannot read" in capsys.readouterr().err
    with pytest.raises(ValueError, match="must be a non-empty name"):
        work_directory(setup["root"], "a/b", setup["stats"])
    with pytest.raises(SystemExit):
        main(wrapper)  # no command after --
    assert "no training command given" in capsys.readouterr().err


def test_instances_train_with_their_own_seed_log_and_directory_then_are_kept_beside_the_run(setup, capsys):
    root, log = setup["root"], setup["root"] / "train.log"
    wrapper = setup["wrapper"][:-1] + ["--instances", "2", "--seed", "7", "--log", str(log), "--"]
    assert main(wrapper + setup["command"]) == 75  # both stopped with a checkpoint
    assert main(wrapper + setup["command"]) == 0   # both resumed, then finished
    first, second = sorted(calls_of(setup)[2:], key=lambda args: args[args.index("--seed") + 1])
    assert first[first.index("--seed") + 1] == "7" and "--mllog" not in first and "--resume" in first
    assert second[second.index("--seed") + 1] == "8" and "--resume" in second
    assert second[second.index("--mllog") + 1].endswith("-seed8/mllog.txt")
    assert (root / "run" / "finished").is_file()
    assert (root / "run" / "instances" / "seed-8" / "finished").is_file()
    assert "--resume" in Path(f"{log}.seed-8").read_text().splitlines()[0]
    assert not (root / "work").exists()


def test_instances_need_a_log(setup, capsys):
    wrapper = setup["wrapper"][:-1] + ["--instances", "2", "--"]
    assert main(wrapper + setup["command"]) == 2
    assert "--instances above 1 needs --log" in capsys.readouterr().err
