"""``python -m kspbench.cli``: the same as the ``kspbench`` console script."""

import sys

from kspbench.cli import main

sys.exit(main())
