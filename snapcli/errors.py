"""Exceptions that map to snap's exit codes (the CLI frame turns them into one-line messages)."""


class SnapError(Exception):
    """Bad input or usage: exit code 2, one line, no traceback."""

    exit_code = 2


class RunFailed(Exception):
    """A run that started correctly but could not finish: exit code 1."""

    exit_code = 1
