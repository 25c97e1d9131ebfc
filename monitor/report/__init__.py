"""The period at a glance (`monitor report`): per-entity tallies (summary.py, pure),
rendered as a table, JSON or a Telegram caption (render.py) and a PNG chart (chart.py)."""
