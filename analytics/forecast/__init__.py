"""PM2.5 forecasts per station, 1 to 6 hours ahead, and the pre-alert they raise.

Pure parts: :mod:`.features` (lags, calendar, zone and city means from hourly means),
:mod:`.model` (one gradient-boosting regressor per horizon, scored against persistence on
a held-out tail or any later range), :mod:`.prealert` (a forecast over the advisory level
becomes an occurrence), :mod:`.simulated` (hourly history from the device simulator). I/O:
:mod:`.db` (hourly means in, forecasts out), :mod:`.train` (history → model store, and a
stored model scored on a range), :mod:`.live` (the analytics service's hourly step),
:mod:`.cli` (`cityhub analytics forecast …`). docs/analytics.md, "Forecasts", says how.

Exceptions::

    ForecastError                 anything this package refuses, with the reason
     ├── NotEnoughHistory         too few hourly means to train or score a model
     └── NoModel                  no trained model in the store yet
"""

from __future__ import annotations

from hub.errors import HubError


class ForecastError(HubError):
    """A forecast could not be trained or made; the message says why."""


class NotEnoughHistory(ForecastError):
    pass


class NoModel(ForecastError):
    pass
