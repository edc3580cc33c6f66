"""PostgreSQL URLs as people may see them: never with the password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact(url: str) -> str:
    """The URL without its password, for logs, `check` and error messages (a SQLite path is left as it is)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<a malformed database URL>"
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
