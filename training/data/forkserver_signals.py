"""Stop signals ignored in the ``forkserver`` that starts the reader processes; imported there only.

:class:`training.data.readers.BatchStream` lists this module in the forkserver's preload, so that the
forkserver (and every reader it forks, from the first instant) ignores SIGTERM and SIGUSR1 sent to every
process of a job: without it a stop signal would kill the forkserver, and a reader pool being started at
that moment (for validation) would fail. The forkserver still exits with the training process (its
``alive`` pipe closes). Importing this module anywhere else would make that process ignore them too.
"""

import signal

for _sig in (signal.SIGTERM, signal.SIGUSR1):
    signal.signal(_sig, signal.SIG_IGN)
