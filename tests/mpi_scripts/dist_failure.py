"""Rank 1 raises inside ``distributed.fail_fast`` while rank 0 waits in an allreduce: the job must end.

Run by tests/test_distributed.py under ``mpirun -np 2``. Rank 1 also runs a non-daemon thread (as an
input pipeline or a writer would), so its interpreter cannot exit after the exception: Python waits for
that thread before running Horovod's exit handler, and without ``fail_fast`` rank 0 would wait forever
for rank 1's contribution to the allreduce. With it ``MPI_Abort`` makes the launcher kill both ranks.
"""

import threading
import time

import training  # noqa: F401  (sets TF_USE_LEGACY_KERAS)
import tensorflow as tf

from training import distributed

distributed.init()
if distributed.rank() == 1:
    threading.Thread(target=threading.Event().wait, name="reader").start()   # never finishes
with distributed.fail_fast():
    for step in range(1000):
        if distributed.rank() == 1 and step == 3:
            print(f"raising at monotonic {time.monotonic()}", flush=True)   # the test times the abort from here
            raise RuntimeError("sample file data-2000-01-01-00-1.h5 is corrupt (planted failure)")
        distributed.allreduce_gradients([tf.ones([1000])])          # rank 0 blocks here at step 3
