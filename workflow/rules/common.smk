"""Configuration, validation, paths and input functions shared by the rule files."""

import datetime
import hashlib
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.utils import min_version, validate

min_version("9.0")

# The machine overlay: defaults < config/machines/<machine>.yaml < --configfile < --config
# (the configfile directive re-applies the command line on top of what it loads).
_machine = config.get("machine", "local")
_overlay = Path(workflow.basedir) / "config" / "machines" / f"{_machine}.yaml"
if not _overlay.is_file():
    raise WorkflowError(f"config key machine: no machine file {_overlay} (choose one of "
                        f"{', '.join(sorted(p.stem for p in _overlay.parent.glob('*.yaml')))})")
configfile: str(_overlay)

validate(config, workflow.source_path("../schemas/config.schema.yaml"))

if config["raw_data"] is not None and not Path(config["raw_data"]).is_dir():
    raise WorkflowError(f"config key raw_data: {config['raw_data']} is not a directory "
                        "(set raw_data to the directory of CAM5 h2 netCDF files, or null for demo data)")


# The conda environments (envs/*.yaml, --sdm conda) install climseg from this checkout: pip expands
# ${CLIMSEG_ROOT} in their pip section when Snakemake creates them.
os.environ.setdefault("CLIMSEG_ROOT", str(Path(workflow.basedir).resolve()))


wildcard_constraints:
    file=r"[^/]+",


RESULTS = Path(config["results"])
RAW = Path(config["raw_data"]) if config["raw_data"] is not None else RESULTS / "raw"
SAMPLES = RESULTS / "samples"
STATS = RESULTS / "stats.h5"
SPLIT = RESULTS / "split"
STAGE_RECORD = RESULTS / "staging" / "stage.json"
TRAIN = RESULTS / "train"
REPORT_JSON = RESULTS / "report" / "evaluation.json"
REPORT_MD = RESULTS / "report" / "evaluation.md"
LOGS = RESULTS / "logs"
BENCHMARKS = RESULTS / "benchmarks"

NODE_LOCAL_DIR = os.path.expandvars(config["staging"]["node_local_dir"].replace("{results}", str(RESULTS)))
RANKS = config["train"]["nodes"] * config["mpi"]["ranks_per_node"]


def check_settings():
    """label.parameters and train.parameters against the dataclasses the commands use (climseg/settings.py):
    a mistyped key fails here, naming the closest valid one, not inside a job hours later."""
    sys.path.insert(0, str(Path(workflow.basedir).resolve()))
    from climseg.settings import SettingsError, check_workflow_settings

    try:
        check_workflow_settings(config, ranks=RANKS)
    except SettingsError as error:
        raise WorkflowError(str(error)) from None


check_settings()


def synth_days():
    """Dates of the demo files ``climseg synth`` writes, as YYYY-MM-DD: consecutive days of CAM5's
    noleap calendar, as climseg.synth.model_days (not imported: the workflow needs no science stack)."""
    day = datetime.date.fromisoformat(config["synth"]["start_date"])
    days = []
    while len(days) < config["synth"]["days"]:
        if (day.month, day.day) != (2, 29):
            days.append(str(day))
        day += datetime.timedelta(days=1)
    return days


def input_files():
    """Names (without .nc) of the netCDF files to label: those in raw_data, or the demo days."""
    if config["raw_data"] is None:
        return [f"{config['synth']['case']}.cam.h2.{day}-00000" for day in synth_days()]
    names = sorted(p.name[: -len(".nc")] for p in RAW.glob("*.cam.h2.*.nc"))
    if not names:
        raise WorkflowError(f"config key raw_data: no CAM5 h2 files <case>.cam.h2.YYYY-MM-DD-00000.nc "
                            f"in {RAW}")
    return names


def labelled_dirs(wildcards=None):
    """The sample directory of every input file (one labelling job each)."""
    return [str(SAMPLES / name) for name in input_files()]


def as_yaml(mapping):
    """A configuration section as YAML text, for a --config file written by the rule."""
    return yaml.safe_dump(mapping, sort_keys=True, default_flow_style=True, width=float("inf")).strip()


def training_run_key():
    """A short digest of every setting that defines the training run (train section, ranks).

    It names the run's work directory, so that a rerun of the workflow resumes an interrupted run
    (SIGTERM before the wall time: checkpoint, exit 75) only when nothing that defines it changed; the
    rule adds a digest of stats.h5, which changes with the data.
    """
    settings = json.dumps({"train": config["train"], "ranks": RANKS}, sort_keys=True, default=str)
    return hashlib.sha1(settings.encode()).hexdigest()[:12]


def serial_launcher(*, cores=1, gpus=0):
    """The machine's prefix that runs one process with ``cores`` cores and ``gpus`` GPUs on a compute
    node (empty where the batch script already runs on one: local, Slurm)."""
    return config["mpi"]["serial_launcher"].format(cores=cores, gpus=gpus)


def environment(variables):
    """``env NAME=VALUE ...`` for the shell: values double-quoted so $USER expands on the node."""
    if not variables:
        return ""
    pairs = " ".join(f'{name}="{value}"' for name, value in sorted(variables.items()))
    return f"env {pairs}"


def stage_output():
    """The stage rule's output: a record of what was staged where.

    Where node-local storage outlives the step (a laptop), it is a file like any other. Where it is
    wiped at the end of the batch job (Summit's NVMe, the RAM disks of Slurm machines), it is a
    temporary *node-local* file (``temp(..., group_jobs=True)``): Snakemake then submits stage and
    every job reading it (train) as ONE batch job, forgets the record when train is done, and
    reruns stage whenever train has to run again, because the staged data are gone with the job.
    """
    if config["staging"]["job_scoped"]:
        return temp(str(STAGE_RECORD), group_jobs=True)
    return str(STAGE_RECORD)


def check_machine_fits_executor():
    """Stop a batch-system run that would use the laptop settings (mpirun, staging under results/).

    The profiles set ``--config machine=NAME``; a ``--config`` typed on the command line replaces
    the profile's, and machine silently falls back to ``local``.
    """
    plugin = workflow.executor_plugin
    if (workflow.is_main_process and plugin is not None and plugin.common_settings.non_local_exec
            and config["machine"] == "local"):
        raise WorkflowError(
            f"config key machine: 'local' (mpirun, staging under {RESULTS}) with the {plugin.name} "
            "executor. A --config on the command line replaces the profile's machine=NAME: add "
            "machine=NAME to it (summit, daint, perlmutter, frontier, alps), or pass your settings "
            "with --configfile.")


def print_report_location():
    markdown = Path(REPORT_MD)
    if markdown.is_file():
        print(f"\nclimseg: the evaluation report is {markdown.resolve()}\n")
        print(markdown.read_text())
        print("climseg: maps, TC tracks, heuristic-vs-network scores and the animation in one HTML file: "
              "rerun this command with --report report.html\n")
