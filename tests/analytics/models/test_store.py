"""The model store on real PostgreSQL: versions, ranges, scores, the fitted object back."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sklearn.linear_model import LinearRegression

from analytics.models.errors import ModelNotFound
from analytics.models.store import latest_model, list_models, load_model, save_model
from tests.helpers import Conn

pytestmark = pytest.mark.integration


def test_saving_twice_makes_versions_and_the_newest_loads(db: Conn) -> None:
    name = f"test-{secrets.token_hex(4)}"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    first = LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])
    second = LinearRegression().fit([[0.0], [1.0]], [1.0, 4.0])
    v1 = save_model(db, name, first, trained_from=start, trained_to=start + timedelta(days=7),
                    scores={"mae": 0.5})
    v2 = save_model(db, name, second, trained_from=start, trained_to=start + timedelta(days=14),
                    scores={"mae": 0.25}, params={"features": ["x"]})
    assert (v1.version, v2.version) == (1, 2)
    loaded = latest_model(db, name)
    assert loaded is not None
    assert loaded.info.version == 2
    assert loaded.info.scores == {"mae": 0.25}
    assert loaded.info.params == {"features": ["x"]}
    assert loaded.info.trained_to == start + timedelta(days=14)
    assert loaded.model.predict([[2.0]])[0] == pytest.approx(7.0)
    assert load_model(db, name, 1).model.predict([[2.0]])[0] == pytest.approx(4.0)
    assert [m.version for m in list_models(db, name)] == [2, 1]


def test_an_unknown_model_is_reported_not_guessed(db: Conn) -> None:
    assert latest_model(db, "never-trained") is None
    with pytest.raises(ModelNotFound, match="cityhub analytics train"):
        load_model(db, "never-trained")
