"""What the deploy-safety tests share: a clock moved by hand, a repository whose environments have a history, and
the request cards the bot posts in the channel."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from bot.bitbucket import BearerToken, BitbucketClient, ResolvedRef, pipeline_body, pipeline_target_for
from bot.core import ids
from tests.harness import ADMIN, BITBUCKET_TOKEN, text_of

CHANNEL = "C1"


class Clock:
    """Epoch seconds that a test moves on by hand (a fixed start: no test depends on today's date)."""

    def __init__(self, now: float = 1_900_000_000.0):
        self.now = now

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.now, timezone.utc)

    def seconds(self) -> float:
        return self.now


def seed(bitbucket) -> dict:
    """acme/api with Staging and Production and their deploy pipelines. Production runs the first commit (release
    #1, by Ann); since then pull request #1 "Add login" was merged (its own commit, and the merge commit) and a
    typo was fixed straight on main. Returns the hashes by name."""
    bitbucket.add_user("ann", "Ann Author")
    bitbucket.add_repository("acme", "api", branches=("main",))
    first = bitbucket.branches("acme", "api")["main"]
    for environment in ("Staging", "Production"):
        bitbucket.add_environment("acme", "api", environment, environment_type=environment)
        bitbucket.set_pipeline_script("acme", "api", f"deploy-to-{environment.lower()}")
    bitbucket.add_deployment("acme", "api", "Production", commit=first, release_name="#1", deployer="ann")
    bitbucket.add_pull_request("acme", "api", title="Add login", source="feature/login", author="ann")
    feature = bitbucket.branches("acme", "api")["feature/login"]
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    client.merge_pull_request("acme", "api", 1, strategy="merge_commit")
    merge = bitbucket.branches("acme", "api")["main"]
    typo = bitbucket.add_commit("acme", "api", "main", message="Fix a typo in the README")
    return {"first": first, "feature": feature, "merge": merge, "typo": typo}


def ask(bot, text, *, user_id=ADMIN):
    return bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0]


def said(bot, text, *, user_id=ADMIN) -> str:
    return text_of(ask(bot, text, user_id=user_id))


def cards(slack, channel=CHANNEL) -> list:
    """The request cards in the channel (as they stand now: updates replace them), oldest first."""
    return [m for m in slack.channel_messages(channel) if not m.thread_ts and " asks to " in text_of(m.to_api())]


def card_text(message) -> str:
    return text_of(message.to_api())


_SEEN: dict = {}  # (card ts, action id) -> the button's value, for clicks on a card Slack has redrawn since


def request_value(message, action_id=ids.APPROVE_DEPLOY_REQUEST) -> str:
    """The button's value, as the person's (perhaps stale) client still shows it."""
    for block in message.blocks:
        for element in block.get("elements") or ():
            if element.get("action_id") == action_id:
                _SEEN[(message.ts, action_id)] = element["value"]
                return element["value"]
    if (message.ts, action_id) in _SEEN:
        return _SEEN[(message.ts, action_id)]
    raise AssertionError(f"no {action_id} on {json.dumps(message.blocks)[:500]}")


def click_card(bot, message, action_id=ids.APPROVE_DEPLOY_REQUEST, *, user_id, value=None) -> str:
    sent = bot.click(action_id, value or request_value(message, action_id), user_id=user_id, channel_id=CHANNEL,
                     message_ts=message.ts, message=message.to_api())
    return bot.answer_text(sent)


def deploy_pipelines(bitbucket, environment="production") -> list[dict]:
    return [p for p in bitbucket.pipelines("acme", "api") if (p["target"].get("selector") or {}).get("pattern") == f"deploy-to-{environment}"]


def grant(bot, user, role, repo="acme/api"):
    answer = said(bot, f"grant <@{user}> {role} {repo}")
    assert "granted" in answer.lower() or "already" in answer, answer


def run_deploy_pipeline(bitbucket, environment="production") -> dict:
    """A deploy pipeline of main that ran (from Bitbucket's own UI, say), finished: `/bb builds` offers its Re-run."""
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN), max_retries=0)
    head = bitbucket.branches("acme", "api")["main"]
    target = pipeline_target_for(ResolvedRef("branch", "main", head), f"deploy-to-{environment}")
    pipeline = client.trigger_pipeline("acme", "api", pipeline_body(target))
    bitbucket.advance_pipeline("acme", "api", pipeline["uuid"], "COMPLETED", "SUCCESSFUL")
    return pipeline


def rerun_value(bot, number: int) -> str:
    listing = ask(bot, "builds api")
    found = [e for b in listing["blocks"] for e in (b.get("elements") or []) if e.get("action_id") == ids.RERUN_PIPELINE]
    return [e for e in found if f'"n":{number}' in e["value"]][0]["value"]
