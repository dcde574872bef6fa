"""Settings for the whole test session."""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    # Passed-check markers (kspbench/infra/passed_checks.py) go to a throwaway folder, not the user's cache; the
    # processes the tests start inherit it.
    os.environ.setdefault("KSPBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="kspbench-test-cache-"))
