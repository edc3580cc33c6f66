"""The dashboard's pages: overview, inventory, audit, deliveries, environments; their CSV downloads; the admins'
retry and forget of failed deliveries. Every page is for signed-in members (`access.members_only`); an unknown
repository is a 404, never an empty page."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for

from bot import relay
from bot.core.audit import AuditFilter
from bot.dashboard import access, data, tables
from bot.dashboard.tables import PAGE_SIZE

DELIVERY_PAGE_SIZE = 100


def _services():
    return access.services()


def _known(repo_text: str | None) -> str:
    """The repository a path or filter names, known to the bot; a 404 otherwise."""
    repo = tables.repository(repo_text)
    if repo is None or repo not in data.known_repositories(_services().store, _services().timestamp()):
        abort(404, f"The bot knows no repository {repo_text!r}.")
    return repo


def _filter_repo() -> str | None:
    text = (request.args.get("repo") or "").strip()
    return _known(text) if text else None


def _csv(name: str, text: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})


@access.members_only
def overview():
    services = _services()
    repos = data.subscribed_repositories(services.store)
    figures = [data.figures_of(services, repo, services.clock()) for repo in repos]
    return render_template("overview.html", figures=figures, one=False)


@access.members_only
def repository(workspace: str, slug: str):
    services = _services()
    repo = _known(f"{workspace}/{slug}")
    return render_template("overview.html", figures=[data.figures_of(services, repo, services.clock())], one=True, repo=repo)


@access.members_only
def inventory():
    services = _services()
    repo = _filter_repo()
    return render_template("inventory.html", rows=data.inventory(services, services.clock(), repo), repo=repo or "")


@access.members_only
def inventory_csv():
    services = _services()
    rows = data.inventory(services, services.clock(), _filter_repo())
    return _csv("inventory.csv", tables.to_csv(data.INVENTORY_HEADER, (
        (row.kind, row.repo, row.channel, row.details, row.next_run, row.problem) for row in rows)))


def _audit_query() -> tuple[AuditFilter, dict]:
    where, shown = tables.audit_filter(request.args)
    if where.repo and tables.repository(where.repo) is None:
        abort(404, f"{where.repo!r} is not a repository name (workspace/slug).")
    audit = _services().audit
    if where.repo and where.repo not in data.known_repositories(_services().store, _services().timestamp()) and not audit.count(where):
        abort(404, f"The bot knows no repository {where.repo!r}.")
    return where, shown


AUDIT_HEADER = ("when", "who", "action", "target", "ok", "result", "detail")


@access.members_only
def audit():
    where, shown = _audit_query()
    log = _services().audit
    page = tables.page_number(request.args)
    total = log.count(where)
    entries = log.query(where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("audit.html", entries=entries, shown=shown, total=total, page=page, pages=pages,
                           actions=log.actions(), query={k: v for k, v in shown.items() if v})


@access.members_only
def audit_csv():
    where, _ = _audit_query()
    entries = _services().audit.query(where, limit=100_000)
    return _csv("audit.csv", tables.to_csv(AUDIT_HEADER, (
        (tables.when(e.at), e.user_id, e.action, e.target, "yes" if e.ok else "no", e.result, e.detail) for e in entries)))


@access.members_only
def deliveries():
    services = _services()
    repo = _filter_repo()
    state = request.args.get("state", "")
    if state and state not in relay.DELIVERY_STATES:
        abort(404, f"No delivery state {state!r}.")
    page = tables.page_number(request.args)
    rows = relay.recent_deliveries(services.store, state=state, repo=repo or "", limit=DELIVERY_PAGE_SIZE + 1,
                                   offset=(page - 1) * DELIVERY_PAGE_SIZE)
    return render_template("deliveries.html", rows=rows[:DELIVERY_PAGE_SIZE], more=len(rows) > DELIVERY_PAGE_SIZE, page=page,
                           state=state, repo=repo or "", states=relay.DELIVERY_STATES, admin=access.is_admin())


def _delivery_action(delivery_id: int, verb: str):
    services = _services()
    change = relay.retry_failed if verb == "retry" else relay.forget_failed
    count = change(services.store, [delivery_id])
    services.audit.record(access.person(), f"delivery_{verb}", f"delivery {delivery_id}", ok=bool(count),
                          result="done" if count else "not a failed delivery (or its body is gone)")
    flash(f"Delivery {delivery_id}: " + ({"retry": "handed to the router again", "forget": "forgotten"}[verb] if count
                                          else "nothing to do: it is not a failed delivery that can be " + ("retried" if verb == "retry" else "forgotten")))
    return redirect(url_for("pages.deliveries", state="failed"))


@access.admins_only
def retry(delivery_id: int):
    return _delivery_action(delivery_id, "retry")


@access.admins_only
def forget(delivery_id: int):
    return _delivery_action(delivery_id, "forget")


@access.members_only
def environments():
    services = _services()
    found = [data.environments_of(services, repo) for repo in data.known_repositories(services.store, services.timestamp())]
    return render_template("environments.html", repos=found, one=False)


@access.members_only
def repository_environments(workspace: str, slug: str):
    repo = _known(f"{workspace}/{slug}")
    return render_template("environments.html", repos=[data.environments_of(_services(), repo)], one=True, repo=repo)


ROUTES = (
    ("/dashboard", "overview", overview, ("GET",)),
    ("/dashboard/repositories/<workspace>/<slug>", "repository", repository, ("GET",)),
    ("/dashboard/inventory", "inventory", inventory, ("GET",)),
    ("/dashboard/inventory.csv", "inventory_csv", inventory_csv, ("GET",)),
    ("/dashboard/audit", "audit", audit, ("GET",)),
    ("/dashboard/audit.csv", "audit_csv", audit_csv, ("GET",)),
    ("/dashboard/deliveries", "deliveries", deliveries, ("GET",)),
    ("/dashboard/deliveries/<int:delivery_id>/retry", "retry", retry, ("POST",)),
    ("/dashboard/deliveries/<int:delivery_id>/forget", "forget", forget, ("POST",)),
    ("/dashboard/environments", "environments", environments, ("GET",)),
    ("/dashboard/environments/<workspace>/<slug>", "repository_environments", repository_environments, ("GET",)),
)
