"""Small frozen models of what the bot renders, built from Bitbucket's JSON by pure `from_api` constructors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

def parse_timestamp(value: str | None) -> datetime | None:
    """Bitbucket's ISO-8601 timestamps as aware datetimes (a naive one is UTC); None for anything else."""
    if not value or not isinstance(value, str):
        return None
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python 3.10's fromisoformat accepts only 3 or 6 fraction digits.
    value = re.sub(r"\.(\d+)", lambda m: "." + m.group(1)[:6].ljust(6, "0"), value, count=1)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# Payloads come from strangers too (webhooks): what should be text, a number or an object is checked on the way in.


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value) -> Mapping:
    return value if isinstance(value, Mapping) else {}


def _mappings(value) -> list[Mapping]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, (list, tuple)) else []


def _number(value) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 19:
        return int(value)
    return 0


def _dig(data: Mapping | None, *keys: str) -> Any:
    """`data[k1][k2]…`, or None where a level is missing or null."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _texts(data) -> tuple[str, ...]:
    """A list of strings, or () for anything else."""
    return tuple(item for item in data if isinstance(item, str)) if isinstance(data, list) else ()


def _dig_text(data: Mapping | None, *keys: str) -> str | None:
    """`_dig` where the answer must be text: None for anything else."""
    return _text(_dig(data, *keys))


@dataclass(frozen=True)
class Account:
    display_name: str
    nickname: str | None = None
    uuid: str | None = None
    account_id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping) -> "Account":
        data = _mapping(data)
        return cls(
            display_name=_text(data.get("display_name")) or _text(data.get("nickname")) or "unknown user",
            nickname=_text(data.get("nickname")),
            uuid=_text(data.get("uuid")),
            account_id=_text(data.get("account_id")),
        )


def _account_or_none(data: Mapping | None) -> Account | None:
    return Account.from_api(data) if data else None


@dataclass(frozen=True)
class PullRequest:
    id: int
    title: str
    state: str  # OPEN | MERGED | DECLINED | SUPERSEDED
    draft: bool
    author: Account
    source_branch: str | None
    destination_branch: str | None
    repository: str | None  # "workspace/slug" of the destination
    reviewers: tuple[Account, ...]
    approved_by: tuple[Account, ...]
    changes_requested_by: tuple[Account, ...]
    created_on: datetime | None
    updated_on: datetime | None
    url: str | None
    comment_count: int
    merge_commit: str | None
    # What the destination branch allows (Bitbucket says so on the pull request's `destination.branch`); empty when
    # it did not say.
    merge_strategies: tuple[str, ...] = ()
    default_merge_strategy: str | None = None

    @classmethod
    def from_api(cls, data: Mapping) -> "PullRequest":
        participants = _mappings(data.get("participants"))
        return cls(
            id=_number(data.get("id")),
            title=_text(data.get("title")) or "",
            state=_text(data.get("state")) or "",
            draft=data.get("draft") is True,
            author=Account.from_api(data.get("author")),
            source_branch=_dig_text(data, "source", "branch", "name"),
            destination_branch=_dig_text(data, "destination", "branch", "name"),
            repository=_dig_text(data, "destination", "repository", "full_name"),
            reviewers=tuple(Account.from_api(user) for user in _mappings(data.get("reviewers"))),
            approved_by=tuple(
                Account.from_api(p.get("user")) for p in participants if p.get("approved") is True or p.get("state") == "approved"
            ),
            changes_requested_by=tuple(
                Account.from_api(p.get("user")) for p in participants if p.get("state") == "changes_requested"
            ),
            created_on=parse_timestamp(data.get("created_on")),
            updated_on=parse_timestamp(data.get("updated_on")),
            url=_dig_text(data, "links", "html", "href"),
            comment_count=_number(data.get("comment_count")),
            merge_commit=_dig_text(data, "merge_commit", "hash"),
            merge_strategies=_texts(_dig(data, "destination", "branch", "merge_strategies")),
            default_merge_strategy=_dig_text(data, "destination", "branch", "default_merge_strategy"),
        )


@dataclass(frozen=True)
class Page:
    """The first items of a collection, as Bitbucket's JSON objects, and how many there are in all."""

    values: list[dict]
    total: int | None  # Bitbucket's `size`: may exceed len(values) when a limit cut the listing short


PullRequestPage = Page  # the name ARCHITECTURE.md gives the pull request listing


@dataclass(frozen=True)
class Repository:
    full_name: str  # "workspace/slug"
    slug: str
    name: str
    uuid: str | None
    is_private: bool
    main_branch: str | None
    project_key: str | None
    url: str | None

    @property
    def workspace(self) -> str:
        return self.full_name.split("/", 1)[0]

    @classmethod
    def from_api(cls, data: Mapping) -> "Repository":
        full_name = data["full_name"]
        return cls(
            full_name=full_name,
            slug=data.get("slug") or full_name.split("/", 1)[-1],
            name=data.get("name") or full_name,
            uuid=data.get("uuid"),
            is_private=bool(data.get("is_private")),
            main_branch=_dig(data, "mainbranch", "name"),
            project_key=_dig(data, "project", "key"),
            url=_dig(data, "links", "html", "href"),
        )


