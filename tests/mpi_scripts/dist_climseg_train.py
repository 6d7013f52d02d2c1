"""``climseg train`` on every rank, each rank writing its own checkpoints, so a test can compare ranks.

Run under ``mpirun -np N`` with the arguments of ``climseg train``; ``{rank}`` in an argument becomes the
rank (``--out RUN/rank{rank}``). The training loop runs unchanged except that every rank believes it is
the root and therefore saves its checkpoints (normally only rank 0 writes).
"""

import sys

from climseg.cli import main
from training import distributed

distributed.init()
rank = distributed.rank()
distributed.is_root = lambda: True          # every rank saves: the one change to the real `climseg train`
sys.exit(main([argument.replace("{rank}", str(rank)) for argument in sys.argv[1:]]))
