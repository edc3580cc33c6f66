"""`BitbucketClient`: every resource of Bitbucket Cloud's REST API 2.0 over one `Transport`."""

from __future__ import annotations

from bot.bitbucket.comments import Comments
from bot.bitbucket.deployments import Deployments
from bot.bitbucket.hooks import Hooks
from bot.bitbucket.pipelines import Pipelines
from bot.bitbucket.pull_requests import PullRequests
from bot.bitbucket.refs import Refs
from bot.bitbucket.workspaces import Workspaces


class BitbucketClient(Workspaces, PullRequests, Comments, Refs, Hooks, Pipelines, Deployments):
    """Bitbucket Cloud's REST API 2.0. `ws` is a workspace slug (or `{uuid}`), `slug` a repository slug.

    Calls return Bitbucket's JSON (None for an empty answer); parse it with the models' `from_api`.
    Every resource shares the one `Transport` underneath: one session, one set of credentials, one retry policy.
    """

    def __repr__(self) -> str:
        return f"<BitbucketClient {self.base_url} auth={self.auth!r}>"
