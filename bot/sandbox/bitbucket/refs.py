"""The simulated Bitbucket's commits, branches and tags: seeding (`add_branch`, `add_commit`, `add_tag`),
resolving a revision (a branch, a tag, a hash or a prefix of one), their JSON, and `…/refs/branches`,
`…/refs/tags` (listing, reading, creating tags), `…/commit/{revision}` and `…/commits?include=…&exclude=…` (the
commits reachable from the included revisions and not from the excluded ones, newest first, like `git log`)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from bot.sandbox.bitbucket.query import _filtered, _sorted
from bot.sandbox.bitbucket.records import _Commit, _Repository, _Tag, _User
from bot.sandbox.bitbucket.wire import (
    WEB_ROOT,
    _bad_request,
    _Call,
    _field_error,
    _iso,
    _link,
    _not_found,
    _rendered,
    _Response,
    quote_ref,
)


class RefsMixin:
    """Needs `_lock`, `_repository`, `_repo_for`, `_repo_api`, `_repository_stub`, `_user`, `_user_json`, `_page`
    and `clock`."""

    def add_branch(self, workspace, slug, name, *, commit=None, message=None, author=None, files=()) -> str:
        """Create (or move) a branch. Without `commit` it gets a new commit (changing `files`) on top of the main branch."""
        with self._lock:
            repo = self._repository(workspace, slug)
            if commit is None:
                author_user = self._user(author) if author is not None else None
                parent = repo.branches[repo.main_branch]
                commit_hash = self._new_commit(repo, message or f"Work on {name}", [parent], author_user, files=files)
            else:
                commit_hash = self._resolve_or_fail(repo, commit)
            repo.branches[name] = commit_hash
            return commit_hash

    def add_commit(self, workspace, slug, branch, *, message="More work", author=None, date=None, files=()) -> str:
        """A push: one new commit on top of `branch`, dated `date` (default: now), changing `files` (paths)."""
        with self._lock:
            repo = self._repository(workspace, slug)
            author_user = self._user(author) if author is not None else None
            repo.branches[branch] = self._new_commit(repo, message, [repo.branches[branch]], author_user, date=date, files=files)
            return repo.branches[branch]

    def add_tag(self, workspace, slug, name, *, commit=None, message=None, tagger=None, date=None) -> str:
        """A tag on `commit` (a hash or ref; default: the main branch head). A `message` makes it annotated."""
        with self._lock:
            repo = self._repository(workspace, slug)
            commit_hash = self._resolve_or_fail(repo, commit or repo.main_branch)
            tag = _Tag(name, commit_hash)
            if message is not None:
                tag.message = message
                tag.date = date or self.clock()
                tag.tagger = self._user(tagger) if tagger is not None else None
            repo.tags[name] = tag
            return commit_hash

    def branches(self, workspace, slug) -> dict[str, str]:
        with self._lock:
            return dict(self._repository(workspace, slug).branches)

    def tags(self, workspace, slug) -> list[dict]:
        with self._lock:
            repo = self._repository(workspace, slug)
            return [self._tag_json(repo, tag) for tag in sorted(repo.tags.values(), key=lambda tag: tag.name)]

    def _new_commit(self, repo, message, parents, author: _User | None = None, *, date: datetime | None = None, files=()) -> str:
        self._hash_sequence += 1  # hashes are deterministic, so seeded data looks the same every run
        commit_hash = hashlib.sha1(f"fake-bitbucket:{self._hash_sequence}:{message}".encode()).hexdigest()
        repo.commits[commit_hash] = _Commit(commit_hash, message, date or self.clock(), author, list(parents), tuple(files))
        return commit_hash

    def _resolve_commit(self, repo: _Repository, revision: str) -> str | None:
        """A branch, a tag, a full hash, or an unambiguous prefix of at least 7 hex digits."""
        if revision in repo.branches:
            return repo.branches[revision]
        if revision in repo.tags:
            return repo.tags[revision].hash
        if revision in repo.commits:
            return revision
        if re.fullmatch(r"[0-9a-f]{7,40}", revision):
            found = [commit_hash for commit_hash in repo.commits if commit_hash.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None

    def _resolve_or_fail(self, repo: _Repository, revision: str) -> str:
        commit_hash = self._resolve_commit(repo, revision)
        if commit_hash is None:
            raise KeyError(f"no commit {revision!r} in {repo.full_name}")
        return commit_hash

    def _is_ancestor(self, repo: _Repository, ancestor: str, descendant: str) -> bool:
        seen, pending = set(), [descendant]
        while pending:
            current = pending.pop()
            if current == ancestor:
                return True
            if current in seen or current not in repo.commits:
                continue
            seen.add(current)
            pending.extend(repo.commits[current].parents)
        return False

    def _commit_stub(self, repo: _Repository, commit_hash: str) -> dict:
        """How pull requests refer to commits: twelve hex digits."""
        short = commit_hash[:12]
        return {
            "hash": short,
            "type": "commit",
            "links": {
                "self": _link(f"{self._repo_api(repo)}/commit/{short}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{short}"),
            },
        }

    def _author_json(self, user: _User | None) -> dict:
        if user is None:
            return {"type": "author", "raw": "Sandbox CI <ci@example.com>"}
        return {
            "type": "author",
            "raw": f"{user.display_name} <{user.nickname}@example.com>",
            "user": self._user_json(user),
        }

    def _commit_json(self, repo: _Repository, commit: _Commit) -> dict:
        api = f"{self._repo_api(repo)}/commit/{commit.hash}"
        return {
            "type": "commit",
            "hash": commit.hash,
            "date": _iso(commit.date),
            "author": self._author_json(commit.author),
            "message": commit.message,
            "summary": _rendered(commit.message),
            "links": {
                "self": _link(api),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{commit.hash}"),
                "diff": _link(f"{self._repo_api(repo)}/diff/{commit.hash}"),
                "patch": _link(f"{self._repo_api(repo)}/patch/{commit.hash}"),
                "comments": _link(f"{api}/comments"),
                "approve": _link(f"{api}/approve"),
                "statuses": _link(f"{api}/statuses"),
            },
            "parents": [
                {
                    "hash": parent,
                    "type": "commit",
                    "links": {
                        "self": _link(f"{self._repo_api(repo)}/commit/{parent}"),
                        "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/{parent}"),
                    },
                }
                for parent in commit.parents
            ],
            "repository": self._repository_stub(repo),
        }

    def _branch_json(self, repo: _Repository, name: str) -> dict:
        return {
            "type": "branch",
            "name": name,
            "target": self._commit_json(repo, repo.commits[repo.branches[name]]),
            "links": {
                "self": _link(f"{self._repo_api(repo)}/refs/branches/{quote_ref(name)}"),
                "commits": _link(f"{self._repo_api(repo)}/commits/{quote_ref(name)}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/branch/{quote_ref(name)}"),
            },
            "merge_strategies": list(repo.merge_strategies),
            "default_merge_strategy": repo.default_merge_strategy,
        }

    def _tag_json(self, repo: _Repository, tag: _Tag) -> dict:
        return {
            "type": "tag",
            "name": tag.name,
            "target": self._commit_json(repo, repo.commits[tag.hash]),
            "message": tag.message,
            "date": _iso(tag.date),
            "tagger": self._author_json(tag.tagger) if tag.message is not None else None,
            "links": {
                "self": _link(f"{self._repo_api(repo)}/refs/tags/{quote_ref(tag.name)}"),
                "commits": _link(f"{self._repo_api(repo)}/commits/{quote_ref(tag.name)}"),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}/commits/tag/{quote_ref(tag.name)}"),
            },
        }

    def _list_branches(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._branch_json(repo, name) for name in sorted(repo.branches)]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort"))
        return _Response(200, self._page(call, items))

    def _get_branch(self, call: _Call) -> _Response:
        repo, name = self._repo_for(call), call.params["name"]
        if name not in repo.branches:
            raise _not_found(f'Branch "{name}" not found', data={"key": "BRANCH_NOT_FOUND"})
        return _Response(200, self._branch_json(repo, name))

    def _create_branch(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
        name = body.get("name")
        if not name:
            raise _field_error("name", "This field is required.")
        if name.startswith("refs/") or not _valid_ref_name(name):
            raise _field_error("name", f'"{name}" is not a valid branch name.')
        wanted = (body.get("target") or {}).get("hash")
        if not wanted:
            raise _field_error("target", "This field is required.")
        if name in repo.branches:
            raise _bad_request(f'Branch "{name}" already exists.', data={"key": "BRANCH_ALREADY_EXISTS"})
        found = [h for h in repo.commits if h.startswith(wanted)] if re.fullmatch(r"[0-9a-f]{7,40}", wanted) else []
        if len(found) != 1:  # a hash (Bitbucket takes a prefix, but may refuse an ambiguous one), not a ref name
            raise _field_error("target", f"Commit {wanted} not found." if not found else f"{wanted} is ambiguous.")
        repo.branches[name] = found[0]
        created = self._branch_json(repo, name)
        self._tell(repo, "repo:push", call.caller, push={"changes": [self._branch_change(repo, name, new=created, old=None)]})
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _delete_branch(self, call: _Call) -> _Response:
        repo, name = self._repo_for(call), call.params["name"]
        if name not in repo.branches:
            raise _not_found(f'Branch "{name}" not found', data={"key": "BRANCH_NOT_FOUND"})
        self._check_deletable(repo, name)  # restrictions.py: the main branch, a `delete` restriction
        old = self._branch_json(repo, name)
        del repo.branches[name]
        self._tell(repo, "repo:push", call.caller, push={"changes": [self._branch_change(repo, name, new=None, old=old)]})
        return _Response(204)

    def _branch_change(self, repo: _Repository, name: str, *, new: dict | None, old: dict | None) -> dict:
        """One change of a `repo:push`: a branch created (`old` None) or deleted (`new` None)."""
        return {"new": new, "old": old, "created": old is None, "closed": new is None, "forced": False, "truncated": False,
                "commits": [], "links": {"html": _link(f"{WEB_ROOT}/{repo.full_name}/branch/{quote_ref(name)}")}}


    def _list_tags(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        items = [self._tag_json(repo, repo.tags[name]) for name in sorted(repo.tags)]
        items = _sorted(_filtered(items, call.arg("q")), call.arg("sort"))
        return _Response(200, self._page(call, items))

    def _get_tag(self, call: _Call) -> _Response:
        repo, name = self._repo_for(call), call.params["name"]
        if name not in repo.tags:
            raise _not_found(f'Tag "{name}" not found', data={"key": "TAG_NOT_FOUND"})
        return _Response(200, self._tag_json(repo, repo.tags[name]))

    def _create_tag(self, call: _Call) -> _Response:
        repo, body = self._repo_for(call), call.body_object()
        name = body.get("name")
        if not name:
            raise _field_error("name", "This field is required.")
        if not _valid_ref_name(name):
            raise _field_error("name", f'"{name}" is not a valid tag name.')
        wanted_hash = (body.get("target") or {}).get("hash")
        if not wanted_hash:
            raise _field_error("target", "This field is required.")
        if name in repo.tags:
            raise _bad_request(f'Tag "{name}" already exists.', data={"key": "TAG_ALREADY_EXISTS"})
        is_hash = re.fullmatch(r"[0-9a-f]{7,40}", wanted_hash)  # a hash, not a branch or tag name
        commit_hash = self._resolve_commit(repo, wanted_hash) if is_hash else None
        if commit_hash is None:
            raise _field_error("target", f"Commit {wanted_hash} not found.")
        tag = _Tag(name, commit_hash)
        if body.get("message"):
            tag.message, tag.date, tag.tagger = body["message"], self.clock(), call.caller
        repo.tags[name] = tag
        created = self._tag_json(repo, tag)
        return _Response(201, created, {"Location": created["links"]["self"]["href"]})

    def _get_commit(self, call: _Call) -> _Response:
        repo = self._repo_for(call)
        commit_hash = self._resolve_commit(repo, call.params["rev"])
        if commit_hash is None:
            raise _not_found("Commit not found", detail=f"No commit matches '{call.params['rev']}'.")
        return _Response(200, self._commit_json(repo, repo.commits[commit_hash]))

def _valid_ref_name(name: str) -> bool:
    """Git's rules for ref names, roughly."""
    return not (
        re.search(r"[\s~^:?*\[\\]|\.\.|@\{|//", name)
        or name.startswith(("/", "-", "."))
        or name.endswith(("/", ".", ".lock"))
    )
