"""The simulated Bitbucket's repositories: seeding (`add_repository`), lookups by slug or UUID, their JSON,
and `GET /repositories/{workspace}` and `…/{repo_slug}`."""

from __future__ import annotations

import uuid as uuidlib
from urllib.parse import quote

from bot.sandbox.bitbucket.query import _filtered, _sorted
from bot.sandbox.bitbucket.records import DEFAULT_MERGE_STRATEGIES, _PipelineScript, _Repository
from bot.sandbox.bitbucket.wire import WEB_ROOT, _braced_uuid, _Call, _iso, _link, _not_found, _Response, _same_uuid


class RepositoriesMixin:
    """Needs `_lock`, `_workspace_or_new`, `_workspace_for`, `_new_commit`, `_advance_pipelines_by_clock`, `_api_root`,
    `_page` and `clock`."""

    def add_repository(
        self,
        workspace: str,
        slug: str,
        *,
        main_branch: str = "main",
        branches: tuple[str, ...] | list[str] = ("main",),
        private: bool = True,
        merge_strategies: tuple[str, ...] | list[str] = DEFAULT_MERGE_STRATEGIES,
        default_merge_strategy: str | None = None,
        name: str | None = None,
    ) -> dict:
        """A repository with an initial commit on its main branch, a default pipeline, and the named branches."""
        with self._lock:
            if (workspace, slug) in self._repositories:
                raise ValueError(f"repository {workspace}/{slug} already exists")
            repo = _Repository(
                workspace=self._workspace_or_new(workspace),
                slug=slug,
                name=name or slug,
                uuid=_braced_uuid(),
                is_private=private,
                main_branch=main_branch,
                merge_strategies=list(merge_strategies),
                default_merge_strategy=default_merge_strategy or list(merge_strategies)[0],
                created_on=self.clock(),
            )
            self._repositories[(workspace, slug)] = repo
            repo.branches[main_branch] = self._new_commit(repo, "Initial commit", parents=[])
            repo.pipeline_scripts[None] = _PipelineScript("SUCCESSFUL", 3.0, None)
            for branch in branches:
                if branch not in repo.branches:
                    repo.branches[branch] = self._new_commit(repo, f"Work on {branch}", [repo.branches[main_branch]])
            return self._repository_json(repo)

    def _repository(self, workspace: str, slug: str) -> _Repository:
        try:
            return self._repositories[(workspace, slug)]
        except KeyError:
            raise KeyError(f"no repository {workspace}/{slug}") from None

    def _repo_for(self, call: _Call) -> _Repository:
        ws, slug = call.params["ws"], call.params["slug"]
        for repo in self._repositories.values():
            if (repo.workspace.slug == ws or _same_uuid(repo.workspace.uuid, ws)) and (
                repo.slug == slug or _same_uuid(repo.uuid, slug)
            ):
                self._advance_pipelines_by_clock(repo)
                return repo
        raise _not_found(f"Repository {ws}/{slug} not found")

    def _repo_api(self, repo: _Repository) -> str:
        return f"{self._api_root}/repositories/{repo.full_name}"

    def _repository_stub(self, repo: _Repository) -> dict:
        return {
            "type": "repository",
            "full_name": repo.full_name,
            "links": {
                "self": _link(self._repo_api(repo)),
                "html": _link(f"{WEB_ROOT}/{repo.full_name}"),
                "avatar": _link(f"https://bytebucket.org/ravatar/{quote(repo.uuid)}?ts=default"),
            },
            "name": repo.name,
            "uuid": repo.uuid,
        }

    def _repository_json(self, repo: _Repository) -> dict:
        api, workspace = self._repo_api(repo), repo.workspace
        body = self._repository_stub(repo)
        body["links"].update(
            {
                "pullrequests": _link(f"{api}/pullrequests"),
                "commits": _link(f"{api}/commits"),
                "forks": _link(f"{api}/forks"),
                "watchers": _link(f"{api}/watchers"),
                "branches": _link(f"{api}/refs/branches"),
                "tags": _link(f"{api}/refs/tags"),
                "downloads": _link(f"{api}/downloads"),
                "source": _link(f"{api}/src"),
                "hooks": _link(f"{api}/hooks"),
                "clone": [
                    {"name": "https", "href": f"https://bitbucket.org/{repo.full_name}.git"},
                    {"name": "ssh", "href": f"git@bitbucket.org:{repo.full_name}.git"},
                ],
            }
        )
        body.update(
            {
                "slug": repo.slug,
                "description": "",
                "scm": "git",
                "website": None,
                "is_private": repo.is_private,
                "fork_policy": "no_public_forks" if repo.is_private else "allow_forks",
                "language": "",
                "size": 4096 * len(repo.commits),
                "has_issues": False,
                "has_wiki": False,
                "created_on": _iso(repo.created_on),
                "updated_on": _iso(max(c.date for c in repo.commits.values())),
                "mainbranch": {"type": "branch", "name": repo.main_branch},
                "workspace": {
                    "type": "workspace",
                    "uuid": workspace.uuid,
                    "name": workspace.name,
                    "slug": workspace.slug,
                    "links": {
                        "self": _link(f"{self._api_root}/workspaces/{workspace.slug}"),
                        "html": _link(f"{WEB_ROOT}/{workspace.slug}/"),
                        "avatar": _link(f"{WEB_ROOT}/workspaces/{workspace.slug}/avatar/?ts=1"),
                    },
                },
                "project": {
                    "type": "project",
                    "key": "PROJ",
                    "uuid": "{%s}" % uuidlib.uuid5(uuidlib.NAMESPACE_URL, workspace.uuid),
                    "name": "Main",
                },
                "override_settings": {"default_merge_strategy": False, "branching_model": False},
                "parent": None,
                "enforced_signed_commits": None,
            }
        )
        return body

    def _list_repositories(self, call: _Call) -> _Response:
        workspace = self._workspace_for(call)
        repos = [self._repository_json(r) for r in self._repositories.values() if r.workspace is workspace]
        repos = _sorted(_filtered(repos, call.arg("q")), call.arg("sort") or "slug")
        return _Response(200, self._page(call, repos))

    def _get_repository(self, call: _Call) -> _Response:
        return _Response(200, self._repository_json(self._repo_for(call)))
