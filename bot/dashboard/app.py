"""The dashboard's WSGI application (Flask): mounted by the composition root beside the bot's own routes, under
`/dashboard`. Flask gives the routing, the signed session cookie, Jinja2's autoescaped templates and the test
client; the bot's webhook and Slack routes stay on their own router, untouched.

Every answer carries a Content-Security-Policy (scripts and styles from the dashboard's own static files only, no
inline script, no frames), `nosniff`, no referrer to other sites, and pages with data are not cached.
"""

from __future__ import annotations

from datetime import timedelta
from flask import Blueprint, Flask, render_template, request
from werkzeug.exceptions import HTTPException

from bot.dashboard import access, pages, tables

PATH = "/dashboard"
MAX_FORM_BYTES = 16 * 1024  # the dashboard's forms are a token and a button


CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "form-action 'self'",
    "frame-ancestors 'none'", "base-uri 'none'",
))


def create_app(services) -> Flask:
    app = Flask(__name__, static_url_path=PATH + "/static", static_folder="static", template_folder="templates")
    settings = services.settings
    app.config.update(
        SECRET_KEY=access.session_key(settings),
        SESSION_COOKIE_NAME=access.SESSION_COOKIE,
        SESSION_COOKIE_PATH=PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=access.secure_cookie(settings),
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=access.SESSION_HOURS),
        SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=MAX_FORM_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_FORM_BYTES,
        SEND_FILE_MAX_AGE_DEFAULT=3600,
    )
    app.extensions["chatops"] = services
    for name, module in (("access", access), ("pages", pages)):
        blueprint = Blueprint(name, __name__)
        for rule, endpoint, view, methods in module.ROUTES:
            blueprint.add_url_rule(rule, endpoint, view, methods=list(methods))
        app.register_blueprint(blueprint)
    app.before_request(access.check_csrf)
    @app.after_request
    def headers(response):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "static":  # pages hold the team's data: never kept by a browser or a proxy
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(HTTPException)
    def error_page(error: HTTPException):
        return render_template("error.html", error=error), error.code

    app.jinja_env.filters["when"] = tables.when
    app.jinja_env.filters["duration"] = tables.duration
    app.jinja_env.globals.update(person=access.person, is_admin=access.is_admin, csrf_token=access.csrf_token)
    return app
