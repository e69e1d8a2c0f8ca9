"""The anomaly-detection package's errors (library errors are translated where they occur)."""

from __future__ import annotations

from hub.errors import HubError, NotFound


class ModelError(HubError):
    """A model cannot be trained, stored or loaded."""


class ModelNotFound(ModelError, NotFound):
    """No stored model of that name (and version)."""


class NotEnoughHistory(ModelError):
    """The training range holds too little data to fit a model."""
