"""The one error base of kspbench: every error a user can cause derives from :class:`KspbenchError`.

The command line catches it once (``kspbench.cli.main``): one line on stderr, exit status 2. Anything else that
escapes is a bug in kspbench and keeps its traceback. It is a ``ValueError`` because every such error is a bad value
the user gave (a file, a name, a number), so callers that catch ``ValueError`` keep working.
"""

from __future__ import annotations

__all__ = ["KspbenchError", "ConfigError"]


class KspbenchError(ValueError):
    """Something the user gave or asked for is wrong; the message says what and how to fix it, on one line."""


class ConfigError(KspbenchError):
    """A configuration file (protocol, model profile, world profile, model card, params.yaml) is invalid."""
