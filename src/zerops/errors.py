"""The one error type zerops raises for bad input, missing weights and bad settings.

The CLI catches :class:`ZeropsError`, prints its message on one line and exits non-zero.
"""
from __future__ import annotations


class ZeropsError(Exception):
    """A problem the user can fix (bad input, missing model, wrong option).

    The message is a single line that says what is wrong and, where possible, what to do.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
