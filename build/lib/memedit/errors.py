"""Errors a user can act on.

Every :class:`MemeditError` carries a one-line message that says what went
wrong and what to do next; the CLI prints it as ``Error: ...`` and exits
non-zero, without a traceback.
"""


class MemeditError(Exception):
    """Base class for errors caused by input, data or environment, not by a bug."""


class InvalidEditError(MemeditError):
    """An edit (text, fields or tags) fails validation."""


class InputFormatError(MemeditError):
    """An edits file cannot be read: encoding, JSON syntax, unknown format, missing keys."""


class StoreError(MemeditError):
    """The store cannot be opened or written."""


class NotAStoreError(StoreError):
    """A path that exists but does not hold a memedit store."""


class StoreLockedError(StoreError):
    """Another writer held the store for longer than the lock timeout."""


class EditNotFoundError(StoreError):
    """No edit has the given id (or id prefix)."""


class BundleError(MemeditError):
    """A bundle is malformed, tampered with, unsafe or of an unsupported version."""


class ImportConflictError(MemeditError):
    """An import met edits that differ from stored ones and was told to fail."""


class EmbedderError(MemeditError):
    """The embedding model cannot be loaded or does not match the store."""


class HubError(MemeditError):
    """Pushing to or pulling from the Hugging Face Hub failed."""
