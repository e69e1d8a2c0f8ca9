"""The privacy model in the kind catalogue: roles, the personal flag, quasi-identifiers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hub.catalogue import load_catalogue, parse_catalogue
from hub.catalogue_privacy import KeySchedule, Role
from hub.errors import CatalogueError
from tests.helpers import child_env


def test_every_shipped_field_declares_its_role_and_personal_follows_it() -> None:
    catalogue = load_catalogue()
    shipped = json.loads(resources.files("hub").joinpath("kinds.json").read_text(encoding="utf-8"))
    for kind in catalogue.kinds.values():
        for name, spec in shipped[kind.name]["fields"].items():
            assert "role" in spec, f"{kind.name}.{name} has no role"
            assert "personal" in spec, f"{kind.name}.{name}: SQL reads 'personal' from the stored spec"
            assert kind.fields[name].personal == (kind.fields[name].role is Role.DIRECT_IDENTIFIER)
    cctv, meter = catalogue.kind("cctv"), catalogue.kind("smart_meter")
    assert cctv.personal_fields == {"licence_plate", "track_id"}
    assert cctv.fields["track_id"].key is KeySchedule.DAILY
    assert cctv.fields["licence_plate"].key is KeySchedule.STABLE
    assert cctv.daily_key_fields == {"track_id"}
    assert meter.with_role(Role.DIRECT_IDENTIFIER) == {"household_id"}
    assert {"power_kw", "energy_kwh"} <= meter.with_role(Role.SENSITIVE)


def test_release_quasi_identifiers_are_declared_per_kind() -> None:
    meter = load_catalogue().kind("smart_meter")
    assert set(meter.quasi_identifiers) == {"zone", "time", "household_type"}
    assert meter.quasi_identifiers["zone"].levels == ("zone", "district", "city")
    assert meter.quasi_identifiers["household_type"].source == "device:household_type"
    assert meter.quasi_identifiers["household_type"].levels == ("type", "group", "any")
    assert meter.quasi_identifiers["time"].durations()[:2] == (timedelta(minutes=15), timedelta(hours=1))
    assert set(load_catalogue().kind("cctv").quasi_identifiers) == {"zone", "time", "event_type"}


def test_a_catalogue_without_roles_still_works_and_is_stored_with_them() -> None:
    catalogue = parse_catalogue({"k": {"metrics": {"m": {"unit": "x", "min": 0, "max": 1}},
                                       "fields": {"owner": {"personal": True}, "note": {}}}})
    kind = catalogue.kind("k")
    assert kind.personal_fields == {"owner"}
    assert kind.fields["owner"].role is Role.DIRECT_IDENTIFIER
    assert kind.fields["note"].role is Role.NONE
    # The database's copy spells both out: SQL (the events API) reads 'personal' from it.
    assert catalogue.specs["k"]["fields"]["owner"] == {"personal": True, "role": "direct_identifier"}
    role_only = parse_catalogue({"k": {"fields": {"plate": {"role": "direct_identifier"}}}})
    assert role_only.kind("k").personal_fields == {"plate"}
    assert role_only.specs["k"]["fields"]["plate"]["personal"] is True


def _kind(fields: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"k": {"metrics": {"m": {"unit": "x", "min": 0, "max": 1}}, "fields": fields or {}, **extra}}


@pytest.mark.parametrize(("document", "message"), [
    (_kind({"plate": {"personal": False, "role": "direct_identifier"}}), "contradicts"),
    (_kind({"zone": {"personal": True, "role": "quasi_identifier"}}), "contradicts"),
    (_kind({"plate": {"personal": True, "role": "secret"}}), "'role' must be one of"),
    (_kind({"plate": {"personal": "yes"}}), "'personal' must be true or false"),
    (_kind({"zone": {"role": "quasi_identifier", "key": "daily"}}), "only a direct identifier"),
    (_kind({"track": {"role": "direct_identifier", "key": "hourly"}}), "'key' must be"),
    (_kind({"plate": {"personal": True, "rol": "none"}}), "unknown keys"),
    ({"k": {"metrics": {"m": {"unit": "x", "min": 0, "max": 1, "role": "direct_identifier"}}}},
     "'role' must be one of"),
    (_kind(privacy={"quasi_identifiers": {"zone": {"from": "postcode", "levels": ["zone"]}}}),
     "'from' must be one of"),
    (_kind(privacy={"quasi_identifiers": {"zone": {"from": "field:note", "levels": ["x"]}}}),
     "must name a quasi-identifier field"),
    (_kind(privacy={"quasi_identifiers": {"t": {"from": "time", "levels": ["1 day", "1 hour"]}}}),
     "time levels must grow"),
    (_kind(privacy={"quasi_identifiers": {"t": {"from": "time", "levels": ["hourly"]}}}),
     "is not like"),
    (_kind(privacy={"quasi_identifiers": {"z": {"from": "zone", "levels": []}}}), "'levels'"),
    (_kind(privacy={"k_anonymity": 5}), "may hold only"),
])
def test_a_bad_privacy_declaration_is_refused_with_a_message(document: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        parse_catalogue(document)


def test_a_bad_declaration_stops_a_command_at_start(tmp_path: Path) -> None:
    document = json.loads(resources.files("hub").joinpath("kinds.json").read_text(encoding="utf-8"))
    document["cctv"]["fields"]["track_id"]["personal"] = False  # a track id left in the clear
    bad = tmp_path / "kinds.json"
    bad.write_text(json.dumps(document), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "hub", "migrate"], capture_output=True, text=True, timeout=60,
        env=child_env(CITYHUB_KINDS_FILE=str(bad),
                      CITYHUB_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none"),
    )
    assert result.returncode == 1
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert "kind 'cctv', field 'track_id'" in said
    assert "'personal': false contradicts 'role': 'direct_identifier'" in said
