"""`GET /bitbucket/oauth/callback` (the account-linking issue fills this in)."""

from __future__ import annotations

from bot.web import Request, Response


def make_handler(services):
    def handle(request: Request) -> Response:
        return Response.text("Account linking is not enabled in this version.", 404)

    return handle