@dataclass(frozen=True)
class ResolvedRef:
    kind: str  # "branch" | "tag" | "commit"
    name: str
    hash: str


@dataclass(frozen=True)
class Pipeline:
    uuid: str
    build_number: int | None
    state: str | None  # PENDING | IN_PROGRESS | COMPLETED
    stage: str | None  # while IN_PROGRESS: RUNNING | PAUSED
    result: str | None  # once COMPLETED: SUCCESSFUL | FAILED | ERROR | STOPPED | EXPIRED
    ref_type: str | None
    ref_name: str | None
    commit: str | None
    pattern: str | None  # the selector pattern, e.g. a custom pipeline's name
    creator: Account | None
    created_on: datetime | None
    completed_on: datetime | None
    url: str | None
    trigger: str | None = None  # PUSH | MANUAL | SCHEDULE | …
    selector_type: str | None = None  # default | branches | tags | custom | pull-requests
    build_seconds: int | None = None
    target: Mapping | None = None  # the target as Bitbucket gave it: what a re-run runs again

    @classmethod
    def from_api(cls, data: Mapping) -> "Pipeline":
        build_number = data.get("build_number")
        repository_url = _dig(data, "repository", "links", "html", "href")
        return cls(
            uuid=data["uuid"],
            build_number=build_number,
            state=_dig(data, "state", "name"),
            stage=_dig(data, "state", "stage", "name"),
            result=_dig(data, "state", "result", "name"),
            ref_type=_dig(data, "target", "ref_type"),
            ref_name=_dig(data, "target", "ref_name"),
            commit=_dig(data, "target", "commit", "hash"),
            pattern=_dig(data, "target", "selector", "pattern"),
            creator=_account_or_none(data.get("creator")),
            created_on=parse_timestamp(data.get("created_on")),
            completed_on=parse_timestamp(data.get("completed_on")),
            # The API has no link to the result page; this is the address Bitbucket's web UI uses.
            url=f"{repository_url}/pipelines/results/{build_number}" if repository_url and build_number else None,
            trigger=_dig(data, "trigger", "name"),
            selector_type=_dig(data, "target", "selector", "type"),
            build_seconds=data.get("build_seconds_used"),
            target=data.get("target") if isinstance(data.get("target"), Mapping) else None,
        )


@dataclass(frozen=True)
class PipelineStep:
    uuid: str
    name: str | None
    state: str | None  # PENDING | READY | IN_PROGRESS | COMPLETED
    result: str | None  # once COMPLETED: SUCCESSFUL | FAILED | ERROR | STOPPED | NOT_RUN | EXPIRED

    @classmethod
    def from_api(cls, data: Mapping) -> "PipelineStep":
        return cls(uuid=data["uuid"], name=data.get("name"), state=_dig(data, "state", "name"),
                   result=_dig(data, "state", "result", "name"))


@dataclass(frozen=True)
class CommitStatus:
    key: str
    name: str
    state: str  # SUCCESSFUL | FAILED | INPROGRESS | STOPPED
    url: str | None
    refname: str | None
    commit: str | None
    updated_on: datetime | None

    @classmethod
    def from_api(cls, data: Mapping) -> "CommitStatus":
        return cls(
            key=str(data.get("key") or ""), name=data.get("name") or str(data.get("key") or "build"),
            state=data.get("state") or "", url=data.get("url"), refname=data.get("refname"),
            commit=_dig(data, "commit", "hash"), updated_on=parse_timestamp(data.get("updated_on") or data.get("created_on")),
        )


@dataclass(frozen=True)
class Environment:
    uuid: str
    name: str
    environment_type: str | None  # Test | Staging | Production
    rank: int | None

    @classmethod
    def from_api(cls, data: Mapping) -> "Environment":
        return cls(
            uuid=data["uuid"],
            name=data.get("name") or "",
            environment_type=_dig(data, "environment_type", "name"),
            rank=_dig(data, "environment_type", "rank"),
        )


@dataclass(frozen=True)
class Deployment:
    uuid: str
    environment_uuid: str | None
    state: str | None  # UNDEPLOYED | IN_PROGRESS | COMPLETED
    status: str | None  # once COMPLETED: SUCCESSFUL | FAILED | STOPPED
    release_name: str | None
    commit: str | None
    pipeline_url: str | None
    deployer: Account | None
    started_on: datetime | None
    completed_on: datetime | None
    url: str | None

    @classmethod
    def from_api(cls, data: Mapping) -> "Deployment":
        state = data.get("state") or {}
        return cls(
            uuid=data["uuid"],
            environment_uuid=_dig(data, "environment", "uuid"),
            state=state.get("name"),
            status=_dig(state, "status", "name"),
            release_name=_dig(data, "release", "name"),
            commit=_dig(data, "release", "commit", "hash"),
            pipeline_url=_dig(data, "release", "url"),
            deployer=_account_or_none(state.get("deployer")),
            started_on=parse_timestamp(state.get("start_date")),
            completed_on=parse_timestamp(state.get("completion_date")),
            url=state.get("url"),
        )
