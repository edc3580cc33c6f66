"""outbox: filled in by its own issue."""

SCHEMA: list[str] = []


def start_background(services, *, scheduler: bool = True) -> list:
    """Start this feature's background work in the serve process; return the functions that stop it."""
    return []
