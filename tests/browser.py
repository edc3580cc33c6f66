"""A person's browser, enough of one for the sign-in dances: it follows redirects and keeps cookies.

The bot's pages are addressed at PUBLIC_URL (the HTTPS proxy in front of it); the browser reaches the bot itself
instead, as the proxy would. Cookies are kept per name and sent back to the paths they were set for, whatever
their Secure flag (the proxy ends TLS).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests


class Browser:
    def __init__(self, public_url: str, bot_url: str):
        self.public_url, self.bot_url = public_url.rstrip("/"), bot_url.rstrip("/")
        self.cookies: dict[str, tuple[str, str]] = {}  # name -> (value, path)
        self.visited: list[requests.Response] = []
        self.session = requests.Session()
        self.session.trust_env = False

    def open(self, url: str, *, hops: int = 10, stop_at: str | None = None) -> requests.Response:
        """GET `url` and follow redirects; the last page. `stop_at`: a URL prefix not to follow (its redirect
        is returned, for a test to forward that address to someone else)."""
        for _ in range(hops):
            if stop_at and url.startswith(stop_at):
                return self.visited[-1]
            answer = self.get(url)
            if answer.status_code not in (301, 302, 303, 307) or "Location" not in answer.headers:
                return answer
            url = answer.headers["Location"]
        raise AssertionError(f"more than {hops} redirects")

    def get(self, url: str) -> requests.Response:
        return self.send("GET", url)

    def post(self, url: str, form: dict) -> requests.Response:
        """A form's POST (not followed)."""
        return self.send("POST", url, data=form)

    def send(self, method: str, url: str, **kwargs) -> requests.Response:
        if url.startswith(self.public_url):
            url = self.bot_url + url[len(self.public_url):]
        elif url.startswith("/"):
            url = self.bot_url + url
        path = urlsplit(url).path
        cookie = "; ".join(f"{name}={value}" for name, (value, where) in self.cookies.items() if path.startswith(where) and value)
        answer = self.session.request(method, url, allow_redirects=False, timeout=10, headers={"Cookie": cookie} if cookie else {}, **kwargs)
        for header in answer.raw.headers.getlist("Set-Cookie") if answer.raw is not None else ():
            self._keep(header)
        self.visited.append(answer)
        return answer

    def _keep(self, header: str) -> None:
        first, *attributes = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        path = next((a.split("=", 1)[1] for a in attributes if a.lower().startswith("path=")), "/")
        if any(a.lower() == "max-age=0" for a in attributes) or not value:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = (value, path)

    def close(self) -> None:
        self.session.close()
