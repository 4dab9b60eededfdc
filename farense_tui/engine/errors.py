"""Errors that are the user's to fix: shown as one clear message, never as a traceback."""


class UserError(Exception):
    """A mistake in the user's input (a file, a key, a value); the message says what was
    expected."""
