"""Tests of the cluster profiles without a cluster.

Fake batch-system programs on PATH (bsub, bjobs, bkill, sbatch, squeue, sacct, scancel, sacctmgr,
jsrun, srun) record what they are asked. The fake submitters run the submitted job at once, with
the job id in the environment as the real batch system does, so the tests see which launcher
lines (jsrun, srun) ran inside which batch job. The fake launchers record their arguments and
start nothing, except Snakemake itself (the Slurm plugin starts each job step with srun).
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROFILES = ("local", "summit", "daint", "perlmutter", "frontier", "alps")
SLURM_PROFILES = ("daint", "perlmutter", "frontier", "alps")

FAKE = r'''#!{python}
"""Fake {name}: records its arguments (and the job it would run) in $FAKE_CLUSTER_LOG."""
import json, os, re, subprocess, sys
from pathlib import Path

name = {name!r}
log = Path(os.environ["FAKE_CLUSTER_LOG"])
state = log.with_suffix(".state.json")
args = sys.argv[1:]
record = {{"program": name, "args": args,
           "job": os.environ.get("LSB_JOBID") or os.environ.get("SLURM_JOB_ID")}}


def save(record):
    with open(log, "a") as f:
        f.write(json.dumps(record) + "\n")


def next_job_id():
    jobs = json.loads(state.read_text()) if state.exists() else {{}}
    return str(1000 + len(jobs) + 1), jobs


def run_job(command, env_name, shell):
    job_id, jobs = next_job_id()
    jobs[job_id] = "RUNNING"
    state.write_text(json.dumps(jobs))
    env = dict(os.environ, **{{env_name: job_id}})
    with open(log.with_name(f"job-{{job_id}}.out"), "w") as out:  # as the batch system's job log
        code = subprocess.run(command, shell=shell, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    jobs = json.loads(state.read_text())
    jobs[job_id] = "DONE" if code == 0 else "EXIT"
    state.write_text(json.dumps(jobs))
    return job_id


if name == "bsub":
    script = args[-1]
    record["script"] = Path(script).read_text()
    save(record)
    if os.environ.get("FAKE_DO_NOT_RUN"):
        job_id, jobs = next_job_id()
        jobs[job_id] = "EXIT"
        state.write_text(json.dumps(jobs))
    else:
        job_id = run_job([script], "LSB_JOBID", shell=False)
    print(f"Job <{{job_id}}> is submitted to queue <batch>.")
elif name == "sbatch":
    record["script"] = next(a[len("--wrap="):] for a in args if a.startswith("--wrap="))
    save(record)
    if os.environ.get("FAKE_RUN_SLURM_JOBS"):
        print(run_job(record["script"], "SLURM_JOB_ID", shell=True))
        sys.exit()
    job_id, jobs = next_job_id()
    jobs[job_id] = "EXIT"
    state.write_text(json.dumps(jobs))
    print(job_id)
elif name == "bjobs":
    save(record)
    jobs = json.loads(state.read_text())
    print(jobs.get(args[-1], "EXIT"))
elif name == "sacct":
    save(record)
    jobs = json.loads(state.read_text()) if state.exists() else {{}}
    for job_id, status in jobs.items():
        print(f"{{job_id}}|{{ {{'DONE': 'COMPLETED', 'EXIT': 'FAILED'}}.get(status, status) }}")
elif name == "sacctmgr":
    save(record)
    print("fakeaccount")
elif name == "sinfo":
    save(record)
    print("PARTITION\nnormal*\ndebug")
elif name in ("jsrun", "srun"):
    save(record)
    # Snakemake's own job steps (the Slurm plugin: srun -n1 ... python -m snakemake) run;
    # the climseg commands do not: the tests check how they would be launched.
    starts = [i for i, a in enumerate(args) if Path(a.split()[0]).name.startswith("python")]
    if starts:
        sys.exit(subprocess.run(" ".join(args[starts[0]:]), shell=True).returncode)
else:
    save(record)
'''


@pytest.fixture
def fake_cluster(tmp_path):
    """A PATH with the fake programs first, and a function reading their records."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    for name in ("bsub", "bjobs", "bkill", "sbatch", "squeue", "sacct", "scancel", "sacctmgr", "sshare", "sinfo",
                 "jsrun", "srun"):
        program = bin_dir / name
        program.write_text(FAKE.format(python=sys.executable, name=name))
        program.chmod(0o755)
    log = tmp_path / "cluster.jsonl"
    env = dict(os.environ, FAKE_CLUSTER_LOG=str(log), CLIMSEG_PROJECT="CLI900",
               CLIMSEG_BATCH_LOGS=str(tmp_path / "batch-logs"), USER="alice",
               PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")

    def records(program=None):
        if not log.exists():
            return []
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        return [r for r in rows if program is None or r["program"] == program]

    return env, records


def snakemake(*args, env=None, cwd=REPO, timeout=120):
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
                           "--directory", str(cwd), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def make_upstream(workdir, results):
    """Outputs of synth, label, stats, split and of the heuristic side of the report (export, climatology),
    oldest first, as a finished earlier run left them: what remains to run starts with stage."""
    names = [f"demo.cam.h2.2106-01-0{day}-00000" for day in (1, 2, 3)]  # the demo's three days
    files = [*(f"raw/{n}.nc" for n in names), *(f"raw/{n}.truth.h5" for n in names)]
    dirs = [f"samples/{n}" for n in names]
    later = [*(f"samples/{n}.label.yaml" for n in names), *(f"labels/{n}.labels.nc" for n in names),
             *(f"labels/{n}.label.yaml" for n in names), *(f"events/heuristic/partial/{n}.nc" for n in names),
             *(f"events/heuristic/{name}" for name in ("climatology.nc", "climatology_yearly.csv",
                                                       "climatology_monthly.csv", "tracks.csv", "track_table.csv",
                                                       "ar_objects.csv")),
             "stats.h5", "split/train.txt", "split/validation.txt", "split/test.txt"]
    clock = 1_700_000_000
    for i, rel in enumerate([*files, *dirs, *later]):
        path = workdir / results / rel
        if rel in dirs:
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
        os.utime(path, (clock + i, clock + i))


@pytest.mark.parametrize("profile", PROFILES)
def test_dry_run_succeeds_with_every_profile(profile, fake_cluster, tmp_path):
    env, records = fake_cluster
    result = snakemake("--profile", str(REPO / "profiles" / profile), "-n", "--config", f"machine={profile}",
                       f"results={tmp_path / 'results'}", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for rule in ("synth", "label", "stats", "split", "stage", "train", "evaluate", "infer", "export",
                 "climatology_partial", "climatology", "figures", "compare", "animate"):
        assert f"rule {rule}:" in out
    assert not records("bsub") and not records("sbatch")  # a dry run submits nothing


def test_profile_sets_its_machine(tmp_path):
    for profile in PROFILES:
        settings = yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())
        assert settings["config"] == {"machine": profile}
        assert (REPO / "config" / "machines" / f"{profile}.yaml").is_file()


def run_stage_and_train(profile, env, tmp_path):
    make_upstream(tmp_path, "results")
    (tmp_path / "two-nodes.yaml").write_text("results: results\ntrain: {nodes: 2}\n")
    quick = ["--slurm-init-seconds-before-status-checks", "1"] if profile in SLURM_PROFILES else []
    return snakemake("--profile", str(REPO / "profiles" / profile), "--configfile", "two-nodes.yaml",
                     "--latency-wait", "1", *quick,
                     "--max-status-checks-per-second", "10", env=env, cwd=tmp_path, timeout=240)


def submit_stage_and_train_then_interrupt(profile, env, tmp_path, records, *, until=None):
    """Run the workflow until it has submitted the stage + train job, then kill it (the fake job
    never runs; the Slurm plugin would wait long between status checks)."""
    make_upstream(tmp_path, "results")
    (tmp_path / "two-nodes.yaml").write_text("results: results\ntrain: {nodes: 2}\n")
    output = tmp_path / "snakemake.out"
    with open(output, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
             "--profile", str(REPO / "profiles" / profile), "--configfile", "two-nodes.yaml",
             "--slurm-init-seconds-before-status-checks", "600", "--latency-wait", "1"],
            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            until = until or (lambda: records("sbatch"))
            while not until() and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(1)
        finally:
            process.kill()  # Ctrl-C would wait for the plugin's next status check
            process.wait(timeout=60)
    return output.read_text()


def test_summit_stage_and_train_are_one_bsub_job_with_jsrun(fake_cluster, tmp_path):
    env, records = fake_cluster
    result = run_stage_and_train("summit", env, tmp_path)
    # The fake jsrun trained nothing, so the run fails where the run directory is missing.
    assert result.returncode != 0
    submissions = records("bsub")
    assert len(submissions) == 1, result.stderr
    args = submissions[0]["args"]
    option = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("-")}
    assert option["-nnodes"] == "2"
    assert option["-P"] == "CLI900"
    assert option["-W"] == str(30 + 120)  # stage then train in one job: wall times add up
    assert option["-alloc_flags"] == "NVME"
    assert "-n" not in args and not any(a.startswith("rusage") for a in args)
    assert "stage" in submissions[0]["script"] and "train" in submissions[0]["script"]
    assert "machine=summit" in submissions[0]["script"]

    launches = records("jsrun")
    assert [r["job"] for r in launches] == ["1001", "1001"]  # both inside the one batch job
    stage, train = (r["args"] for r in launches)
    for line in (stage, train):
        joined = " ".join(line)
        assert "--rs_per_host 6 --tasks_per_rs 1 --cpu_per_rs 7 --gpu_per_rs 1" in joined
        assert line[line.index("-n") + 1] == "12"  # 2 nodes x 6 resource sets
    assert stage[stage.index("-n") + 2:][:2] == ["climseg", "stage"]
    assert "/mnt/bb/alice/climseg" in stage
    assert train[train.index("-n") + 2:][:2] == ["climseg", "train"]
    assert "/mnt/bb/alice/climseg/manifest.json" in train
    # the record of the staged data lived only as long as the job
    assert not (tmp_path / "results" / "staging" / "stage.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("profile, per_node, constraint, gres", [
    ("daint", 1, "gpu", None),
    ("perlmutter", 4, "gpu", "gpu:4"),
])
def test_slurm_stage_and_train_are_one_sbatch_job_with_srun(profile, per_node, constraint, gres,
                                                            fake_cluster, tmp_path):
    env, records = fake_cluster
    output = submit_stage_and_train_then_interrupt(profile, env, tmp_path, records)
    submissions = records("sbatch")
    assert len(submissions) == 1, output
    call = " ".join(submissions[0]["args"])
    assert "--nodes=2" in call
    assert f"--ntasks={2 * per_node}" in call
    assert f"-C {constraint}" in call
    assert "-t 150" in call
    if gres:
        assert f"--gres={gres}" in call
    assert "stage" in submissions[0]["script"] and "train" in submissions[0]["script"]

    # the commands of the job, as Snakemake printed them when it submitted the group
    commands = [line.split("Shell command: ", 1)[1] for line in output.splitlines()
                if line.startswith("Shell command: ")]
    stage, train = ([c for c in commands if f"climseg {step}" in c][0].split() for step in ("stage", "train"))
    for line in (stage, train):
        launcher = line[line.index("srun"):]
        assert launcher[launcher.index("--ntasks-per-node") + 1] == str(per_node)
        assert launcher[launcher.index("-n") + 1] == str(2 * per_node)
        assert "HOROVOD_FUSION_THRESHOLD=\"67108864\"" in line
    if per_node > 1:
        assert train[train.index("--gpus-per-node") + 1] == str(per_node)
    assert "/tmp/alice/climseg" in stage
    assert "/tmp/alice/climseg/manifest.json" in train


