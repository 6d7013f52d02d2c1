#!/usr/bin/env python3
"""Submit a Snakemake job script to IBM LSF on Summit with node-based allocation (bsub -nnodes).

The LSF executor plugin asks for cores (bsub -n, -R span/rusage), which Summit refuses; this
script is the submit command of the cluster-generic executor instead. It reads the job's
properties from the job script and runs

    bsub -nnodes NODES -W MINUTES -P PROJECT -J NAME -o LOG -e LOG -alloc_flags FLAGS [-q QUEUE] JOBSCRIPT

printing the LSF job id. Resources read (set them in profiles/summit/config.yaml):
nodes (default 1), runtime (minutes), lsf_project (or $CLIMSEG_PROJECT), lsf_queue,
lsf_alloc_flags (NVME: the node-local NVMe at /mnt/bb/$USER). Logs go to $CLIMSEG_BATCH_LOGS
(default logs/batch). Only the standard library: it runs with whatever python3 is on PATH.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def job_properties(jobscript):
    """The ``# properties = {...}`` line Snakemake writes into every job script."""
    for line in Path(jobscript).read_text().splitlines():
        if line.startswith("# properties = "):
            return json.loads(line[len("# properties = "):])
    sys.exit(f"lsf-submit: {jobscript}: no '# properties = ' line (not a Snakemake job script?)")


def job_name(properties):
    if properties.get("type") == "group":
        return f"climseg-{properties.get('groupid', 'group')}"
    wildcards = "-".join(str(v) for v in properties.get("wildcards", {}).values())
    return f"climseg-{properties['rule']}" + (f"-{wildcards}" if wildcards else "")


def bsub_command(properties, jobscript, *, environ=os.environ):
    resources = properties.get("resources", {})
    project = resources.get("lsf_project") or environ.get("CLIMSEG_PROJECT")
    if not project:
        sys.exit("lsf-submit: no project to charge: set default-resources lsf_project in the "
                 "summit profile, or export CLIMSEG_PROJECT")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", job_name(properties))[:100]
    logs = Path(environ.get("CLIMSEG_BATCH_LOGS", "logs/batch"))
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{name}-%J.log"
    command = ["bsub", "-nnodes", str(resources.get("nodes", 1)), "-W", str(resources.get("runtime", 60)),
               "-P", str(project), "-J", name, "-o", str(log), "-e", str(log)]
    if resources.get("lsf_alloc_flags"):
        command += ["-alloc_flags", str(resources["lsf_alloc_flags"])]
    if resources.get("lsf_queue"):
        command += ["-q", str(resources["lsf_queue"])]
    return command + [str(jobscript)]


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: lsf-submit.py JOBSCRIPT")
    jobscript = Path(argv[0]).resolve()
    command = bsub_command(job_properties(jobscript), jobscript)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"lsf-submit: {' '.join(command)} failed: {result.stderr.strip() or result.stdout.strip()}")
    match = re.search(r"Job <(\d+)>", result.stdout)
    if not match:
        sys.exit(f"lsf-submit: no job id in the answer of bsub: {result.stdout.strip()}")
    print(match.group(1))


if __name__ == "__main__":
    main(sys.argv[1:])
