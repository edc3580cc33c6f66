"""The chart of `/bb stats`: merged pull requests per day or week (bars) and the median time to first review
(line), drawn by matplotlib's Agg backend into PNG bytes. Pure: figures in, bytes out; no screen, no pyplot
(its global state is not thread-safe), no file.

The bars are calendar days (or runs of 7 of them) ending with today, labelled by the days they hold; a short first
week says how many days it has. The legend sits above the plot, so it covers no bar and no point, and an axis with
nothing to show still runs from 0.
"""

from __future__ import annotations

import io
import math

from bot.insights.figures import Bucket, Insights

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100  # 800 × 400 pixels
BAR_COLOUR, LINE_COLOUR = "#0052cc", "#ff8b00"
HEADROOM = 1.12  # the tallest bar or point stays clear of the top


def chart_png(insights: Insights) -> bytes:
    out = io.BytesIO()
    chart_figure(insights).savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def chart_figure(insights: Insights):
    """The chart as a matplotlib `Figure` (imported here: matplotlib is heavy, and only a chart needs it)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot(1, 1, 1)
    daily = all(bucket.days == 1 for bucket in insights.buckets)
    labels = bucket_labels(insights.buckets)
    positions = list(range(len(labels)))
    merged = [bucket.merged for bucket in insights.buckets]
    bars.bar(positions, merged, color=BAR_COLOUR, label="merged per day" if daily else "merged per week")
    bars.set_ylabel("pull requests merged")
    bars.set_xticks(positions, labels, rotation=45 if len(labels) > 8 else 0, fontsize=8)
    bars.set_ylim(0, max(1, math.ceil(max(merged, default=0) * HEADROOM)))
    bars.yaxis.get_major_locator().set_params(integer=True)
    if not any(merged):
        bars.text(0.5, 0.5, f"no pull request merged in these {insights.days} days", transform=bars.transAxes,
                  ha="center", va="center", color="#6b778c", fontsize=10)
    line = bars.twinx()
    hours = [bucket.first_review_median / 3600 if bucket.first_review_median is not None else math.nan for bucket in insights.buckets]
    line.plot(positions, hours, color=LINE_COLOUR, marker="o", label="median hours to first review (of those opened then)")
    line.set_ylabel("hours to first review")
    known = [h for h in hours if not math.isnan(h)]
    line.set_ylim(0, max(known) * HEADROOM if known and max(known) > 0 else 1)
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    # Above the plot, under the title: never over a bar or a point.
    bars.legend(handles, [h.get_label() for h in handles], loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2,
                fontsize=8, frameon=False, borderaxespad=0)
    figure.suptitle(f"{insights.repo}: the last {insights.days} days" + (" (today so far)" if daily else ""), fontsize=11)
    figure.tight_layout()
    return figure


def bucket_labels(buckets: list[Bucket]) -> list[str]:
    """`Tue 09` per day (the last is `today`); `02–08 Jun` per week, and `(2 days)` under a shorter one."""
    labels = []
    for index, bucket in enumerate(buckets):
        if bucket.days == 1:
            labels.append("today" if index == len(buckets) - 1 else bucket.start.strftime("%a %d"))
            continue
        first, last = bucket.start, bucket.start.date().fromordinal(bucket.start.date().toordinal() + bucket.days - 1)
        span = (f"{first:%d}–{last:%d %b}" if (first.year, first.month) == (last.year, last.month)
                else f"{first:%d %b}–{last:%d %b}")
        labels.append(span + (f"\n({bucket.days} days)" if bucket.days < 7 else ""))
    return labels
