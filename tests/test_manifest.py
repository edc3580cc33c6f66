"""bot/core/manifest.py: which scopes the Slack app's manifest declares, read from its YAML (or JSON) without running it."""

import json

import pytest

from bot.core import manifest

SMALL = """\
# a comment
_metadata:
  major_version: 1
display_information:
  name: "Bitbucket: ChatOps"   # quoted, with a colon
  background_color: "#0052cc"
features:
  slash_commands:
    - command: /bb
      url: https://chatops.example.com/slack/events
      should_escape: true
oauth_config:
  redirect_urls:
  - https://chatops.example.com/slack/oidc/callback
  scopes:
    bot:
      - commands
      - chat:write   # post
    user: [openid, email]
settings:
  org_deploy_enabled: false
  event_subscriptions: {}
"""


def test_the_reader_takes_a_manifests_plain_yaml():
    parsed = manifest.parse(SMALL)
    assert parsed == {
        "_metadata": {"major_version": 1},
        "display_information": {"name": "Bitbucket: ChatOps", "background_color": "#0052cc"},
        "features": {"slash_commands": [{"command": "/bb", "url": "https://chatops.example.com/slack/events", "should_escape": True}]},
        "oauth_config": {
            "redirect_urls": ["https://chatops.example.com/slack/oidc/callback"],
            "scopes": {"bot": ["commands", "chat:write"], "user": ["openid", "email"]},
        },
        "settings": {"org_deploy_enabled": False, "event_subscriptions": {}},
    }
    assert manifest.parse(json.dumps(parsed)) == parsed  # Slack takes JSON manifests too


def test_declared_and_missing_scopes():
    parsed = manifest.parse(SMALL)
    assert manifest.declared_scopes(parsed) == {"bot": frozenset({"commands", "chat:write"}), "user": frozenset({"openid", "email"})}
    assert manifest.bot_scopes(parsed) == {"commands", "chat:write"} and manifest.user_scopes(parsed) == {"openid", "email"}
    assert manifest.missing_scopes(parsed, {"bot": ["chat:write"], "user": ["openid"]}) == {}
    assert manifest.missing_scopes(parsed, {"bot": ["reactions:write", "commands", "channels:read"], "user": "profile"}) == {
        "bot": ["channels:read", "reactions:write"], "user": ["profile"]}
    with pytest.raises(ValueError):
        manifest.missing_scopes(parsed, {"app": ["connections:write"]})
    # A manifest without scopes declares none; nothing needed is nothing missing.
    assert manifest.declared_scopes({}) == {"bot": frozenset(), "user": frozenset()}
    assert manifest.missing_scopes({"oauth_config": {"scopes": {"bot": ["commands"]}}}, {"user": ["openid"]}) == {"user": ["openid"]}
    assert manifest.missing_scopes({}, {}) == {}


def test_the_repositorys_manifest_declares_what_the_bot_uses():
    declared = manifest.declared_scopes(manifest.load())
    assert {"commands", "chat:write", "files:write", "im:write", "links:read", "links:write"} <= declared["bot"]
    assert declared["user"] == {"openid"}  # Sign in with Slack, and nothing more of a person's


@pytest.mark.parametrize("text", [
    "a: &anchor 1\nb: *anchor\n",  # anchors and aliases
    "a: |\n  multi\n  line\n",  # block scalars
    "a:\n\t- b\n",  # tabs
    "a: 1\na: 2\n",  # a key twice
    "a: 1\n   b: 2\n",  # stray indentation
    "- a\n- b\n",  # not a mapping at the top
    'a: "unterminated\n',
    "a: {b: 1}\n",  # flow mappings
])
def test_the_reader_refuses_what_it_does_not_know(text):
    with pytest.raises(manifest.ManifestError):
        manifest.parse(text)
