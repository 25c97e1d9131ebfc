"""Daily articles per entity as a PNG, sized and lettered to be read on a phone.

matplotlib draws on its Agg canvas through a bare Figure: no pyplot, so no global
figure state and no display is needed (safe in a service thread as well as the CLI).
"""

from __future__ import annotations

import io

from monitor.report.render import period_label
from monitor.report.summary import PeriodReport

TOP_ENTITIES = 6  # lines on one chart; more are unreadable on a phone
# 1080 x 1080 px: Telegram shows photos up to 1280 px, and a square keeps room for
# the legend under the plot when the phone is upright.
SIZE_INCHES, DPI = 7.2, 150
FONT_SIZE = 15
# Okabe-Ito: distinguishable with the common colour-vision deficiencies; each line also
# has its own marker so it can be told apart in greyscale.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
MARKERS = ("o", "s", "^", "D", "v", "P")
LEGEND_NAME_CHARS = 34


def daily_mentions_png(report: PeriodReport, top: int = TOP_ENTITIES) -> bytes:
    """One line per entity (the `top` with most articles): articles per day."""
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not 1 <= top <= len(COLOURS):
        raise ValueError(f"top must be 1..{len(COLOURS)}")
    shown = report.entities[:top]
    # Font sizes are passed to each element rather than set in rcParams, which are
    # global to the process.
    figure = Figure(figsize=(SIZE_INCHES, SIZE_INCHES), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    title = "Articles per day"
    if len(report.entities) > top:
        title += f", top {top} of {len(report.entities)} entities"
    figure.suptitle(title, fontsize=FONT_SIZE + 4, fontweight="bold")
    axes.set_title(period_label(report), fontsize=FONT_SIZE)
    for n, entity in enumerate(shown):
        axes.plot(
            report.days,  # type: ignore[arg-type]  # matplotlib plots dates; its stubs list only numbers
            entity.daily,
            label=f"{_short(entity.name)} ({entity.articles})",
            color=COLOURS[n],
            marker=MARKERS[n],
            linewidth=3,
            markersize=8,
            clip_on=False,  # a marker at zero is drawn whole, over the axis
        )
    if not shown:
        axes.text(
            0.5, 0.5, "No tracked entity mentioned", ha="center", va="center", transform=axes.transAxes, fontsize=FONT_SIZE
        )
    axes.margins(x=0.04)  # the first and last markers stay whole
    highest = max((max(entity.daily) for entity in shown), default=0)
    axes.set_ylim(bottom=0, top=highest * 1.1 + 1)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=7))
    axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
    axes.tick_params(labelsize=FONT_SIZE)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    if shown:
        figure.legend(loc="outside lower center", ncols=1, frameon=False, fontsize=FONT_SIZE)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _short(name: str) -> str:
    return name if len(name) <= LEGEND_NAME_CHARS else name[: LEGEND_NAME_CHARS - 1].rstrip() + "…"
