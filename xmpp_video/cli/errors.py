"""The CLI's one error type: its message is the single line printed on stderr."""


class CliError(Exception):
    """One line for stderr; exit status 1."""
