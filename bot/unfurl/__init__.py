"""Unfurls of Bitbucket links pasted in Slack (`link_shared` -> `chat.unfurl`).

A pull request link becomes its card (the relay's: title, state, author, branches, reviewers ✅ ✋, buttons
while open) with its builds (`…/pullrequests/{id}/statuses`); a commit or pipeline link one line.
Everything is read with the bot's own credential: a link it cannot read (private to it, or gone) is left alone.

A pull request of a followed repository that webhooks told of is drawn from the relay's state (its builds from
the build states the relay kept): no request. When little of the hour's Bitbucket budget is left, a link that
would need one is left alone.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from bot import relay
from bot.bitbucket import BitbucketError, Pipeline
from bot.bitbucket.metering import BACKGROUND
from bot.core import meter
from bot.unfurl import render as unfurl_render

log = logging.getLogger(__name__)

DOMAIN = "bitbucket.org"
MAX_LINKS = 5  # Slack sends a handful at most; each costs one Bitbucket call
_NAME = r"[A-Za-z0-9._-]+"
_PATTERNS = (
    ("pull_request", re.compile(rf"^/(?P<ws>{_NAME})/(?P<slug>{_NAME})/pull-requests/(?P<ref>\d+)(?:/.*)?$")),
    ("commit", re.compile(rf"^/(?P<ws>{_NAME})/(?P<slug>{_NAME})/commits?/(?P<ref>[0-9a-fA-F]{{7,40}})/?$")),
    ("pipeline", re.compile(rf"^/(?P<ws>{_NAME})/(?P<slug>{_NAME})/(?:addon/)?pipelines/(?:home#!/)?results/(?P<ref>\d+)(?:/.*)?$")),
)


@dataclass(frozen=True)
class BitbucketLink:
    kind: str  # pull_request | commit | pipeline
    repo: str  # workspace/slug
    ref: str  # the pull request's or pipeline's number, or the commit hash


def parse_link(url: str) -> BitbucketLink | None:
    """Pure: what a bitbucket.org link points at, or None for anything else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or (parts.hostname or "").lower() not in (DOMAIN, f"www.{DOMAIN}"):
        return None
    path = unquote(parts.path) + (f"#{parts.fragment}" if parts.fragment.startswith("!/results/") else "")
    for kind, pattern in _PATTERNS:
        match = pattern.match(path)
        if match:
            return BitbucketLink(kind, f"{match['ws']}/{match['slug']}".lower(), match["ref"])
    return None


def unfurl_one(services, link: BitbucketLink) -> dict | None:
    """`{"blocks": […]}` for one link, or None when the bot cannot read what it points at."""
    client = services.bitbucket
    workspace, slug = link.repo.split("/", 1)
    if link.kind == "pull_request":
        known = _known_pull_request(services, link)
        if known is not None:
            return known
    if not meter.allows(services, BACKGROUND):
        log.info("not unfurling a %s link in %s: the Bitbucket request budget is low", link.kind, link.repo)
        return None
    try:
        if link.kind == "pull_request":
            data = client.get_pull_request(workspace, slug, int(link.ref))
            return {"blocks": unfurl_render.pull_request(link.repo, data, _builds(services, link, data)).blocks}
        if link.kind == "commit":
            return {"blocks": unfurl_render.commit(link.repo, client.get_commit(workspace, slug, link.ref)).blocks}
        pipeline = Pipeline.from_api(client.get_pipeline(workspace, slug, link.ref))
        return {"blocks": unfurl_render.pipeline(link.repo, pipeline).blocks}
    except BitbucketError as error:
        log.info("not unfurling a %s link in %s: %s", link.kind, link.repo, error.status)
        return None


def _known_pull_request(services, link: BitbucketLink) -> dict | None:
    """The card from what webhooks told the relay, for a followed repository; None when it was not told."""
    if link.repo not in relay.subscribed_repositories(services.store):
        return None
    data = relay.pull_request_state(services.store, link.repo, int(link.ref))
    if data is None:
        return None
    branch = ((data.get("source") or {}).get("branch") or {}).get("name") or ""
    builds = relay.build_states(services.store, link.repo, branch)
    return {"blocks": unfurl_render.pull_request(link.repo, data, builds).blocks}


def _builds(services, link: BitbucketLink, data: dict) -> list[tuple[str, str]]:
    """The newest state of each build of the pull request's source commit; what the relay has seen on its
    branch when Bitbucket will not tell."""
    workspace, slug = link.repo.split("/", 1)
    try:
        statuses = services.bitbucket.list_pull_request_statuses(workspace, slug, int(link.ref))
    except BitbucketError as error:
        log.info("builds of %s#%s not readable (%s): showing what the relay saw", link.repo, link.ref, error.status)
        branch = ((data.get("source") or {}).get("branch") or {}).get("name") or ""
        return relay.build_states(services.store, link.repo, branch)
    newest: dict[str, tuple[str, str]] = {}
    for status in statuses:  # newest first: the first of each key is its state now
        newest.setdefault(status.get("key") or "", (status.get("name") or status.get("key") or "build", status.get("state") or ""))
    return list(newest.values())


def unfurls_for(services, urls: list[str]) -> dict[str, dict]:
    """The unfurl of each readable Bitbucket link, by URL (the links the bot cannot read are left out)."""
    found: dict[str, dict] = {}
    for url in urls[:MAX_LINKS]:
        link = parse_link(url)
        if link is None or url in found:
            continue
        unfurl = unfurl_one(services, link)
        if unfurl is not None:
            found[url] = unfurl
    return found
