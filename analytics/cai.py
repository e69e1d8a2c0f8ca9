"""The air-quality index category of a station on AirKorea's CAI bands (통합대기환경지수). Pure.

Fine dust is graded on its concentration: PM10 good 0–30, moderate 31–80, bad 81–150,
very bad 151+ µg/m³; PM2.5 good 0–15, moderate 16–35, bad 36–75, very bad 76+ (에어코리아,
docs/analytics.md). Means are rounded to whole µg/m³ first, as AirKorea publishes them, so
30.4 is good and 30.6 moderate. A station's category is the worse of its two.
"""

from __future__ import annotations

from collections.abc import Mapping

CATEGORIES = ("good", "moderate", "bad", "very_bad")
# Upper bounds (inclusive) of good, moderate and bad; above the last is very bad.
BANDS: Mapping[str, tuple[int, int, int]] = {"pm10": (30, 80, 150), "pm25": (15, 35, 75)}
# The window a station's category is taken over (the hourly mean).
WINDOW_S = 3600


def category(metric: str, value: float) -> str:
    """The category of one pollutant's mean; KeyError for a metric without bands."""
    rounded = int(value + 0.5) if value >= 0 else 0
    for name, upper in zip(CATEGORIES, BANDS[metric], strict=False):
        if rounded <= upper:
            return name
    return CATEGORIES[-1]


def station_category(means: Mapping[str, float]) -> str | None:
    """The worse category among the graded pollutants in *means*; None if none is there."""
    found = [CATEGORIES.index(category(m, v)) for m, v in means.items() if m in BANDS]
    return CATEGORIES[max(found)] if found else None
