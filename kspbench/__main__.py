"""``python -m kspbench``: the same as the ``kspbench`` console script."""

import sys

from kspbench.cli import main

sys.exit(main())
