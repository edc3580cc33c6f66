"""Secrets out of third-party debug logs. With `LOG_LEVEL=DEBUG`, slack_sdk logs every request and answer whole:
the `openid.connect.token` answer (a person's `xoxp-` token, the ID token), the authorization code sent with it,
the app's client secret. Our own code never logs a secret (Bitbucket's client logs a path, never a URL with its
query, a header or a body); these libraries do, so a filter on their loggers rewrites such records before any
handler sees them. `install()` is called wherever the bot configures logging (`bitbucket-chatops`, the shell).
"""

from __future__ import annotations

import importlib
import logging
import re
import sys

REDACTED = "[redacted]"

# Names whose values are secrets wherever they appear: in a dict's repr, a JSON body, a query string or a form.
_SECRET_NAMES = (
    "access_token", "refresh_token", "id_token", "token", "code", "state", "nonce", "client_secret", "client_id_secret",
    "authorization", "password", "secret", "signing_secret", "bot_token",
)
_NAMED = re.compile(
    r"""(?P<name>['"]?\b(?:""" + "|".join(_SECRET_NAMES) + r""")\b['"]?\s*(?::|=)\s*(?:b?['"])?)(?P<value>[^'"&,\s}\]\)]+)""",
    re.IGNORECASE,
)
_TOKENS = (
    re.compile(r"\bxox[a-z]-[A-Za-z0-9-]+"),  # Slack tokens: xoxb-, xoxp-, xoxe-, xoxa-…
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),  # a JWT (the ID token)
    re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"),
)

# The loggers that log requests and answers whole. A filter on a logger applies to its own records only, not to
# those of its children, so each is named (and any already created under these prefixes is found).
LOGGERS = (
    "slack_sdk", "slack_sdk.web.base_client", "slack_sdk.web.legacy_base_client", "slack_sdk.web.async_base_client",
    "slack_sdk.web.internal_utils", "slack_sdk.web.slack_response", "slack_sdk.oauth", "slack_sdk.socket_mode",
    "slack_bolt", "slack_bolt.App", "urllib3.connectionpool",
)
PREFIXES = ("slack_sdk", "slack_bolt")


def redact(text: str) -> str:
    """Pure: `text` with every secret-looking value replaced."""
    for pattern in _TOKENS:  # first: a credential after `Basic ` is not a named value's first word
        text = pattern.sub(lambda m: (m.group(1) + " " if m.re.groups else "") + REDACTED, text)
    return _NAMED.sub(lambda m: m.group("name") + REDACTED, text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message with its secrets redacted (the record is kept, the secret is not)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is left to logging to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Add the filter to slack_sdk's (and Bolt's) loggers; calling it again changes nothing. Their loggers are
    named after their modules (and created when a client is), so every module of theirs gets one now."""
    for package in ("slack_sdk.web", "slack_sdk.webhook", "slack_bolt"):
        importlib.import_module(package)
    names = set(LOGGERS) | {name for name in list(logging.root.manager.loggerDict) if name.startswith(PREFIXES)}
    names |= {name for name in list(sys.modules) if name.startswith(PREFIXES)}
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
