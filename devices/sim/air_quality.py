"""Air-quality stations: PM10, PM2.5, O3, NO2, CO, SO2, temperature, humidity. Pure.

Designed shape (Seoul local time):

- traffic pollutants (NO2, CO, and the traffic share of PM) peak at 08:00 and 19:00,
  and fall to about 80 % at weekends;
- ozone is photochemical: it peaks at 15:00, higher in summer;
- temperature peaks at 15:00 and bottoms at 03:00, with a yearly cycle (about -2 °C
  in January, 26 °C in July); humidity mirrors it;
- a spatial field: PM rises towards the west (the side dust and the Incheon industry
  come from), NO2 towards the dense centre; each station adds its own fixed offset;
- episodes, from ground-truth anomalies: an Asian-dust plume that crosses the city
  from west to east (each station sees it later by its distance / plume speed), and a
  summer ozone afternoon.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from devices.sim.clock import bump, day_of_year, local_hour, weekday
from devices.sim.fleet import SimDevice
from devices.sim.schedule import Anomaly
from devices.sim.zones import CENTRE_LON, KM_PER_DEG_LON, WEST_LON, distance_km

METRICS = ("pm10", "pm25", "o3", "no2", "co", "so2", "temperature", "humidity")


@dataclass(frozen=True, slots=True)
class Station:
    """The fixed character of one station: where it is and its offsets."""

    pm: float  # multiplier of particulate levels
    no2: float
    o3: float
    temp: float  # °C offset
    west_km: float  # distance east of the city's western edge

    @classmethod
    def of(cls, device: SimDevice, rng: random.Random) -> Station:
        west_east = (device.lon - CENTRE_LON) * KM_PER_DEG_LON  # km, + east
        centre = distance_km(device.lat, device.lon)
        return cls(
            pm=(1.0 - 0.012 * west_east) * rng.uniform(0.85, 1.15),
            no2=max(0.5, 1.35 - 0.04 * centre) * rng.uniform(0.85, 1.15),
            o3=rng.uniform(0.9, 1.1),
            temp=-0.05 * centre + rng.uniform(-0.4, 0.4),
            west_km=max(0.0, (device.lon - WEST_LON) * KM_PER_DEG_LON),
        )


def trapezoid(x: float, length: float, ramp: float) -> float:
    """0 outside [0, length], rising and falling linearly over *ramp* at either end."""
    if x <= 0 or x >= length:
        return 0.0
    ramp = min(ramp, length / 2) or 1.0
    return min(1.0, x / ramp, (length - x) / ramp)


def dust_lag_s(station: Station, anomaly: Anomaly) -> float:
    """When the plume reaches a station after reaching the western edge."""
    return station.west_km / max(anomaly.number("speed_kmh", 20.0), 0.1) * 3600.0


def dust(station: Station, anomaly: Anomaly, t: float) -> float:
    """Extra PM10 (µg/m³) from an Asian-dust plume at this station."""
    x = t - anomaly.start - dust_lag_s(station, anomaly)
    length = anomaly.end - anomaly.start
    return anomaly.number("peak", 320.0) * trapezoid(x, length, anomaly.number("ramp_s", 5400.0))


def ozone(anomaly: Anomaly, t: float) -> float:
    """Extra O3 (ppm) of a photochemical episode: an afternoon bulge inside the window."""
    if not anomaly.active(t):
        return 0.0
    length = anomaly.end - anomaly.start
    return anomaly.number("peak", 0.16) * trapezoid(t - anomaly.start, length, length / 4)


def expected(station: Station, t: float) -> dict[str, float]:
    """The noise-free level of every metric at a station (no episodes)."""
    h = local_hour(t)
    week = 0.8 if weekday(t) >= 5 else 1.0
    traffic = 0.45 + week * (0.55 * bump(h, 8.0, 1.5) + 0.5 * bump(h, 19.0, 2.0))
    season = math.cos(2 * math.pi * (day_of_year(t) - 200) / 365.0)  # 1 in mid-July
    sun = bump(h, 15.0, 2.5) * (0.65 + 0.35 * season)
    temperature = 12.0 + 14.0 * season + 4.5 * math.cos(2 * math.pi * (h - 15.0) / 24.0) + station.temp
    no2 = 0.012 + 0.030 * traffic * station.no2
    pm10 = 18.0 + 32.0 * traffic * station.pm
    return {
        "pm10": pm10,
        "pm25": 0.55 * pm10,
        "o3": max(0.004, (0.008 + 0.055 * sun) * station.o3 - 0.25 * (no2 - 0.012)),
        "no2": no2,
        "co": 0.25 + 0.45 * traffic * station.no2,
        "so2": 0.0028 + 0.0008 * traffic,
        "temperature": temperature,
        "humidity": 62.0 + 8.0 * season - 16.0 * math.cos(2 * math.pi * (h - 15.0) / 24.0),
    }


class AirQualityModel:
    def __init__(self, devices: Sequence[SimDevice], seed: int) -> None:
        self.stations = {d.id: Station.of(d, random.Random(f"{seed}:aq:{d.id}")) for d in devices}

    def reading(self, device_id: str, t: float, rng: random.Random,
                anomalies: Sequence[Anomaly] = ()) -> dict[str, float]:
        station = self.stations[device_id]
        level = expected(station, t)
        gauss = rng.gauss
        pm10 = level["pm10"] * (1.0 + gauss(0, 0.08))
        pm25 = level["pm25"] * (1.0 + gauss(0, 0.08))
        o3 = level["o3"] * (1.0 + gauss(0, 0.06))
        for anomaly in anomalies:
            if anomaly.label == "asian_dust":
                coarse = dust(station, anomaly, t)
                pm10 += coarse
                pm25 += 0.22 * coarse  # dust is mostly coarse particles
            elif anomaly.label == "ozone_episode":
                o3 += ozone(anomaly, t)
        # Floors only: a sensor never reads exactly zero. The simulator keeps every value
        # inside the catalogue's range.
        return {
            "pm10": round(max(pm10, 1.0), 1),
            "pm25": round(max(pm25, 0.5), 1),
            "o3": round(max(o3, 0.001), 4),
            "no2": round(max(level["no2"] * (1.0 + gauss(0, 0.08)), 0.001), 4),
            "co": round(max(level["co"] * (1.0 + gauss(0, 0.06)), 0.05), 3),
            "so2": round(max(level["so2"] * (1.0 + gauss(0, 0.1)), 0.0005), 4),
            "temperature": round(level["temperature"] + gauss(0, 0.3), 1),
            "humidity": round(max(level["humidity"] + gauss(0, 2.0), 5.0), 1),
        }
