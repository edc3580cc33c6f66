"""The chart of `/bb stats`: merged pull requests per day or week (bars) and the median time to first review
(line), drawn by matplotlib's Agg backend into PNG bytes. Pure: figures in, bytes out; no screen, no pyplot
(its global state is not thread-safe), no file.
"""

from __future__ import annotations

import io
import math

from bot.insights.figures import Insights

WIDTH, HEIGHT, DPI = 8.0, 4.0, 100  # 800 × 400 pixels
BAR_COLOUR, LINE_COLOUR = "#0052cc", "#ff8b00"


def chart_png(insights: Insights) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    FigureCanvasAgg(figure)
    bars = figure.add_subplot(1, 1, 1)
    step = "day" if insights.days <= 14 else "week"
    labels = [bucket.start.strftime("%d %b") for bucket in insights.buckets]
    positions = list(range(len(labels)))
    bars.bar(positions, [bucket.merged for bucket in insights.buckets], color=BAR_COLOUR, label=f"merged per {step}")
    bars.set_ylabel("pull requests merged")
    bars.set_xticks(positions, labels, rotation=45 if len(labels) > 8 else 0, fontsize=8)
    bars.yaxis.get_major_locator().set_params(integer=True)
    line = bars.twinx()
    hours = [bucket.first_review_median / 3600 if bucket.first_review_median is not None else math.nan for bucket in insights.buckets]
    line.plot(positions, hours, color=LINE_COLOUR, marker="o", label="median hours to first review")
    line.set_ylabel("hours to first review")
    line.set_ylim(bottom=0)
    handles = bars.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    bars.legend(handles, [h.get_label() for h in handles], loc="upper left", fontsize=8)
    figure.suptitle(f"{insights.repo}: the last {insights.days} days", fontsize=11)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()
