"""Pull request comments (write, edit, delete, read one) and the pull request's diff, which places an inline comment
among the lines around it."""

from __future__ import annotations

from bot.bitbucket.paths import PULL_REQUEST_COMMENT, PULL_REQUEST_COMMENTS, PULL_REQUEST_DIFF
from bot.bitbucket.transport import Transport

DIFF_MAX_BYTES = 2 * 1024 * 1024  # a diff larger than this is read no further (Bitbucket answers 555 for huge ones)


class Comments(Transport):
    """A pull request's comments: `{"content": {"raw": …}}`, optionally a reply (`parent`) or on a line (`inline`)."""

    def create_pull_request_comment(self, ws: str, slug: str, pr_id: int, raw: str, *, parent_id: int | None = None,
                                    inline: dict | None = None) -> dict:
        """Comment on the pull request (201, the comment). Not repeated after a 5xx: it would comment twice."""
        body: dict = {"content": {"raw": raw}}
        if parent_id is not None:
            body["parent"] = {"id": int(parent_id)}
        if inline:
            body["inline"] = dict(inline)
        return self._call("POST", self._pr_url(PULL_REQUEST_COMMENTS, ws, slug, pr_id), json=body, idempotent=False)

    def get_pull_request_comment(self, ws: str, slug: str, pr_id: int, comment_id: int) -> dict:
        return self._call("GET", self._comment_url(ws, slug, pr_id, comment_id))

    def update_pull_request_comment(self, ws: str, slug: str, pr_id: int, comment_id: int, raw: str) -> dict:
        """A comment's new text (200, the comment). Setting the same text twice is harmless, so it is retried."""
        return self._call("PUT", self._comment_url(ws, slug, pr_id, comment_id), json={"content": {"raw": raw}})

    def delete_pull_request_comment(self, ws: str, slug: str, pr_id: int, comment_id: int) -> None:
        self._call("DELETE", self._comment_url(ws, slug, pr_id, comment_id))

    def get_pull_request_diff(self, ws: str, slug: str, pr_id: int, *, max_bytes: int = DIFF_MAX_BYTES) -> str:
        """The pull request's diff as text (a raw git diff). Bitbucket answers 302 to the repository's diff of the two
        commits, which `requests` follows on the same host with our credentials; past `max_bytes`, the rest is cut."""
        response = self._request("GET", self._pr_url(PULL_REQUEST_DIFF, ws, slug, pr_id), headers={"Accept": "text/plain"})
        return response.content[:max_bytes].decode("utf-8", errors="replace")

    def _comment_url(self, ws: str, slug: str, pr_id: int, comment_id: int) -> str:
        return self._url(PULL_REQUEST_COMMENT, workspace=ws, repo_slug=slug, pull_request_id=int(pr_id), comment_id=int(comment_id))
