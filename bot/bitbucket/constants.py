"""Addresses, limits and timings the Bitbucket client shares between its modules."""

from __future__ import annotations

from importlib import metadata

DEFAULT_BASE_URL = "https://api.bitbucket.org/2.0"
OAUTH_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
DEFAULT_TIMEOUT = (3.05, 20)  # (connect, read) seconds

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 555})  # 555: Bitbucket's own "timed out, retry later"
MAX_BACKOFF = 30.0  # ceiling of one exponential-backoff wait, seconds
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is not worth keeping a person waiting for
TOKEN_REFRESH_MARGIN = 60.0  # renew OAuth tokens this many seconds before they expire
DEFAULT_TOKEN_LIFETIME = 3600.0  # Bitbucket's documented lifetime, used if a token response omits expires_in

# Bitbucket answers 400 "Invalid pagelen" above 50 on pull requests (despite its docs saying 100).
PULL_REQUEST_PAGELEN = 50
MAX_PAGELEN = 100


def _version() -> str:
    try:
        return metadata.version("bitbucket-chatops")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "dev"


USER_AGENT = f"bitbucket-chatops/{_version()}"
