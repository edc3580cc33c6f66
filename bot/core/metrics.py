"""Metrics of the bot itself, in Prometheus' text format on `GET /metrics` (prometheus_client).

The counters live in this process's registry; the features count with one call where a thing happens. The
outbox's depth and the age of its oldest item are read from the store when the metrics are scraped, so
they are the database's truth, shared by every replica. `METRICS_TOKEN`, when set, is required as a Bearer token.
"""

from __future__ import annotations

import hmac
import re
import time
from urllib.parse import urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector, generate_latest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.web import Response

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

WEBHOOK_DELIVERIES = Counter(
    "chatops_webhook_deliveries", "Bitbucket webhook deliveries, by event key and result: accepted, duplicate, refused, "
    "not_stored (at intake), relayed, ignored, failed (by the router)", ["event", "result"], registry=REGISTRY)
OUTBOX_DEPTH = Gauge("chatops_outbox_depth", "Slack messages queued in the outbox and not yet delivered", registry=REGISTRY)
OUTBOX_OLDEST_AGE = Gauge("chatops_outbox_oldest_age_seconds", "Age of the oldest undelivered outbox message (0 when empty)", registry=REGISTRY)
OUTBOX_PARKED = Gauge("chatops_outbox_parked", "Outbox messages parked after repeated failures", registry=REGISTRY)
SLACK_CALLS = Counter("chatops_slack_calls", "Slack Web API calls, by method and status (ok, or Slack's error)", ["method", "status"], registry=REGISTRY)
SLACK_LATENCY = Histogram("chatops_slack_call_seconds", "Slack Web API call latency", ["method"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
BITBUCKET_CALLS = Counter("chatops_bitbucket_calls", "Bitbucket API requests, by HTTP method, endpoint and status",
                          ["method", "endpoint", "status"], registry=REGISTRY)
BITBUCKET_LATENCY = Histogram("chatops_bitbucket_call_seconds", "Bitbucket API request latency", ["method", "endpoint"],
                              buckets=LATENCY_BUCKETS, registry=REGISTRY)
BITBUCKET_REQUESTS = Counter("bitbucket_requests", "Bitbucket API requests sent, by the kind of credential that spent them "
                             "(bot, person) and priority (person, relay, background)", ["credential_kind", "priority"], registry=REGISTRY)
BITBUCKET_BUDGET_REMAINING = Gauge("bitbucket_budget_remaining", "Requests left in the rolling hour's Bitbucket allowance, counted "
                                   "in the database across replicas; for people, the least any person has left", ["credential_kind"],
                                   registry=REGISTRY)
RATE_LIMIT_WAITS = Counter("chatops_rate_limit_waits", "429 answers waited out before trying again, by service", ["service"], registry=REGISTRY)
REMINDERS_SENT = Counter("chatops_reminders_sent", "Stale pull request reminders queued for a channel, by kind (scheduled, now)", ["kind"], registry=REGISTRY)
DIGESTS_SENT = Counter("chatops_digests_sent", "Weekly insight digests queued for a channel", registry=REGISTRY)
DEPLOYS = Counter("chatops_deploys", "Deploys and rollbacks finished, by outcome (successful, failed, stopped, not_started)", ["outcome"], registry=REGISTRY)

for _service in ("slack", "bitbucket"):
    RATE_LIMIT_WAITS.labels(_service)  # present from the start, at 0

# --- Bitbucket endpoints as templates, so a label never holds a repository's or a branch's name ----------------

_KEEP = frozenset({
    "2.0", "repositories", "workspaces", "members", "pullrequests", "activity", "merge", "task-status", "decline", "approve",
    "request-changes", "refs", "branches", "tags", "commit", "commits", "hooks", "pipelines", "stopPipeline", "steps",
    "environments", "deployments", "user", "statuses", "diffstat", "comments", "site", "oauth2", "access_token",
})


def endpoint_of(url: str) -> str:
    """`/repositories/{workspace}/{repo_slug}/pullrequests/{id}/approve` from a full URL."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    shown: list[str] = []
    for index, part in enumerate(parts):
        previous = parts[index - 1] if index else ""
        if previous in ("repositories", "workspaces") and part not in _KEEP:
            shown.append("{workspace}")
        elif index >= 2 and parts[index - 2] == "repositories":
            shown.append("{repo_slug}")
        elif part in _KEEP and not (shown and shown[-1] == "{name}"):
            shown.append(part)
        elif previous in ("branches", "tags") or (shown and shown[-1] == "{name}"):
            if shown[-1] != "{name}":
                shown.append("{name}")
        else:
            shown.append("{id}")
    return "/" + "/".join(p for p in shown if p != "2.0")


def bitbucket_call(method: str, url: str, status: int | str, seconds: float) -> None:
    endpoint = endpoint_of(url)
    BITBUCKET_CALLS.labels(method, endpoint, str(status)).inc()
    BITBUCKET_LATENCY.labels(method, endpoint).observe(seconds)


_SLACK_ERROR = re.compile(r"^[a-z_]{1,40}$")


class MeteredWebClient(WebClient):
    """slack_sdk's WebClient, counting and timing every Web API call by method and outcome."""

    def api_call(self, api_method: str, *args, **kwargs):
        started = time.perf_counter()
        status = "exception"
        try:
            response = super().api_call(api_method, *args, **kwargs)
            status = "ok"
            return response
        except SlackApiError as error:
            code = str(error.response.get("error") or f"http_{error.response.status_code}")
            status = code if _SLACK_ERROR.match(code) else "other"
            raise
        finally:
            SLACK_CALLS.labels(api_method, status).inc()
            SLACK_LATENCY.labels(api_method).observe(time.perf_counter() - started)


# --- the route ----------------------------------------------------------------------------------------------------


def read_outbox(store, now: float | None = None) -> None:
    now = time.time() if now is None else now
    row = store.query_one("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state IN ('pending', 'sending')")
    OUTBOX_DEPTH.set(row["n"] or 0)
    OUTBOX_OLDEST_AGE.set(max(0.0, now - row["oldest"]) if row["oldest"] is not None else 0.0)
    OUTBOX_PARKED.set(store.query_one("SELECT COUNT(*) AS n FROM outbox WHERE state = 'parked'")["n"] or 0)


def authorized(token: str, authorization: str | None) -> bool:
    if not token:
        return True
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def make_handler(services):
    def handle(request) -> Response:
        if not authorized(services.settings.metrics_token, request.header("Authorization")):
            return Response(401, b"unauthorized\n", [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", 'Bearer realm="metrics"')])
        try:
            read_outbox(services.store)
        except Exception:  # noqa: BLE001 - the rest of the metrics are still worth serving
            OUTBOX_DEPTH.set(float("nan"))
        return Response(200, generate_latest(REGISTRY), [("Content-Type", CONTENT_TYPE_LATEST)])

    return handle
