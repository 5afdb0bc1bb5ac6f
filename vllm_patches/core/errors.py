"""The one base of the errors that mean "bad input, or a tree we cannot work on".

Every module raises its own subclass (CatalogError, DetectError, ...); the CLI
catches this base alone and prints the message as one sentence, exit 2.
"""


class VllmPatchesError(Exception):
    """Bad input or an unusable tree: the message is one sentence for a person."""
