"""Harbor's cron expressions (six fields, seconds first: "0 0 * * * *" is hourly), read by croniter."""

from __future__ import annotations

import datetime as dt

from croniter import croniter

# Harbor's schedule.type presets, as its UI writes them.
PRESETS = {"Hourly": "0 0 * * * *", "Daily": "0 0 0 * * *", "Weekly": "0 0 0 * * 0"}


def check_cron(expression: str) -> str:
    """The expression, if croniter reads it as six fields with seconds first; ValueError otherwise."""
    text = " ".join(expression.split())
    if len(text.split(" ")) != 6 or not croniter.is_valid(text, second_at_beginning=True):
        raise ValueError(f"cron {expression[:100]!r} is not six fields, seconds first (e.g. '0 0 * * * *')")
    return text


def latest_tick(expression: str, now: dt.datetime) -> dt.datetime:
    """The newest tick at or before `now` (a schedule that missed several fires the newest one only)."""
    it = croniter(expression, now + dt.timedelta(microseconds=1), second_at_beginning=True)
    tick: dt.datetime = it.get_prev(dt.datetime)
    return tick


def next_tick(expression: str, now: dt.datetime) -> dt.datetime:
    """The first tick after `now`."""
    tick: dt.datetime = croniter(expression, now, second_at_beginning=True).get_next(dt.datetime)
    return tick
