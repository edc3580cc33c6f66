"""Branches from Slack (issue 27): `/bb branches` lists them newest first with their last build; `/bb branch`
creates one, or deletes one after a confirmation that refuses the main branch, a branch with open pull requests
and a protected one (unless an admin adds `--force`).

| module | what |
| --- | --- |
| `grammar` | the commands' specs (pure) |
| `rules` | pure: who may, what keeps a branch from being deleted, a glob's BBQL prefix |
| `render` | pure renderers |
| `commands` | the handlers; `create_branch` and `delete_branch` are the two writes (audited, acted on once) |
"""
