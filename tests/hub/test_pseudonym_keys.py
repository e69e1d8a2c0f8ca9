"""Keys: the daily key of CCTV track ids, creation dates and scheduled rotation."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.catalogue import load_catalogue
from hub.cli.main import app
from hub.errors import PseudonymKeyError
from hub.pseudonym import ensure_keys, is_pseudonym, load_keys, parse_age, rotate_if_older
from ingest.validate import TimeWindow, Validator

DAY1 = datetime(2026, 5, 1, 23, 30, tzinfo=UTC)
DAY2 = datetime(2026, 5, 2, 0, 30, tzinfo=UTC)


def test_a_day_key_changes_with_the_day_and_is_derived_again_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = ensure_keys(path)
    first = keys.pseudonymise("trk-00c0ffee", DAY1.date())
    second = keys.pseudonymise("trk-00c0ffee", DAY2.date())
    assert is_pseudonym(first)
    assert is_pseudonym(second)
    assert first != second  # two days' detections of one track cannot be joined
    assert first != keys.pseudonymise("trk-00c0ffee")  # nor matched to the stable key
    assert load_keys(path).pseudonymise("trk-00c0ffee", DAY1.date()) == first
    assert keys.day_key(DAY1.date()) != keys.day_key(DAY2.date())
    assert keys.day_key(DAY1.date()) not in keys.keys.values()
    # The day is the UTC one: 08:30 on 2 May in Seoul is still 1 May in UTC.
    seoul = datetime(2026, 5, 2, 8, 30, tzinfo=timezone(timedelta(hours=9)))
    assert keys.pseudonymise_at("trk-00c0ffee", seoul, daily=True) == first
    assert keys.pseudonymise_at("trk-00c0ffee", seoul, daily=False) == keys.pseudonymise("trk-00c0ffee")


def test_ingest_pseudonymises_tracks_per_day_and_plates_stably(tmp_path: Path) -> None:
    catalogue = load_catalogue()
    keys = ensure_keys(tmp_path / "keys.json")
    validator = Validator(catalogue, keys)
    window = TimeWindow(DAY1 - timedelta(days=30), DAY2 + timedelta(hours=1))

    def event(ts: datetime, **fields: object) -> dict[str, object]:
        payload = {"ts": ts.isoformat(), "type": "loitering", **fields}
        result = validator.events("cam-1", "cctv", payload, window)
        assert isinstance(result, list), result
        return result[0].attributes

    track1, track2 = event(DAY1, track_id="trk-00c0ffee"), event(DAY2, track_id="trk-00c0ffee")
    assert track1["track_id"] != track2["track_id"]
    assert event(DAY1 - timedelta(hours=3), track_id="trk-00c0ffee") == track1  # same day, same pseudonym
    plate1, plate2 = event(DAY1, licence_plate="12가3456"), event(DAY2, licence_plate="12가3456")
    assert plate1 == plate2 == {"licence_plate": keys.pseudonymise("12가3456")}


def _aged(path: Path, days: int) -> None:
    """Make the key file's current key *days* old, as if it had been made then."""
    document = json.loads(path.read_text(encoding="utf-8"))
    made = datetime.now(UTC) - timedelta(days=days)
    document["created"] = {str(document["current"]): made.isoformat()}
    path.write_text(json.dumps(document), encoding="utf-8")


def test_rotation_if_older_than_keeps_a_young_key_and_replaces_an_old_one(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ensure_keys(path)
    keys, rotated = rotate_if_older(path, timedelta(days=90))
    assert (keys.current, rotated) == (1, False)
    _aged(path, 91)
    keys, rotated = rotate_if_older(path, timedelta(days=90))
    assert (keys.current, rotated) == (2, True)
    assert set(keys.keys) == {1, 2}
    assert keys.created[2] > keys.created[1]
    assert load_keys(path).created == keys.created  # the dates survive the file
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_file_without_dates_counts_from_when_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"current": 1, "keys": {"1": "ab" * 32}}), encoding="utf-8")
    old = (datetime.now(UTC) - timedelta(days=100)).timestamp()
    os.utime(path, (old, old))
    keys, rotated = rotate_if_older(path, timedelta(days=90))
    assert (keys.current, rotated) == (2, True)


@pytest.mark.parametrize(("text", "age"), [("90d", timedelta(days=90)), ("12w", timedelta(weeks=12)),
                                           ("36h", timedelta(hours=36))])
def test_ages(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["90", "d90", "0d", "3 months", ""])
def test_a_bad_age_is_refused(text: str) -> None:
    with pytest.raises(PseudonymKeyError, match="not an age"):
        parse_age(text)


def test_keys_rotate_if_older_than_from_the_command_line(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    env = {"CITYHUB_PSEUDONYM_KEY_FILE": str(path), "COLUMNS": "250"}
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "init"], env=env).exit_code == 0
    kept = runner.invoke(app, ["keys", "rotate", "--if-older-than", "90d"], env=env)
    assert kept.exit_code == 0, kept.output
    assert "kept" in kept.output
    assert load_keys(path).current == 1
    _aged(path, 120)
    done = runner.invoke(app, ["keys", "rotate", "--if-older-than", "90d"], env=env)
    assert done.exit_code == 0, done.output
    assert "now key version 2" in done.output
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert datetime.now(UTC).date().isoformat() in listed.output
    assert all(key.hex()[:16] not in listed.output for key in load_keys(path).keys.values())
