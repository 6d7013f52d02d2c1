"""``climseg train`` whose rank 0 takes 1.5 s longer to write each checkpoint, so that a signal always finds
the other rank done with its part of a checkpoint long before rank 0 (the race of a real job, made certain).

Run under ``mpirun -np 2`` with the arguments of ``climseg train``. Before each save rank 0 creates
``RUN_DIR/saving-STEP``, so a test knows when a checkpoint write is in progress.
"""

import sys
import time
from pathlib import Path

from climseg.cli import main
from training import distributed, loop

SLOWER_S = 1.5

distributed.init()
write_checkpoint = loop.save_checkpoint


def slow_save_checkpoint(run_dir, state, **options):
    (Path(run_dir) / f"saving-{int(state.step.numpy())}").touch()
    time.sleep(SLOWER_S)
    return write_checkpoint(run_dir, state, **options)


if distributed.rank() == 0:
    loop.save_checkpoint = slow_save_checkpoint
sys.exit(main(sys.argv[1:]))
