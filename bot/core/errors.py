"""Errors meant for the person who typed a command or clicked a button.

A `UserError` is raised where the problem is known and rendered in one place (`render.error_message`).
Its text is safe to show: it never holds a secret.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the person can fix or should know; `message` is shown as is (mrkdwn, already escaped)."""

    title = "Sorry"

    def __init__(self, message: str, *, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(UserError):
    title = "Usage"

    def __init__(self, message: str, *, usage: str = "", suggestion: str = ""):
        super().__init__(message, hint=usage)
        self.usage = usage
        self.suggestion = suggestion


class NotAllowed(UserError):
    title = "Not allowed"


class NotLinked(UserError):
    title = "Link your Bitbucket account"
