"""Run an MPI launcher so that a stop signal sent to the whole job ends in a checkpoint, not a kill.

Usage::

    python -m training.launch mpirun -np 8 climseg train --data staged/manifest.json ... --out runs/a

Batch systems end a job by signalling every one of its processes at once: Slurm at the time limit (SIGTERM,
then SIGKILL ``KillWait`` seconds later, 30 s by default) and on ``scancel --signal``, LSF on ``bkill -s``.
The training ranks get the signal, save a checkpoint at the next step boundary and exit with 75. But Open
MPI 5's ``mpirun`` (PRRTE's ``prterun``) gets it too and answers SIGTERM by killing the ranks about half a
second later, before they can write (measured: exit 1 after 0.75 s, no checkpoint). ``srun`` and
``jsrun`` do not need this launcher: they leave the signalled ranks to end on their own.

This launcher starts the command with SIGTERM blocked, a mask that ``mpirun`` inherits and never clears,
while PRRTE clears it for the ranks it starts: so the ranks still get the batch system's SIGTERM and
``mpirun`` does not act on it. The launcher itself turns a SIGTERM it receives into SIGUSR1 for the command
(``mpirun`` forwards SIGUSR1 to the ranks; a rank that already had the signal ignores the second), so that
signalling only the launcher (``kill PID``, ``scancel --batch``) stops the run the same way. SIGUSR1 sent
to the launcher is ignored: it reaches ``mpirun`` directly. The exit status is the command's (75 for a
stopped run, 128 + N for a command killed by signal N).
"""

import signal
import subprocess
import sys

USAGE = "usage: python -m training.launch MPIRUN [ARGUMENTS...]   (see --help)"


def main(argv=None) -> int:
    """Run ``argv`` (a launcher command line) as described in the module notes; return its exit status."""
    command = list(sys.argv[1:] if argv is None else argv)
    if command[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not command:
        print(USAGE, file=sys.stderr)
        return 2
    started = []

    def forward(signum, frame):
        for process in started:
            process.send_signal(signal.SIGUSR1)

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
                signal.SIGUSR1: signal.signal(signal.SIGUSR1, signal.SIG_IGN)}
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            started.append(subprocess.Popen(command))
        except OSError as error:
            print(f"training.launch: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
            return 127
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # one received meanwhile is forwarded now
        status = started[0].wait()
        return 128 - status if status < 0 else status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

if __name__ == "__main__":
    sys.exit(main())
