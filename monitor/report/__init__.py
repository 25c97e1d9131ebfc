"""The period at a glance (`monitor report`): per-entity tallies (summary.py, pure),
rendered as a table, JSON or a Telegram caption (render.py) and a PNG chart (chart.py)."""

__all__ = ["chart", "render", "summary"]  # imported by submodule, on first use (the chart loads matplotlib)
