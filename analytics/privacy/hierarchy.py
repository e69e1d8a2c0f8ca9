"""Generalisation hierarchies of the quasi-identifiers of household data. Pure.

Zones: a zone named ``<district>/<neighbourhood>`` (``mapo-gu/hapjeong``) belongs to
the district before the slash; a zone without one (the simulator's ``mapo-gu``) is a
district of its own. Levels: 0 zone, 1 district, 2 city (``*``).

Household types (hub.households, from the smart meter's registration): 0 the type,
1 its group (``family``; ``single`` for one-person households; ``other``), 2 ``*``.
"""

from __future__ import annotations

ANY = "*"
ZONE_LEVELS = ("zone", "district", "city")
TYPE_LEVELS = ("type", "group", "any")
_TYPE_GROUPS = {"family": "family", "single_worker": "single", "single_elderly": "single"}


def district_of(zone: str) -> str:
    return zone.partition("/")[0]


def generalise_zone(zone: str, level: int) -> str:
    if level <= 0:
        return zone
    return district_of(zone) if level == 1 else ANY


def generalise_type(household_type: str, level: int) -> str:
    if level <= 0:
        return household_type
    return _TYPE_GROUPS.get(household_type, "other") if level == 1 else ANY
