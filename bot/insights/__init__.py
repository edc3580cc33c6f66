"""Insights: `/bb stats` (pull request throughput and review times, with a chart) and the weekly digest.

| module | what |
| --- | --- |
| `figures.py` | pure: Bitbucket's JSON in, counts, medians, p90s, open pull requests by age, review load out |
| `collect.py` | the few bounded Bitbucket calls, and the 10-minute cache |
| `chart.py` | pure: the PNG chart (matplotlib, Agg) |
| `render.py` | pure: the messages |
| `upload.py` | Slack's file upload (files.getUploadURLExternal, the bytes, files.completeUploadExternal) |
| `digest.py` | the weekly digest: its table, its once-per-occurrence run, its jobs on the scheduler |
"""
