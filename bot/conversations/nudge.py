"""The card's overflow menu: *Nudge reviewers* posts in the card's thread, mentioning the reviewers who have not
approved (linked ones as Slack mentions, the others by name), and sends each linked one a direct message; at most
once per pull request per `NUDGE_WINDOW_SECONDS`, across replicas (a claim with its time), saying when the last one
was. *Open in Bitbucket* is a link Slack opens itself."""

from __future__ import annotations

from bot import accounts, conversations, relay
from bot.bitbucket import PullRequest
from bot.conversations import render as conversation_render
from bot.core import outbox
from bot.core.invocation import Invocation, split_repo
from bot.core.payloads import CardMenuChoice
from bot.core.render import link, mention, notice


def on_card_menu(inv: Invocation, value: dict) -> None:
    choice = CardMenuChoice.from_value(value)
    if choice.option == "nudge":
        nudge(inv, choice.repo, choice.pr_id)


def nudge(inv: Invocation, repo: str, pr_id: int) -> None:
    services = inv.services
    workspace, slug = split_repo(repo)
    pr = PullRequest.from_api(services.bitbucket.get_pull_request(workspace, slug, pr_id))  # who has approved, now
    label = link(pr.url, f"#{pr.id} {pr.title[:200]}") if pr.url else conversation_render.pr_label(repo, pr_id)
    if pr.state != "OPEN":
        inv.reply(notice(f":information_source: {label} is {pr.state.lower()}: there is nobody to nudge."))
        return
    now = services.timestamp()
    last = conversations.claim_nudge(services.store, repo, pr_id, inv.user_id, now=now)
    if last is not None:
        inv.reply(conversation_render.nudged_recently(last["nudged_at"], last["nudged_by"], now, conversations.NUDGE_WINDOW_SECONDS))
        return
    approved = {account.uuid for account in pr.approved_by}
    links = accounts.linked_users(services.store)
    named, direct = [], []
    for reviewer in pr.reviewers:
        if reviewer.uuid in approved:
            continue
        slack_user = accounts.slack_user_for(reviewer, links)
        if slack_user:
            named.append(mention(slack_user))
            if slack_user != inv.user_id:  # who nudges needs no message of their own
                direct.append(slack_user)
        else:
            named.append(conversation_render.reviewer_name(reviewer.display_name))
    anchor = relay.card_anchor(repo, pr_id)
    try:
        with services.store.transaction() as db:
            outbox.enqueue(db, channel=inv.channel_id, message=conversation_render.nudge(label, named, inv.user_id),
                           key=f"{inv.channel_id}|{anchor}", thread_anchor=anchor)
            for slack_user in direct:
                outbox.enqueue(db, channel=slack_user, message=conversation_render.nudge_direct(label, repo, inv.user_id),
                               key=f"{slack_user}|nudge")
    except Exception:
        conversations.release_nudge(services.store, repo, pr_id, inv.user_id, now)
        raise
