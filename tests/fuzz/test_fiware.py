"""Properties of the FIWARE converter (ingest/fiware.py, hub/fiware_units.py): any
AirQualityObserved-shaped entity becomes a reading plus attributes refused one by one,
or a rejection, never an exception; a value sent in any unit the hub lists is stored as
the same quantity in the catalogue's unit."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.fiware_units import ATTRIBUTES, UNITS
from ingest import fiware
from ingest.messages import Rejection
from tests.fuzz.strategies import WORDS, documents, iso, scalars, timestamps
from tests.fuzz.world import CATALOGUE, DOCUMENTED, NOW

BOUNDS = {m.name: (m.min, m.max) for m in CATALOGUE.kinds["air_quality"].metrics.values()}
UNIT_WORDS = st.sampled_from(WORDS) | scalars()


def attribute() -> st.SearchStrategy[object]:
    value = scalars() | documents(4)
    return st.one_of(
        value,
        st.fixed_dictionaries({"value": value}, optional={"unitCode": UNIT_WORDS, "type": UNIT_WORDS}),
        st.fixed_dictionaries({"value": value, "metadata": st.fixed_dictionaries(
            {}, optional={"unitCode": UNIT_WORDS | st.fixed_dictionaries({"value": UNIT_WORDS})})}),
    )


ENTITIES = st.fixed_dictionaries(
    {"type": st.just(fiware.ENTITY_TYPE)},
    optional={"dateObserved": timestamps().map(lambda p: p[0]) | attribute(),
              **{name: attribute() for name in ATTRIBUTES}, "id": scalars(), "address": documents(4)},
)


@given(entity=ENTITIES)
# Found by this test: float() of an integer of 400 digits raised OverflowError.
@example(entity={"type": fiware.ENTITY_TYPE, "dateObserved": iso(NOW, 0), "pm10": 10**400})
@example(entity={"type": fiware.ENTITY_TYPE, "dateObserved": iso(NOW, 0), "co": {"value": -(10**400)}})
def test_any_entity_is_a_reading_with_refused_attributes_or_a_rejection(entity: dict[str, object]) -> None:
    converted = fiware.to_reading(entity, BOUNDS)
    if isinstance(converted, Rejection):
        assert converted.code in DOCUMENTED
        return
    reading, refused = converted
    assert {r.code for r in refused} <= {"out_of_range", "bad_unit", "bad_value"}
    assert "ts" in reading
    for metric, value in reading.items():
        if metric != "ts":
            assert isinstance(value, float)
            assert math.isfinite(value)
            assert BOUNDS[metric][0] <= value <= BOUNDS[metric][1]


@pytest.mark.parametrize("metric", sorted(UNITS))
@given(data=st.data())
def test_a_value_in_any_listed_unit_is_stored_as_the_same_quantity(metric: str, data: st.DataObject) -> None:
    attribute_name = next(a for a, m in ATTRIBUTES.items() if m == metric)
    unit = data.draw(st.sampled_from(sorted(UNITS[metric].values(), key=lambda u: u.code)))
    low, high = BOUNDS[metric]
    factor = unit.multiply / unit.divide
    sent = data.draw(st.floats(low / factor, high / factor))
    entity = {"type": fiware.ENTITY_TYPE, "dateObserved": iso(NOW, 540),
              attribute_name: {"type": "Property", "value": sent, "unitCode": unit.code}}
    converted = fiware.to_reading(entity, BOUNDS)
    expected = unit.convert(sent)
    if not low <= expected <= high:  # at the range's very ends rounding may step over them
        assert isinstance(converted, Rejection)
        assert converted.code == "out_of_range"
        return
    assert not isinstance(converted, Rejection)
    reading, refused = converted
    assert refused == []
    stored = reading[metric]
    assert isinstance(stored, float)
    assert stored == expected
    assert stored / factor == pytest.approx(sent, rel=1e-12, abs=1e-300)


@given(value=st.floats(0, 1))
def test_units_of_one_quantity_agree(value: float) -> None:
    """mg/m³ is 1000 µg/m³, ppm 1000 ppb, a fraction 100 %."""
    for metric in ("no2", "o3", "co", "so2"):
        units = UNITS[metric]
        assert units["GP"].convert(value) == pytest.approx(units["GQ"].convert(value * 1000))
        assert units["59"].convert(value) == pytest.approx(units["61"].convert(value * 1000))
    assert UNITS["pm10"]["GP"].convert(value) == pytest.approx(UNITS["pm10"]["GQ"].convert(value * 1000))
    humidity = UNITS["humidity"]
    assert humidity["C62"].convert(value) == pytest.approx(humidity["P1"].convert(value * 100))
