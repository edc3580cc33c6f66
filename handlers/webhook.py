"""`POST /bitbucket/webhook` (the relay issue fills this in)."""

from __future__ import annotations

from bot.web import Request, Response


def make_handler(services):
    def handle(request: Request) -> Response:
        return Response.json({"error": "webhook relay is not enabled in this version"}, 503)

    return handle
