"""Roles from Slack, end to end: `/bb grant`, `/bb revoke` and `/bb roles`, with people named as they are typed
(`@bob`, not only Slack's escaped `<@U2>`), and environments checked against the repository's real ones."""

import pytest

from tests.harness import ADMIN, text_of

CHANNEL = "C1"


@pytest.fixture
def api(bitbucket):
    bitbucket.add_repository("acme", "api")
    for environment in ("Staging", "Production"):
        bitbucket.add_environment("acme", "api", environment)
    bitbucket.add_repository("acme", "web")
    return bitbucket


def ask(bot, text, *, user_id=ADMIN) -> str:
    """Type a command; the text of its first answer."""
    return text_of(bot.answers(bot.command(text, user_id=user_id, channel_id=CHANNEL))[0])


def roles_of(bot, repo: str = "") -> str:
    return ask(bot, f"roles {repo}".strip(), user_id="U1")


# --- environments --------------------------------------------------------------------------------------------


def test_a_grant_for_an_environment_the_repository_lacks_is_refused_with_the_real_ones(bot, api):
    answer = ask(bot, "grant <@U2> deployer:prod acme/api")
    assert "no environment `prod`" in answer and "`Staging`" in answer and "`Production`" in answer
    assert "<@U2>" not in roles_of(bot)
    assert "granted" in ask(bot, "grant <@U2> deployer:PRODUCTION acme/api")
    assert "deployer:production on acme/api" in roles_of(bot)


def test_a_repository_without_environments_takes_no_environment_grant(bot, api):
    answer = ask(bot, "grant <@U2> deployer:staging acme/web")
    assert "no deployment environments" in answer and "<@U2>" not in roles_of(bot)


def test_revoking_an_environment_grant_does_not_ask_for_the_environment(bot, api):
    """An environment removed from Bitbucket since the grant must not keep its grant alive."""
    ask(bot, "grant <@U2> deployer:staging acme/api")
    asked = len(api.requests_to("GET", "/environments/"))
    assert "revoked" in ask(bot, "revoke <@U2> deployer:staging acme/api")
    assert "does not have" in ask(bot, "revoke <@U2> deployer:qa acme/api")
    assert len(api.requests_to("GET", "/environments/")) == asked


# --- people as typed -----------------------------------------------------------------------------------------


def test_a_plain_at_name_is_found_in_the_member_list(bot, api, slack):
    answer = ask(bot, "grant @bob merger acme/api")
    assert "granted <@U2> merger on acme/api" in answer
    assert "<@U2>: merger on acme/api" in roles_of(bot)
    assert slack.calls_to("users.list")


def test_display_and_real_names_match_too_without_regard_to_case(bot, api, slack):
    slack.add_user("U7", "cwhite", real_name="Carol White", display_name="Carol")
    slack.add_user("U8", "dan.k", real_name="Dan", display_name="dk")
    assert "<@U7>" in ask(bot, "grant @CAROL releaser")
    assert "<@U8>" in ask(bot, "grant @dan releaser")
    listing = roles_of(bot)
    assert "<@U7>: releaser on every repository" in listing and "<@U8>: releaser on every repository" in listing


def test_the_member_list_is_read_page_by_page(bot, api, slack):
    for n in range(450):
        slack.add_user(f"UF{n:04d}", f"filler{n}")
    slack.add_user("UZED", "zed", real_name="Zed Last")
    assert "<@UZED>" in ask(bot, "grant @zed merger")
    calls = slack.calls_to("users.list")
    assert len(calls) >= 3 and all(int(call.args["limit"]) <= 200 for call in calls)
    assert [bool(call.args.get("cursor")) for call in calls] == [False] + [True] * (len(calls) - 1)


def test_two_people_of_one_name_are_named_and_nothing_is_granted(bot, api, slack):
    slack.add_user("U5", "alex.ng", real_name="Alex Ng", display_name="alex")
    slack.add_user("U6", "alex.roy", real_name="Alex Roy", display_name="alex")
    answer = ask(bot, "grant @alex merger")
    assert "<@U5>" in answer and "<@U6>" in answer and "pick" in answer
    assert "Nobody holds a role" in roles_of(bot)


def test_a_deleted_or_unknown_name_gets_what_to_type_instead(bot, api, slack):
    slack.add_user("U9", "gone", deleted=True)
    for typed in ("@gone", "@nobody"):
        answer = ask(bot, f"grant {typed} merger acme/api")
        assert f"`{typed}`" in answer and "member ID" in answer
        assert "`/bb grant U0123ABCDE merger acme/api`" in answer
    assert "Nobody holds a role" in roles_of(bot)


def test_an_email_is_looked_up_by_email(bot, api, slack):
    assert "<@U2>" in ask(bot, "grant bob@example.com merger")
    assert "<@U1>" in ask(bot, "grant <mailto:alice@example.com|alice@example.com> merger")  # as Slack escapes it
    assert slack.calls_to("users.lookupByEmail")
    assert "No one in this Slack workspace has the email" in ask(bot, "grant carl@example.com merger")


def test_without_the_scope_to_read_members_it_says_what_to_type(bot, api, slack):
    slack.scopes = "commands,chat:write,chat:write.public,im:write"
    answer = ask(bot, "grant @bob merger")
    assert "`users:read`" in answer and "member ID" in answer and "pick them" in answer
    assert "Nobody holds a role" in roles_of(bot)


def test_a_member_id_typed_as_is_is_taken(bot, api, slack):
    assert "<@U0ABCDEF12>" in ask(bot, "grant U0ABCDEF12 merger")
    assert not slack.calls_to("users.list")


def test_revoke_takes_a_plain_name_too(bot, api):
    ask(bot, "grant @bob merger")
    assert "revoked merger on every repository from <@U2>" in ask(bot, "revoke @bob merger")


def test_a_word_that_names_nobody_is_refused_with_what_to_type(bot, api):
    answer = text_of(bot.command("grant bob merger", user_id=ADMIN).http.json())  # the grammar answers in the ack
    assert "`@bob`" in answer and "member ID" in answer and "Usage: `/bb grant @user ROLE [REPO]`" in answer


def test_link_takes_a_plain_name(bot, api, slack):
    answer = ask(bot, "link @bob bobby")
    assert "<@U2>" in answer and "bobby" in answer


# --- /bb roles -----------------------------------------------------------------------------------------------


def test_roles_lists_the_admins_and_who_holds_what(bot, api):
    assert "<@UADMIN>" in roles_of(bot) and "Nobody holds a role" in roles_of(bot)
    ask(bot, "grant <@U2> merger")
    ask(bot, "grant <@U2> deployer:staging acme/api")
    ask(bot, "grant <@U1> releaser acme/web")
    everything = roles_of(bot)
    assert "<@U2>: deployer:staging on acme/api; merger on every repository" in everything
    assert "<@U1>: releaser on acme/web" in everything
    on_api = roles_of(bot, "api")
    assert "<@U2>: deployer:staging on acme/api; merger on every repository" in on_api and "<@U1>" not in on_api
    assert "acme/api" in on_api.splitlines()[0]


def test_grant_and_revoke_answers_point_at_roles(bot, api):
    assert "`/bb roles`" in ask(bot, "grant <@U2> merger")
    assert "`/bb roles`" in ask(bot, "grant <@U2> merger")  # already had it
    assert "`/bb roles`" in ask(bot, "revoke <@U2> releaser")  # did not have it


def test_roles_is_in_the_help(bot):
    assert "/bb roles [REPO]" in text_of(bot.command("help").http.json())
