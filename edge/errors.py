"""The root of pcinspect's own errors.

Every error the project raises on purpose (bad station file, bad bundle, bad frame, bad key file, a journal
that cannot be used, ...) derives from :class:`PcinspectError`, so the command line can report it as one
clean line while a genuine bug still shows its traceback.
"""

from __future__ import annotations


class PcinspectError(Exception):
    """An error whose message says what is wrong and what was expected; shown to the user as one line."""


class UsageError(PcinspectError, ValueError):
    """A command-line option or argument that cannot be used as given."""


class InspectionError(PcinspectError, ValueError):
    """The scan cannot be inspected (too few points, does not match the template); the reason is the message."""
