"""The build state on a pull request's channel card: kept with the stored pull request (its `builds`, for the
source commit), changed by each build status of that commit, and shown by `relay_render.pull_request_card`.

Called by the relay router inside its transaction: database reads and the state to write, no Bitbucket call.
"""

from __future__ import annotations

import json

from bot.relay import render as relay_render
from bot.core import render
from bot.builds.render import STATE_WORDS

OPEN = '%"state":"OPEN"%'  # stored pull requests are compact JSON


def _source_commit(data: dict) -> str:
    return (((data.get("source") or {}).get("commit")) or {}).get("hash") or ""


def _same_commit(a: str, b: str) -> bool:
    return bool(a and b) and (a.startswith(b) or b.startswith(a))


def keep_builds(stored: dict | None, incoming: dict) -> None:
    """A pull request event carries no builds: keep the ones of its source commit, if that did not move."""
    builds = (stored or {}).get("builds")
    if builds and "builds" not in incoming and _same_commit(builds.get("commit", ""), _source_commit(incoming)):
        incoming["builds"] = builds


def with_status(data: dict, status: dict) -> dict | None:
    """The pull request with this build status recorded; None when it is not about its source commit, or older."""
    commit = ((status.get("commit") or {}).get("hash")) or ""
    source = _source_commit(data)
    branch = ((data.get("source") or {}).get("branch") or {}).get("name")
    if not (_same_commit(commit, source) or (not source and branch and branch == status.get("refname"))):
        return None
    builds = data.get("builds") or {}
    if not _same_commit(builds.get("commit", ""), commit):
        builds = {"commit": commit, "statuses": {}}
    key = str(status.get("key") or status.get("name") or "build")
    seen = builds["statuses"].get(key)
    if seen and (seen.get("updated_on") or "") > (status.get("updated_on") or ""):
        return None
    entry = {"name": status.get("name") or key, "state": status.get("state") or "", "url": status.get("url") or "",
             "updated_on": status.get("updated_on") or ""}
    return {**data, "builds": {"commit": builds["commit"], "statuses": {**builds["statuses"], key: entry}}}


def builds_line(data: dict) -> str | None:
    """`Builds: ❌ Unit tests failed · ✅ Lint passed`, or None without builds."""
    statuses = ((data.get("builds") or {}).get("statuses")) or {}
    if not statuses:
        return None
    order = {"FAILED": 0, "INPROGRESS": 1, "STOPPED": 2, "SUCCESSFUL": 3}
    parts = []
    for entry in sorted(statuses.values(), key=lambda e: order.get(e.get("state"), 4))[:6]:
        emoji, words = STATE_WORDS.get(entry.get("state") or "", (":grey_question:", "unknown"))
        parts.append(f"{emoji} {render.link(entry.get('url'), render.truncate(entry.get('name') or 'build', 80))} {words}")
    more = len(statuses) - len(parts)
    return "Builds: " + " · ".join(parts) + (f" · …and {more} more" if more > 0 else "")


def card_updates(db, payload: dict, repo: str, subscriptions: list) -> tuple[list, list]:
    """The cards of the open pull requests this build status is about, redrawn, and their stored state."""
    from bot.relay.routing import Post, pull_request_anchor  # the relay imports this module: not at the top

    status = payload.get("commit_status") or {}
    posts, writes = [], []
    for row in db.query("SELECT pr_id, data FROM relay_pull_requests WHERE repo = ? AND data LIKE ?", (repo, OPEN)):
        data = with_status(json.loads(row["data"]), status)
        if data is None:
            continue
        writes.append(("UPDATE relay_pull_requests SET data = ? WHERE repo = ? AND pr_id = ?",
                       (json.dumps(data, separators=(",", ":")), repo, row["pr_id"])))
        destination = ((data.get("destination") or {}).get("branch") or {}).get("name")
        anchor = pull_request_anchor(repo, row["pr_id"])
        card = relay_render.pull_request_card(repo, data)
        posts += [Post(sub.channel_id, card, f"{sub.channel_id}|{anchor}", anchor=anchor)
                  for sub in subscriptions if sub.wants("pullrequests", destination)]
    return posts, writes
