"""Reading a CSV of devices to provision: pure parsing and checking, no I/O.

The file has a header row naming its columns, in any order::

    id,kind,zone,lat,lon,gateway
    aq-jung-101,air_quality,jung-gu,37.5663,126.9779,
    gw-jung-01,gateway,jung-gu,,,
    meter-jung-9001,smart_meter,jung-gu,,,gw-jung-01

``id`` and ``kind`` are required; ``zone``, ``lat``/``lon`` (both or neither) and
``gateway`` (a registered gateway, or one earlier in the same file) may be empty or
left out. Problems are reported per row with the file's line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hub.catalogue import Catalogue
from hub.errors import HubError, InvalidInput
from hub.mqtt_access import GATEWAY_KIND
from hub.registry import case_twin_message, check_position, validate_device_id

COLUMNS = ("id", "kind", "zone", "lat", "lon", "gateway")
REQUIRED = ("id", "kind")


@dataclass(frozen=True, slots=True)
class ImportRow:
    line: int
    id: str
    kind: str
    zone: str | None
    lat: float | None
    lon: float | None
    gateway: str | None

    def values(self) -> tuple[str, str, str | None, float | None, float | None, str | None]:
        return self.id, self.kind, self.zone, self.lat, self.lon, self.gateway


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    device_id: str | None
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportPlan:
    create: tuple[ImportRow, ...]
    present: tuple[ImportRow, ...]  # registered already: skipped
    errors: tuple[RowError, ...]


def _header(line: int, cells: list[str]) -> list[str]:
    names = [c.strip().lower() for c in cells]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"Line {line}: unknown column(s) {', '.join(map(repr, unknown))}; the header row names "
            f"some of {', '.join(COLUMNS)} (id and kind are required)."
        )
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise InvalidInput(f"Line {line}: the header row lacks the column(s) {', '.join(missing)}.")
    if len(set(names)) != len(names):
        raise InvalidInput(f"Line {line}: a column is named twice in the header row.")
    return names


def _number(text: str, what: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{what} {text!r} is not a number.") from None


def _row(line: int, record: Mapping[str, str], catalogue: Catalogue) -> ImportRow:
    device_id = record.get("id", "")
    validate_device_id(device_id)
    kind = record.get("kind", "")
    if not kind:
        raise InvalidInput("the kind is empty.")
    catalogue.kind(kind)
    lat = _number(record.get("lat", ""), "Latitude")
    lon = _number(record.get("lon", ""), "Longitude")
    check_position(lat, lon)
    return ImportRow(line, device_id, kind, record.get("zone") or None, lat, lon,
                     record.get("gateway") or None)


def parse_csv(text: str, catalogue: Catalogue) -> tuple[list[ImportRow], list[RowError]]:
    """Rows that are well-formed on their own, and errors for the others."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    names: list[str] | None = None
    rows: list[ImportRow] = []
    errors: list[RowError] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if names is None:
                names = _header(reader.line_num, cells)
                continue
            line = reader.line_num
            if len(cells) > len(names):
                errors.append(RowError(line, cells[0].strip() or None,
                                       f"{len(cells)} values for {len(names)} columns."))
                continue
            record = {n: c.strip() for n, c in zip(names, cells, strict=False)}
            try:
                rows.append(_row(line, record, catalogue))
            except HubError as exc:
                errors.append(RowError(line, record.get("id") or None, str(exc)))
    except csv.Error as exc:
        raise InvalidInput(f"Line {reader.line_num}: not valid CSV ({exc}).") from None
    if names is None:
        raise InvalidInput(f"The file is empty; it needs a header row such as {','.join(COLUMNS)}.")
    return rows, errors


def plan_import(
    rows: Iterable[ImportRow],
    errors: Iterable[RowError],
    registered: Mapping[str, str],
) -> ImportPlan:
    """Split rows into new ones, ones registered already and bad ones.

    *registered* maps the ids of registered devices (those named in the file as a
    device or a gateway, but for letter case: see registry.existing_ids) to their kinds.
    Ids are compared without regard to case, as the registry does (migration 0008): a
    row whose id differs from another row's or a registered one's only in case is bad.
    """
    bad = list(errors)
    create: list[ImportRow] = []
    present: list[ImportRow] = []
    first_line: dict[str, tuple[str, int]] = {}  # lower-case id -> (id, line)
    kinds: dict[str, str] = {}
    registered_ids = {i.lower(): i for i in registered}
    gateways = {i for i, k in registered.items() if k == GATEWAY_KIND}
    for row in rows:
        folded = row.id.lower()
        if folded in first_line:
            seen, line = first_line[folded]
            problem = (f"device {row.id!r} appears already on line {line}." if seen == row.id else
                       f"device id {row.id!r} differs only in letter case from {seen!r} on line "
                       f"{line}; device ids are case-sensitive MQTT usernames, so choose another id.")
            bad.append(RowError(row.line, row.id, problem))
            continue
        if row.id not in registered and folded in registered_ids:
            # Checked before the row claims its id: a later row with the id as registered
            # is then skipped as registered, not called a twin of this bad one.
            bad.append(RowError(row.line, row.id, case_twin_message(row.id, registered_ids[folded])))
            continue
        first_line[folded] = (row.id, row.line)
        kinds[row.id] = row.kind
        if row.id in registered:
            present.append(row)
            continue
        if row.gateway is not None and row.gateway not in gateways:
            kind = registered.get(row.gateway) or kinds.get(row.gateway)
            if kind is not None:
                problem = f"{row.gateway!r} is a {kind} device, not a gateway."
            else:
                problem = (f"gateway {row.gateway!r} is neither registered nor a gateway row "
                           "earlier in this file.")
            bad.append(RowError(row.line, row.id, problem))
            continue
        create.append(row)
        if row.kind == GATEWAY_KIND:
            gateways.add(row.id)
    bad.sort(key=lambda e: e.line)
    return ImportPlan(tuple(create), tuple(present), tuple(bad))
