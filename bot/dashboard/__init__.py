"""The web dashboard (`GET /dashboard`): the team's figures and the bot's inventory, in a browser.

| module | what |
| --- | --- |
| `app` | the Flask application: config, security headers, error pages; mounted by `bot.app.server` under `/dashboard` |
| `access` | Sign in with Slack (its own return address), members of the bot's workspace only, the session, CSRF, admins |
| `pages` | the pages (overview, inventory, audit, deliveries, environments), their CSV downloads, retry and forget |
| `data` | what the pages show, read through the other features' public functions |
| `charts` | pure: bar charts as SVG geometry |
| `tables` | pure: query strings in, CSV and readable times out |

Templates are in `templates/` (Jinja2, autoescaped), the stylesheet and the small script in `static/`.
"""
