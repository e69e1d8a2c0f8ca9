"""Smart meters: meter faults, suspected theft and the welfare check, from hourly profiles. Pure.

The input is one row per meter and hour (the hub's hourly rollup, ``hub.telemetry_1h``):
mean power (kW), its reading count, mean and lowest voltage, lowest and highest register
value (kWh). Findings, newest hour first considered:

* **meter fault** - the register went backwards (a reset: an hour starts below the previous
  hour's highest value, or spans more kWh than its power could draw), or the voltage sags
  (an hour's mean under ``sag_v``; the Korean supply is 220 V ± 13 V);
* **suspected theft** - over the last ``theft_hours`` hours the meter records less than
  ``theft_ratio`` of its own baseline for the same hours (the median of up to 7 earlier days
  of the same day type, weekday or weekend) while the baseline is worth at least
  ``theft_min_kwh``; at a home registered for the welfare check a flat window (see below) is
  not theft but a person who may need help;
* **welfare check** - only for a meter whose household is registered vulnerable with consent:
  every hour of the last ``welfare_hours`` has readings and the hourly power stays within
  ``max(flat_kw, flat_rel × median)`` - nobody switched anything on or off for a day.

The household id never enters: meters are named by device id only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

HOURLY_COLUMNS = ["device_id", "zone", "hour", "kw", "n", "v_mean", "v_min", "e_min", "e_max"]
KST = timedelta(hours=9)


@dataclass(frozen=True, slots=True)
class MeterParams:
    sag_v: float = 200.0
    theft_hours: int = 3
    theft_ratio: float = 0.5
    theft_min_kwh: float = 0.45
    baseline_days: int = 7
    welfare_hours: int = 24
    welfare_coverage: float = 0.9
    flat_kw: float = 0.03
    flat_rel: float = 0.15


@dataclass(frozen=True, slots=True)
class Consent:
    """A welfare-check registration (hub.welfare_consents) as shown on the alert."""

    device_id: str
    given_at: datetime
    given_by: str
    basis: str

    @property
    def text(self) -> str:
        return (f"Welfare check consent: given {self.given_at.date().isoformat()} by {self.given_by}; "
                f"basis: {self.basis}.")


@dataclass(frozen=True, slots=True)
class MeterFinding:
    ts: datetime  # the end of the evidence (the last hour's start + 1 h, or now)
    device_id: str
    zone: str | None
    kind: str  # "meter_fault", "theft", "welfare"
    detail: str
    value: float | None = None
    consent: Consent | None = None


def day_type(hour: pd.Timestamp) -> str:
    return "weekend" if (hour + KST).weekday() >= 5 else "weekday"


def day_types(hours: pd.Series) -> pd.Series:
    """:func:`day_type` of a column of hours, at once."""
    weekend = (hours + KST).dt.day_of_week >= 5
    return pd.Series(np.where(weekend, "weekend", "weekday"), index=hours.index)


def flat(kw: pd.Series, p: MeterParams) -> bool:
    return bool(kw.max() - kw.min() <= max(p.flat_kw, p.flat_rel * float(kw.median())))


def _idle(kw: pd.Series, p: MeterParams) -> bool:
    """Two flat hours in a row: at a watched home that says "nobody is using anything" (the
    welfare check's case), also in a window that holds the hour consumption stopped or resumed in."""
    values = kw.reset_index(drop=True)
    return any(flat(values.iloc[i:i + 2], p) for i in range(len(values) - 1))


def meter_faults(meter: pd.DataFrame, p: MeterParams) -> MeterFinding | None:
    """The newest fault in one meter's hours (sorted by hour)."""
    prev_max = meter["e_max"].shift(1)
    spans = meter["e_max"] - meter["e_min"]
    reset = (meter["e_min"] < prev_max - 0.5) | (spans > 50.0 * meter["kw"].clip(lower=0.1) + 5.0)
    sag = meter["v_mean"] < p.sag_v
    for idx in reversed(meter.index):
        if bool(reset.loc[idx]) or bool(sag.loc[idx]):
            row = meter.loc[idx]
            what = ("energy register reset" if bool(reset.loc[idx])
                    else f"voltage sag to {row['v_mean']:.0f} V")
            value = float(row["e_min"]) if bool(reset.loc[idx]) else float(row["v_mean"])
            return MeterFinding(_end(row["hour"]), str(row["device_id"]), _zone(row), "meter_fault", what,
                                round(value, 1))
    return None


def baseline_for(history: pd.DataFrame, hours: pd.Series, p: MeterParams) -> pd.Series:
    """Median kW of the same hour of day and day type over up to ``baseline_days`` earlier days."""
    out = []
    first = hours.min()
    since = first - pd.Timedelta(days=p.baseline_days)
    earlier = history[(history["hour"] < first) & (history["hour"] >= since)]
    for h in hours:
        same = earlier[(earlier["hour"].dt.hour == h.hour)
                       & (earlier["hour"].map(day_type) == day_type(h))]
        out.append(float(same["kw"].median()) if len(same) else float("nan"))
    return pd.Series(out, index=hours.index)


def theft(meter: pd.DataFrame, now: datetime, p: MeterParams,
          baseline: Mapping[tuple[int, str], float] | None = None, *, watched: bool = False,
          ) -> MeterFinding | None:
    """Suspected theft over the last ``theft_hours`` complete-or-current hours of one meter;
    for a *watched* (welfare-registered) home a flat window is the welfare check's, not theft."""
    current = pd.Timestamp(now).floor("h")
    # At the top of the hour the new hour holds no reading yet: the window is then the last
    # complete hours (otherwise a scan on the hour never has theft_hours hours to judge).
    if not bool((meter["hour"] == current).any()):
        current -= pd.Timedelta(hours=1)
    start = current - pd.Timedelta(hours=p.theft_hours - 1)
    window = meter[(meter["hour"] >= start) & (meter["hour"] <= current)]
    if len(window) < p.theft_hours or (window["n"] <= 0).any():
        return None
    if baseline is not None:
        base = window["hour"].map(lambda h: baseline.get((h.hour, day_type(h)), float("nan")))
    else:
        base = baseline_for(meter, window["hour"], p)
    if base.isna().any() or float(base.sum()) < p.theft_min_kwh or (watched and _idle(window["kw"], p)):
        return None
    ratio = float(window["kw"].sum()) / float(base.sum())
    if ratio >= p.theft_ratio:
        return None
    last = window.iloc[-1]
    return MeterFinding(_end(last["hour"]), str(last["device_id"]), _zone(last), "theft",
                        f"records {ratio:.0%} of its usual consumption over {p.theft_hours} h",
                        round(ratio, 3))


def welfare(meter: pd.DataFrame, now: datetime, consent: Consent, p: MeterParams) -> MeterFinding | None:
    start = pd.Timestamp(now).floor("h") - pd.Timedelta(hours=p.welfare_hours)
    # The current hour is partial: the window is the last welfare_hours complete hours.
    window = meter[(meter["hour"] >= start) & (meter["hour"] < pd.Timestamp(now).floor("h"))]
    covered = int((window["n"] > 0).sum())
    if covered < p.welfare_coverage * p.welfare_hours or not flat(window["kw"], p):
        return None
    last = window.iloc[-1]
    return MeterFinding(_end(last["hour"]), str(last["device_id"]), _zone(last), "welfare",
                        f"no change in consumption for {p.welfare_hours} h",
                        round(float(window["kw"].median()), 3), consent)


def scan(hourly: pd.DataFrame, now: datetime, consents: Mapping[str, Consent],
         p: MeterParams | None = None,
         baselines: Mapping[str, Mapping[tuple[int, str], float]] | None = None) -> list[MeterFinding]:
    """Every finding in *hourly* (columns :data:`HOURLY_COLUMNS`) as of *now*."""
    p = p or MeterParams()
    findings: list[MeterFinding] = []
    if hourly.empty:
        return findings
    data = hourly.sort_values(["device_id", "hour"])
    # Judging every meter one by one costs milliseconds each, seconds for a city: the meters
    # that can have no finding are set aside at once, the rest judged by the code below.
    judged = _candidates(data, now, consents, p, baselines)
    for device_id, meter in data[data["device_id"].isin(judged)].groupby("device_id", sort=True):
        meter = meter.reset_index(drop=True)
        # The current and the previous hour, with the one before for the register's last value.
        recent = meter[meter["hour"] >= pd.Timestamp(now).floor("h") - pd.Timedelta(hours=2)]
        fault = meter_faults(recent.reset_index(drop=True), p)
        if fault is not None:
            findings.append(fault)
        consent = consents.get(str(device_id))
        check = welfare(meter, now, consent, p) if consent is not None else None
        if check is not None:
            findings.append(check)
            continue  # a flat day at a watched home is a welfare matter, not a theft
        suspect = theft(meter, now, p, None if baselines is None else baselines.get(str(device_id)),
                        watched=consent is not None)
        if suspect is not None and fault is None:
            findings.append(suspect)
    # A finding is dated by the end of its hour, but the current hour has not ended: an
    # operator must not see an alert from the future.
    return [f if f.ts <= now else replace(f, ts=now) for f in findings]


def _candidates(data: pd.DataFrame, now: datetime, consents: Mapping[str, Consent], p: MeterParams,
                baselines: Mapping[str, Mapping[tuple[int, str], float]] | None) -> set[str]:
    """The meters :func:`scan` must judge: a superset of those with a finding, computed for all
    meters at once with the same formulas as :func:`meter_faults` and :func:`theft`."""
    devices = data["device_id"].astype(str)
    if baselines is None:
        return set(devices)  # untrained: each meter's baseline comes from its own history
    top = pd.Timestamp(now).floor("h")
    out = {d for d in consents if d in set(devices)} | (set(devices) - set(baselines))
    recent = data[data["hour"] >= top - pd.Timedelta(hours=2)]
    prev_max = recent.groupby("device_id", sort=False)["e_max"].shift(1)
    reset = (recent["e_min"] < prev_max - 0.5) | (
        recent["e_max"] - recent["e_min"] > 50.0 * recent["kw"].clip(lower=0.1) + 5.0)
    out |= set(recent.loc[reset | (recent["v_mean"] < p.sag_v), "device_id"].astype(str))
    has_top = devices.isin(set(devices[data["hour"] == top]))
    current = pd.Series(top, index=data.index).where(has_top, top - pd.Timedelta(hours=1))
    first = current - pd.Timedelta(hours=p.theft_hours - 1)
    window = data[(data["hour"] <= current) & (data["hour"] >= first)]
    base = pd.Series([baselines.get(str(d), {}).get((h.hour, t), float("nan")) for d, h, t in
                      zip(window["device_id"], window["hour"], day_types(window["hour"]), strict=True)],
                     index=window.index, dtype=float)
    grouped = window.assign(base=base).groupby("device_id", sort=False)
    sums = grouped[["kw", "base"]].sum()
    complete = ~base.isna().groupby(window["device_id"], sort=False).any()
    # A hair above the ratio, so that rounding never sets aside a meter theft() would flag.
    low = complete & (sums["kw"] < p.theft_ratio * 1.001 * sums["base"])
    out |= {str(d) for d in sums.index[low.to_numpy()]}
    return out


def frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    data = pd.DataFrame(rows, columns=HOURLY_COLUMNS)
    data["hour"] = pd.to_datetime(data["hour"], utc=True)
    for c in HOURLY_COLUMNS[3:]:
        data[c] = pd.to_numeric(data[c], errors="coerce")
    data["n"] = data["n"].fillna(0)
    return data


def _end(hour: Any) -> datetime:
    return (pd.Timestamp(hour) + pd.Timedelta(hours=1)).to_pydatetime()


def _zone(row: pd.Series) -> str | None:
    z = row["zone"]
    return None if z is None or (isinstance(z, float) and pd.isna(z)) else str(z)
