#!/usr/bin/env python3
"""Tell Snakemake (cluster-generic status command) whether an LSF job is running, done or failed.

    lsf-status.py JOBID   ->  prints running | success | failed
"""

import subprocess
import sys

RUNNING = {"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "WAIT", "PROV"}


def main(argv):
    if len(argv) != 1:
        sys.exit("usage: lsf-status.py JOBID")
    result = subprocess.run(["bjobs", "-noheader", "-o", "stat", argv[0]], capture_output=True, text=True)
    state = result.stdout.strip().split()[0] if result.stdout.strip() else ""
    if state in RUNNING:
        print("running")
    elif state == "DONE":
        print("success")
    else:  # EXIT, ZOMBI, UNKWN, or a job LSF no longer knows
        print(f"lsf-status: job {argv[0]}: {state or result.stderr.strip() or 'unknown to bjobs'}",
              file=sys.stderr)
        print("failed")


if __name__ == "__main__":
    main(sys.argv[1:])
