"""`POST /bitbucket/webhook`: verify, check it is JSON, append it durably (deduplicated), answer.

Order matters: the content type and the size (Bitbucket's 256 KB, from Content-Length) are checked before the
body is read, the signature (the current secret or one being rotated out) before the JSON is parsed, and the answer waits for the commit of the raw delivery only: routing, rendering and Slack
come after, in the relay's router and the outbox.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from bot.core import metrics
from bot import relay
from bot.core.background import note_foreground
from bot.core.web import Request, Response, loads_bounded

log = logging.getLogger(__name__)

SIGNATURE_PREFIX = "sha256="
WEBHOOK_MAX_BYTES = 256 * 1024  # Bitbucket does not send larger deliveries


def signature_valid(secrets, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, compared in constant time against each of
    `secrets` (the current one, then those being rotated out; a single string is one secret). Anything malformed
    (no prefix, not 64 hex digits, bytes that are not ASCII) is simply not valid."""
    if isinstance(secrets, str):
        secrets = (secrets,)
    if not header or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header[len(SIGNATURE_PREFIX):].strip().lower().encode("utf-8", "surrogatepass")
    if len(given) != 64:
        return False
    valid = False
    for secret in secrets:
        if secret:
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
            valid |= hmac.compare_digest(expected, given)  # bytes: never a TypeError, whatever was sent
    return valid


def _refused(kind: str, error: str, status: int) -> Response:
    metrics.WEBHOOK_DELIVERIES.labels(kind, "refused").inc()
    return Response.json({"error": error}, status)


def make_handler(services):
    def handle(request: Request) -> Response:
        settings = services.settings
        secret = settings.bitbucket_webhook_secret
        if request.media_type != "application/json":  # Bitbucket sends JSON, and says so
            return Response.json({"error": "Content-Type must be application/json"}, 415)
        body = request.read_body(WEBHOOK_MAX_BYTES)
        accepted = (secret, *settings.bitbucket_old_webhook_secrets) if secret else ()
        if not signature_valid(accepted, body, request.header("X-Hub-Signature")):
            log.warning("webhook refused: %s", "BITBUCKET_WEBHOOK_SECRET is not set" if not secret else "missing or wrong X-Hub-Signature")
            return _refused("unverified", "invalid signature", 401)
        # Only a signed delivery counts as one arriving: a stranger's flood must not hold the relay back.
        note_foreground()  # the relay's router and the outbox step aside while deliveries arrive
        try:
            payload = loads_bounded(body)
        except ValueError:  # UnicodeDecodeError is a ValueError too, and so is JSON nested absurdly deep
            return _refused("malformed", "the body is not JSON", 400)
        if not isinstance(payload, dict):
            return _refused("malformed", "the body is not a JSON object", 400)
        event_key = (request.header("X-Event-Key") or "").strip()
        if not event_key:
            return _refused("malformed", "X-Event-Key is missing", 400)
        attempt = request.header("X-Attempt-Number") or "1"
        # X-Event-Key is not signed: a body that is not an event of that key is kept as failed and refused.
        unfit = relay.mismatch(event_key, payload)
        delivery = relay.Delivery(
            event_key=event_key,
            body=body,
            request_uuid=(request.header("X-Request-UUID") or "").strip()[:100],
            hook_uuid=(request.header("X-Hook-UUID") or "").strip()[:100],
            attempt=int(attempt) if attempt.isascii() and attempt.isdigit() and len(attempt) <= 6 else 1,
            refused=unfit,
        )
        try:
            stored = relay.delivery_writer(services).write(delivery)
        except Exception:  # noqa: BLE001 - not stored: a 5xx makes Bitbucket try again
            log.exception("webhook %s not stored", delivery.id)
            metrics.WEBHOOK_DELIVERIES.labels(event_key, "not_stored").inc()
            return Response.json({"error": "not stored; try again"}, 503)
        if unfit:
            log.warning("webhook %s refused: %s", delivery.id, unfit)
            return _refused("mismatched", f"the body does not fit X-Event-Key: {unfit}", 400)
        metrics.WEBHOOK_DELIVERIES.labels(event_key, "accepted" if stored else "duplicate").inc()
        return Response.json({"ok": True, "duplicate": not stored})

    return handle
