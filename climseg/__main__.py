"""``python -m climseg`` is the ``climseg`` command."""

import sys

from climseg.cli import main

sys.exit(main())
