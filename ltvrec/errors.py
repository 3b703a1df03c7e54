"""The project's error types.

An :class:`LtvrecError` is a mistake the user can fix (a bad value, a missing file, a
folder that is not what it should be): the command line prints it as one line and
exits with status 1. Anything else is a bug; ``ltvrec --debug`` (or ``LTVREC_DEBUG=1``)
shows its traceback. The subclasses are also the builtin error a Python caller would
expect (a :class:`ConfigError` is a ``ValueError``), so ``except ValueError`` keeps
working.
"""

from __future__ import annotations


class LtvrecError(Exception):
    """An error the user can act on; printed without a traceback."""


class ConfigError(LtvrecError, ValueError):
    """A config field that does not exist or a value it cannot take."""


class InputError(LtvrecError, ValueError):
    """A bad argument, or inputs that do not belong together (e.g. a policy trained on
    another catalog than the simulator given)."""


class ArtifactError(LtvrecError, ValueError):
    """A saved artifact (encoding, simulator, policy, bundle) that fails its checksum or
    has an unknown format version."""


class ArtifactNotFoundError(LtvrecError, FileNotFoundError):
    """A folder that is not the artifact it should be (a file is missing); the message
    says which command makes one."""
