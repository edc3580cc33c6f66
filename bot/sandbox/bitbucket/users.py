"""The simulated Bitbucket's people and workspaces: users (people, and the app users behind access tokens),
workspaces and their members, `GET /user` and `GET /workspaces/{workspace}`."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any
from urllib.parse import quote

from bot.sandbox.bitbucket.query import _filtered
from bot.sandbox.bitbucket.records import _User, _Workspace
from bot.sandbox.bitbucket.wire import WEB_ROOT, _braced_uuid, _Call, _iso, _link, _not_found, _Response, _same_uuid


class UsersMixin:
    """Needs `_lock`, `_users`, `_workspaces`, `_api_root`, `_page` and `clock`."""

    def add_user(self, nickname: str, display_name: str | None = None) -> dict:
        with self._lock:
            if nickname in self._users:
                raise ValueError(f"user {nickname!r} already exists")
            return self._user_json(self._new_user(nickname, display_name or nickname.title()))

    def add_workspace(self, slug: str, name: str | None = None) -> dict:
        with self._lock:
            return self._workspace_json(self._workspace_or_new(slug, name))

    def user(self, nickname: str) -> dict:
        with self._lock:
            return self._user_json(self._users[nickname])

    def _new_user(self, nickname: str, display_name: str, kind: str = "user") -> _User:
        user = _User(nickname, display_name, _braced_uuid(), f"557058:{uuidlib.uuid4()}", self.clock(), kind)
        self._users[nickname] = user
        return user

    def _user(self, ref: Any) -> _User:
        """A user from a nickname or a user dict (as returned by `add_user`); unknown nicknames are created."""
        if isinstance(ref, _User):
            return ref
        if isinstance(ref, dict):
            for user in self._users.values():
                if ref.get("uuid") == user.uuid or ref.get("nickname") == user.nickname:
                    return user
            raise KeyError(f"unknown user {ref!r}")
        return self._users.get(ref) or self._new_user(ref, ref.title())

    def _first_user(self) -> _User:
        people = [user for user in self._users.values() if user.type == "user"]
        return people[0] if people else self._new_user("sandbox-user", "Sandbox User")

    def _workspace_or_new(self, slug: str, name: str | None = None) -> _Workspace:
        if slug not in self._workspaces:
            self._workspaces[slug] = _Workspace(slug, _braced_uuid(), name or slug.title(), self.clock())
        return self._workspaces[slug]

    def _user_json(self, user: _User, *, full: bool = False) -> dict:
        braced = quote(user.uuid)
        initials = "".join(word[0] for word in user.display_name.split()[:2]).upper() or "U"
        body = {
            "display_name": user.display_name,
            "links": {
                "self": _link(f"{self._api_root}/users/{braced}"),
                "avatar": _link(
                    "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/"
                    f"{initials}-0.png"
                ),
                "html": _link(f"{WEB_ROOT}/{braced}/"),
            },
            "type": user.type,
            "uuid": user.uuid,
            "account_id": user.account_id,
            "nickname": user.nickname,
        }
        if full:
            body.update(
                {
                    "created_on": _iso(user.created_on),
                    "is_staff": False,
                    "account_status": "active",
                    "has_2fa_enabled": None,
                    "location": None,
                    "username": user.nickname,
                }
            )
        return body

    def _workspace_json(self, workspace: _Workspace) -> dict:
        api = f"{self._api_root}/workspaces/{workspace.slug}"
        return {
            "type": "workspace",
            "uuid": workspace.uuid,
            "name": workspace.name,
            "slug": workspace.slug,
            "is_private": True,
            "created_on": _iso(workspace.created_on),
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{workspace.slug}/"),
                "avatar": _link(f"{WEB_ROOT}/workspaces/{workspace.slug}/avatar/?ts=1"),
                "members": _link(f"{api}/members"),
                "owners": _link(f"{api}/members?q=permission%3D%22owner%22"),
                "hooks": _link(f"{api}/hooks"),
                "projects": _link(f"{api}/projects"),
                "repositories": _link(f"{self._api_root}/repositories/{workspace.slug}"),
                "snippets": _link(f"{self._api_root}/snippets/{workspace.slug}"),
            },
        }

    def _workspace_for(self, call: _Call) -> _Workspace:
        wanted = call.params["ws"]
        for workspace in self._workspaces.values():
            if workspace.slug == wanted or _same_uuid(workspace.uuid, wanted):
                return workspace
        raise _not_found(f"No workspace with identifier '{wanted}'.")

    def _get_current_user(self, call: _Call) -> _Response:
        return _Response(200, self._user_json(call.caller, full=True))

    def _get_workspace(self, call: _Call) -> _Response:
        return _Response(200, self._workspace_json(self._workspace_for(call)))

    def _list_workspace_members(self, call: _Call) -> _Response:
        workspace = self._workspace_for(call)
        members = [
            {
                "type": "workspace_membership",
                "user": self._user_json(user),
                "workspace": {
                    "type": "workspace",
                    "uuid": workspace.uuid,
                    "slug": workspace.slug,
                    "name": workspace.name,
                },
                "links": {"self": _link(f"{self._api_root}/workspaces/{workspace.slug}/members/{quote(user.uuid)}")},
            }
            for user in self._users.values()
            if user.type == "user"
        ]
        return _Response(200, self._page(call, _filtered(members, call.arg("q"))))
