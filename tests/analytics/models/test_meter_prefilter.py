"""The meter scan's prefilter (``meters._candidates``) sets meters aside at once with its own
copy of the fault and theft formulas; here it must never set aside a meter the per-meter
judgement would flag. Pure: a synthetic city of meters, built with numpy and a fixed seed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from analytics.models import meters
from analytics.models.meters import Consent, MeterFinding, MeterParams
from analytics.models.meters_train import train

N_METERS = 240
DAYS = 9  # a week and a day of history for the baselines, then the day scanned
START = datetime(2026, 3, 2, tzinfo=UTC)
NOW = START + timedelta(days=DAYS, minutes=-20)  # inside the last hour, which has readings
TOP = pd.Timestamp(NOW).floor("h")
PARAMS = MeterParams()


@dataclass(frozen=True)
class City:
    hourly: pd.DataFrame
    baselines: Mapping[str, Mapping[tuple[int, str], float]]
    consents: Mapping[str, Consent]


def _city() -> City:
    rng = np.random.default_rng(12)
    hours = pd.date_range(START, periods=DAYS * 24, freq="h", tz=UTC)
    local = ((hours.hour + 9) % 24).to_numpy()
    shape = 0.3 + 0.8 * np.exp(-0.5 * ((local - 8) / 1.5) ** 2) + 1.2 * np.exp(-0.5 * ((local - 20) / 2) ** 2)
    scale = rng.uniform(0.3, 1.5, size=N_METERS)
    groups = np.array_split(rng.permutation(N_METERS), 24)  # the last eleven: plain households
    thieves, resets, sags, spans, gaps, flat_watched, flat_unwatched, tiny = groups[:8]
    late, unbaselined, holes, watched_normal, borderline = groups[8:13]
    scale[tiny] = rng.uniform(0.01, 0.05, size=len(tiny))  # a baseline under theft_min_kwh
    kw = (scale[:, None] * shape[None, :] * rng.normal(1.0, 0.15, size=(N_METERS, len(hours)))).clip(0.02)
    last = len(hours) - 1
    # Theft from 5 h ago, at 35-65 % of the usual: most under the theft ratio, some not.
    kw[thieves, last - 4:] *= rng.uniform(0.35, 0.65, size=(len(thieves), 1))
    # A day and more of nothing changing: at a watched home at its usual level (so only its
    # consent can bring it to the scan), elsewhere low (a theft, perhaps).
    usual_level = scale[flat_watched, None] * rng.uniform(0.8, 1.2, size=(len(flat_watched), 1))
    kw[flat_watched, last - 30:] = usual_level
    kw[flat_unwatched, last - 30:] = rng.uniform(0.04, 0.3, size=(len(flat_unwatched), 1))
    # Meters whose current hour has no row yet (dropped below): their theft window is the three
    # hours before it. Almost nothing in the first of those, then a little less than usual: low
    # over the three hours, not over the last two (as a window wrongly ending now would see).
    kw[late, last - 3] *= 0.02
    kw[late, last - 2:last] *= np.linspace(0.55, 0.8, len(late))[:, None]
    # Meters the model has no baseline for (installed after the training: deleted from it
    # below), judged on their own previous day, half of them recording less than it.
    kw[unbaselined[::2], last - 4:] *= 0.3
    energy = np.cumsum(kw, axis=1) + rng.uniform(2000, 40000, size=(N_METERS, 1))
    e_min, e_max = energy - kw, energy.copy()
    v_mean = rng.normal(220.0, 2.0, size=(N_METERS, len(hours)))
    n = np.full((N_METERS, len(hours)), 4)
    for m in resets:  # within the two hours the scan judges, or before them (not a finding)
        at = last - int(rng.integers(0, 6))
        e_min[m, at:] -= 1500.0
        e_max[m, at:] -= 1500.0
    for m in sags:  # around sag_v, on either side
        v_mean[m, last - int(rng.integers(0, 6))] = rng.uniform(195.0, 205.0)
    for m in spans:  # more kWh in an hour than its power could draw
        e_max[m, last - int(rng.integers(0, 4))] += rng.uniform(20.0, 200.0)
    kw_seen = kw.copy()
    for m in gaps:  # an hour in the theft window without a power reading
        at = last - int(rng.integers(0, 3))
        kw_seen[m, at], n[m, at] = np.nan, 0
    frame = pd.DataFrame({
        "device_id": np.repeat([f"meter-{i:04d}" for i in range(N_METERS)], len(hours)),
        "zone": np.repeat([f"zone-{i % 7}" for i in range(N_METERS)], len(hours)),
        "hour": np.tile(hours, N_METERS), "kw": kw_seen.ravel(), "n": n.ravel(),
        "v_mean": v_mean.ravel(), "v_min": (v_mean - 3.0).ravel(),
        "e_min": e_min.ravel(), "e_max": e_max.ravel()})
    ids = frame["device_id"]
    late_ids = {f"meter-{i:04d}" for i in late}
    frame = frame[~(ids.isin(late_ids) & (frame["hour"] == TOP))]
    model, _scores = train(frame[frame["hour"] < TOP - pd.Timedelta(hours=30)], PARAMS)
    baselines = {d: dict(b) for d, b in model.baselines.items()}
    for i in unbaselined:
        del baselines[f"meter-{i:04d}"]
    for i in holes:  # a baseline without cells of the hours scanned (21:00 and 22:00 UTC)
        for key in [k for k in baselines[f"meter-{i:04d}"] if k[0] in (21, 22)]:
            del baselines[f"meter-{i:04d}"][key]
    # At the theft ratio itself, on either side: where rounding could part the two paths.
    for i, ratio in zip(borderline, np.linspace(0.4998, 0.5002, len(borderline)), strict=True):
        rows = (frame["device_id"] == f"meter-{i:04d}") & (frame["hour"] >= TOP - pd.Timedelta(hours=3))
        usual = [baselines[f"meter-{i:04d}"][(h.hour, meters.day_type(h))] for h in frame.loc[rows, "hour"]]
        frame.loc[rows, "kw"] = np.array(usual) * ratio
    consents = {f"meter-{i:04d}": Consent(f"meter-{i:04d}", START, "resident", "form")
                for i in np.concatenate([flat_watched, watched_normal])}
    # What the live service reads for a trained scan: the last welfare_hours + 3 hours.
    recent = frame[frame["hour"] >= TOP - pd.Timedelta(hours=PARAMS.welfare_hours + 3)]
    return City(recent.reset_index(drop=True), baselines, consents)


@pytest.fixture(scope="module")
def city() -> City:
    return _city()


def _scan(city: City, now: datetime, hourly: pd.DataFrame) -> list[MeterFinding]:
    return meters.scan(hourly, now, city.consents, PARAMS, city.baselines)


@pytest.mark.parametrize("on_the_hour", [False, True], ids=["within the hour", "on the hour"])
def test_the_prefilter_keeps_every_meter_the_per_meter_judgement_flags(
        city: City, on_the_hour: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # On the hour the new hour has no reading yet, for any meter.
    now = TOP.to_pydatetime() if on_the_hour else NOW
    hourly = city.hourly[city.hourly["hour"] < TOP] if on_the_hour else city.hourly
    data = hourly.sort_values(["device_id", "hour"])
    kept = meters._candidates(data, now, city.consents, PARAMS, city.baselines)
    prefiltered = _scan(city, now, hourly)

    # The per-meter path over every meter: scan() with a prefilter that sets nothing aside.
    monkeypatch.setattr(meters, "_candidates", lambda data, *_args: set(data["device_id"].astype(str)))
    every_meter = _scan(city, now, hourly)

    assert prefiltered == every_meter
    # Not a comparison of two full scans: most meters were set aside, and every kind of
    # finding was among those kept.
    assert len(kept) < N_METERS / 2
    assert {f.kind for f in every_meter} == {"theft", "meter_fault", "welfare"}
    assert {f.device_id for f in every_meter} <= kept
