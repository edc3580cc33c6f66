"""The simulated servers' parts the insights rely on: Bitbucket's repository-wide activity log, read through our
real client, and Slack's three-step upload, which refuses the steps out of order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.bitbucket import BearerToken, BitbucketClient
from tests.harness import BITBUCKET_TOKEN

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)


def test_the_activity_log_is_newest_first_paged_and_holds_every_kind(bitbucket):
    bitbucket.add_user("ann", "Ann")
    bitbucket.add_user("bob", "Bob")
    bitbucket.add_repository("acme", "api")
    first = bitbucket.add_pull_request("acme", "api", title="One", source="f/one", author="ann", reviewers=("bob",),
                                       created_on=NOW - timedelta(days=3), updated_on=NOW - timedelta(days=1), state="MERGED")["id"]
    bitbucket.add_comment("acme", "api", first, "bob", "Why?", at=NOW - timedelta(days=2, hours=20))
    bitbucket.add_review("acme", "api", first, "bob", "changes_requested", at=NOW - timedelta(days=2, hours=12))
    second = bitbucket.add_pull_request("acme", "api", title="Two", source="f/two", author="bob", reviewers=("ann",),
                                        created_on=NOW - timedelta(hours=5))["id"]
    bitbucket.add_review("acme", "api", second, "ann", "approved", at=NOW - timedelta(hours=1))
    client = BitbucketClient(bitbucket.base_url, BearerToken(BITBUCKET_TOKEN))

    items = [item for page in client.iter_activity_pages("acme", "api") for item in page]
    kinds = [(next(k for k in item if k != "pull_request"), item["pull_request"]["id"]) for item in items]
    assert kinds == [("approval", second), ("update", second), ("update", first), ("changes_requested", first),
                     ("comment", first), ("update", first)]
    assert [item["update"]["state"] for item in items if "update" in item] == ["OPEN", "MERGED", "OPEN"]

    pages = list(client.iter_activity_pages("acme", "api", fields="next,values.pull_request.id"))
    assert [len(page) for page in pages] == [6] and pages[0][0] == {"pull_request": {"id": second}}
    with requests.Session() as session:
        session.trust_env = False
        refused = session.get(f"{bitbucket.base_url}/repositories/acme/api/pullrequests/activity", params={"pagelen": 100},
                              headers={"Authorization": f"Bearer {BITBUCKET_TOKEN}"}, timeout=5)
    assert refused.status_code == 400 and refused.json()["error"]["message"] == "Invalid pagelen"


def test_the_upload_steps_must_come_in_order(slack):
    client = WebClient(token="xoxb-test", base_url=slack.api_url)
    asked = client.files_getUploadURLExternal(filename="chart.png", length=4)
    with pytest.raises(SlackApiError, match="file_not_found"):  # the bytes were never sent
        client.files_completeUploadExternal(files=[{"id": asked["file_id"], "title": "Chart"}], channel_id="C1")
    with requests.Session() as session:
        session.trust_env = False
        assert session.post(asked["upload_url"], data=b"\x89PN").text == "OK - 3"
    with pytest.raises(SlackApiError, match="file_upload_size_mismatch"):  # fewer bytes than announced
        client.files_completeUploadExternal(files=[{"id": asked["file_id"], "title": "Chart"}], channel_id="C1")

    again = client.files_getUploadURLExternal(filename="chart.png", length=4)
    with requests.Session() as session:
        session.trust_env = False
        session.post(again["upload_url"], data=b"\x89PNG")
    done = client.files_completeUploadExternal(files=[{"id": again["file_id"], "title": "Chart"}], channel_id="C1",
                                               initial_comment="Here")
    assert done["files"][0]["title"] == "Chart"
    (message,) = slack.channel_messages("C1")
    assert message.text == "Here" and message.files[0]["id"] == again["file_id"]
    with pytest.raises(SlackApiError, match="file_not_found"):  # shared once only
        client.files_completeUploadExternal(files=[{"id": again["file_id"]}], channel_id="C1")
