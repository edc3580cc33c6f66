"""A simulated Bitbucket Cloud REST API 2.0 server, for the sandbox and for end-to-end tests.

`FakeBitbucket` is a real HTTP server on 127.0.0.1 (an ephemeral port, one thread per connection) that keeps
its state in memory and answers in the shapes Bitbucket Cloud documents and really sends: paginated envelopes
with opaque `next` links, `{"type": "error", "error": {...}}` bodies, users with `uuid`/`account_id`/`nickname`,
twelve-character commit hashes inside pull requests, ISO-8601 dates with `+00:00`, and the product's quirks:

* the pull-request list leaves out `reviewers` and `participants` unless `fields` asks for them;
* `pagelen` above 50 on pull requests (100 elsewhere) is refused with 400 "Invalid pagelen", never clamped;
* the pipelines, environments and deployments collections need their trailing slash;
* merges may answer 202 with a `Location` to poll;
* a 429 is plain text without `Retry-After` (through `fail_next`).

Tests seed it (`add_user`, `add_repository`, `add_pull_request`, `add_review`, `add_comment`, ...), point our real
client at `base_url`, then read what was asked of it (`requests`, `requests_to`) and what it now holds
(`pull_request`, `webhooks`, ...). They can inject failures (`fail_next`), latency (`latency`), asynchronous merges
(`merge_mode`) and drive pipelines by hand (`advance_pipeline`) or seed past ones (`add_pipeline`). The sandbox
seeds it with `demo_workspace` and lets pipelines run on their own (`auto_advance_pipelines`).

Standard library only. One module per resource, each a mixin of `FakeBitbucket` (`server.py`):

| module | what |
|---|---|
| `server` | `FakeBitbucket`: lifecycle, request recording, `fail_next`, routing, authentication, paging |
| `transport` | HTTP: the threading server and its handler; nothing printed, failures answered as 500s |
| `wire` | a call (`_Call`), its answer (`_Response`), Bitbucket's error bodies (`_ApiError`), shared helpers |
| `records` | the data it holds (users, repositories, pull requests, pipelines, ...) and `RecordedRequest` |
| `query` | `fields`, `q` (BBQL) and `sort` |
| `routes` | which handler answers which method and path |
| `auth` | bearer and Basic credentials, OAuth 2.0 consumers and grants |
| `users` | users, workspaces and their members |
| `repositories` | repositories |
| `refs` | commits, branches and tags |
| `pull_requests` | pull requests, merges and reviews |
| `comments` | pull request comments (who wrote which), their webhooks, and pull request diffs |
| `activity` | the repository-wide pull request activity log |
| `webhooks` | webhooks of a repository and of a workspace (`…/hooks`) |
| `diffstat` | the files a commit, a range or a pull request changes (`…/diffstat/{spec}`, `…/pullrequests/{id}/diffstat`) |
| `pipelines` | pipelines and how they run |
| `builds` | pipeline steps and logs, commit statuses |
| `deployments` | environments and deployments |
| `demo` | the sandbox's demo workspace (`demo_workspace`) |
"""

from __future__ import annotations

from bot.sandbox.bitbucket.demo import demo_workspace
from bot.sandbox.bitbucket.records import RecordedRequest
from bot.sandbox.bitbucket.server import FakeBitbucket
from bot.sandbox.bitbucket.wire import PUBLIC_API_ROOT, WEB_ROOT

__all__ = ["FakeBitbucket", "RecordedRequest", "demo_workspace", "WEB_ROOT", "PUBLIC_API_ROOT"]
