"""`POST /bitbucket/webhook`: verify, check it is JSON, append it durably (deduplicated), answer.

Order matters: the size is checked from Content-Length before the body is read, the signature before the
JSON is parsed, and the answer waits for the commit of the raw delivery only: routing, rendering and Slack
come after, in the relay's router and the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from bot import metrics, relay
from bot.background import note_foreground
from bot.web import Request, Response

log = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time."""
    if not secret or not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len(SIGNATURE_PREFIX):].strip().lower())


def make_handler(services):
    def handle(request: Request) -> Response:
        note_foreground()  # the relay's router and the outbox step aside while deliveries arrive
        secret = services.settings.bitbucket_webhook_secret
        body = request.read_body()
        if not signature_valid(secret, body, request.header("X-Hub-Signature")):
            log.warning("webhook refused: %s", "BITBUCKET_WEBHOOK_SECRET is not set" if not secret else "missing or wrong X-Hub-Signature")
            metrics.WEBHOOK_DELIVERIES.labels("unverified", "refused").inc()
            return Response.json({"error": "invalid signature"}, 401)
        try:
            payload = json.loads(body)
        except ValueError:  # UnicodeDecodeError is a ValueError too
            metrics.WEBHOOK_DELIVERIES.labels("malformed", "refused").inc()
            return Response.json({"error": "the body is not JSON"}, 400)
        if not isinstance(payload, dict):
            metrics.WEBHOOK_DELIVERIES.labels("malformed", "refused").inc()
            return Response.json({"error": "the body is not a JSON object"}, 400)
        event_key = (request.header("X-Event-Key") or "").strip()
        if not event_key:
            metrics.WEBHOOK_DELIVERIES.labels("malformed", "refused").inc()
            return Response.json({"error": "X-Event-Key is missing"}, 400)
        attempt = request.header("X-Attempt-Number") or "1"
        delivery = relay.Delivery(
            event_key=event_key,
            body=body,
            request_uuid=(request.header("X-Request-UUID") or "").strip()[:100],
            hook_uuid=(request.header("X-Hook-UUID") or "").strip()[:100],
            attempt=int(attempt) if attempt.isdigit() else 1,
        )
        try:
            stored = relay.delivery_writer(services).write(delivery)
        except Exception:  # noqa: BLE001 - not stored: a 5xx makes Bitbucket try again
            log.exception("webhook %s not stored", delivery.id)
            metrics.WEBHOOK_DELIVERIES.labels(event_key, "not_stored").inc()
            return Response.json({"error": "not stored; try again"}, 503)
        metrics.WEBHOOK_DELIVERIES.labels(event_key, "accepted" if stored else "duplicate").inc()
        return Response.json({"ok": True, "duplicate": not stored})

    return handle
