"""Stop signals of a training run: SIGTERM and SIGUSR1 set a flag that the loop checks at step boundaries.

Kept free of TensorFlow so that ``climseg train`` catches the signals before it loads TensorFlow (seconds on a
busy node): a signal during set-up then stops the run at its first step with a checkpoint, instead of killing
the rank. The remaining window is the interpreter's start and argument parsing, a fraction of a second.
"""

import signal

INTERRUPTED_EXIT_CODE = 75
"""Exit code of a run stopped by SIGTERM/SIGUSR1 after saving its checkpoint (sysexits EX_TEMPFAIL)."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class StopFlag:
    """Set by SIGTERM/SIGUSR1; the loop checks it at step boundaries (allreduced, so every rank stops at the same step).

    Further signals are ignored: a launcher forwards the signal the batch system already sent to every process
    of the job step (mpirun forwards SIGUSR1), and neither the step in progress nor the checkpoint written
    after it may be cut short. A stuck job is ended with SIGKILL (the batch system's last word anyway).

    On exit the previous handlers come back, unless a signal was caught or ``restore`` is False: the signals
    then stay ignored. ``climseg train`` passes ``restore=False``: after the run the process only exits
    (Horovod and TensorFlow tear down for a second or more), and a signal then must not turn a finished run
    into a killed rank (seen: the batch system's signal during teardown, exit 138 after a complete run).
    """

    def __init__(self, *, restore: bool = True):
        self.raised = None
        self.restore = restore
        self._previous = {}

    def __enter__(self):
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.raised is None:
            self.raised = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            # After a stop, copies of the signal may still arrive (mpirun forwards SIGUSR1 late): the run is
            # saved and exiting with 75, so they are ignored rather than left to kill it.
            signal.signal(sig, handler if self.restore and self.raised is None else signal.SIG_IGN)