@pytest.mark.slow
def test_slurm_job_runs_stage_then_train_with_srun_inside_the_allocation(fake_cluster, tmp_path):
    env, records = fake_cluster
    env = dict(env, FAKE_RUN_SLURM_JOBS="1")
    state = tmp_path / "cluster.state.json"  # the fake sbatch's job table

    def job_ended():
        return state.exists() and json.loads(state.read_text()).get("1001") in ("DONE", "EXIT")

    output = submit_stage_and_train_then_interrupt("perlmutter", env, tmp_path, records, until=job_ended)
    launches = [r for r in records("srun") if "climseg" in r["args"]]
    assert [r["args"][r["args"].index("climseg") + 1] for r in launches] == ["stage", "train"], output
    assert {r["job"] for r in launches} == {"1001"}  # both inside the one batch job


def test_summit_submit_script_refuses_without_project(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\n# properties = {"type": "single", "rule": "train", "resources": {"nodes": 4}}\ntrue\n')
    env = {k: v for k, v in os.environ.items() if k != "CLIMSEG_PROJECT"}
    result = subprocess.run([str(REPO / "profiles" / "summit" / "lsf-submit.py"), str(script)],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "no project to charge" in result.stderr


@pytest.mark.parametrize("state, answer", [("RUN", "running"), ("PEND", "running"), ("DONE", "success"),
                                           ("EXIT", "failed"), ("", "failed")])
def test_summit_status_script(state, answer, tmp_path):
    bjobs = tmp_path / "bjobs"
    bjobs.write_text(f"#!/bin/sh\necho '{state}'\n")
    bjobs.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    result = subprocess.run([str(REPO / "profiles" / "summit" / "lsf-status.py"), "42"],
                            capture_output=True, text=True, env=env)
    assert result.stdout.strip() == answer


def install_profiles(*args, config_home):
    env = dict(os.environ, XDG_CONFIG_HOME=str(config_home))
    return subprocess.run([str(REPO / "scripts" / "install-profiles.sh"), *args], capture_output=True,
                          text=True, env=env)


def test_installed_profile_works_by_name_from_anywhere(fake_cluster, tmp_path):
    env, _ = fake_cluster
    result = install_profiles(config_home=tmp_path / "config")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "config" / "snakemake").iterdir()) == sorted(PROFILES)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = snakemake("--profile", "summit", "-n", env=dict(env, XDG_CONFIG_HOME=str(tmp_path / "config")),
                       cwd=elsewhere)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using profile summit for setting default command line arguments" in result.stderr
    assert "jsrun --rs_per_host 6" in result.stdout  # the summit machine settings were selected


