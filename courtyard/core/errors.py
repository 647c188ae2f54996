"""Errors a user can act on. Tasks print their message in one line, without a traceback."""


class CourtyardError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class SpecError(CourtyardError):
    """The cluster spec is invalid; the message names the field and the bad value."""


class Interrupted(CourtyardError):
    """The user stopped a task (Ctrl-C, SIGTERM); the message says what state it left."""

    exit_code = 130