def test_install_dry_run_changes_nothing_and_existing_profiles_need_force(tmp_path):
    result = install_profiles("--dry-run", "summit", config_home=tmp_path)
    assert result.returncode == 0 and "cp -R" in result.stdout
    assert not (tmp_path / "snakemake").exists()

    mine = tmp_path / "snakemake" / "summit"
    mine.mkdir(parents=True)
    (mine / "config.yaml").write_text("jobs: 1\n")
    result = install_profiles("summit", config_home=tmp_path)
    assert "exists, left alone" in result.stdout
    assert (mine / "config.yaml").read_text() == "jobs: 1\n"
    result = install_profiles("--force", "--link", "summit", config_home=tmp_path)
    assert result.returncode == 0
    assert mine.is_symlink() and mine.resolve() == REPO / "profiles" / "summit"


def test_install_unknown_profile_fails(tmp_path):
    result = install_profiles("jupiter", config_home=tmp_path)
    assert result.returncode == 2
    assert "profiles/jupiter/config.yaml: no such profile" in result.stderr


def test_command_line_config_that_drops_the_machine_stops_before_submitting(fake_cluster, tmp_path):
    env, records = fake_cluster
    result = snakemake("--profile", str(REPO / "profiles" / "summit"), "--config", "results=results",
                       env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "config key machine: 'local'" in result.stdout + result.stderr
    assert "add machine=NAME" in result.stdout + result.stderr
    assert not records("bsub")


def test_summit_labels_32_files_per_batch_job(fake_cluster, tmp_path):
    env, records = fake_cluster
    raw = tmp_path / "cam5"
    raw.mkdir()
    for day in range(40):
        (raw / f"b40.cam.h2.1990-01-{day % 28 + 1:02d}-{day // 28:05d}.nc").write_bytes(b"")
    output = tmp_path / "snakemake.out"
    with open(output, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
             "--profile", str(REPO / "profiles" / "summit"),
             "--config", "machine=summit", f"raw_data={raw}", "results=results"],
            cwd=tmp_path, env=dict(env, FAKE_DO_NOT_RUN="1"), stdout=out, stderr=subprocess.STDOUT)
        try:  # the fake jobs never run: stop once both are submitted
            deadline = time.monotonic() + 120
            while len(records("bsub")) < 4 and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            process.kill()
            process.wait(timeout=60)
    submissions = records("bsub")
    assert len(submissions) == 4, output.read_text()
    properties = [json.loads(re.search(r"^# properties = (.*)$", s["script"], re.M).group(1))
                  for s in submissions]
    assert sorted(p["groupid"] for p in properties) == ["export", "export", "label", "label"]
    for group in ("label", "export"):  # one netCDF file per label (export) job, 32 jobs per batch job
        assert sorted(len(p["input"]) for p in properties if p["groupid"] == group) == [8, 32]
    for submission in submissions:
        args = submission["args"]
        assert args[args.index("-nnodes") + 1] == "1"
        assert args[args.index("-W") + 1] == "60"  # parallel jobs of a group: the longest wall time
