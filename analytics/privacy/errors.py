"""Errors of anonymised releases.

    hub.errors.HubError
     └── PrivacyError              base of every error of analytics.privacy
          ├── BadReleaseParams     a params file or option is missing or wrong (also InvalidInput, 400)
          ├── ReleaseRefused       a release would not be safe or lawful: linkage attack above its
          │                        threshold, processing period already ended (also Conflict, 409)
          ├── UnknownRelease       no such dataset method or release (also NotFound, 404)
          └── VerificationFailed   an independent check found a published table unsafe
"""

from __future__ import annotations

from hub.errors import Conflict, HubError, InvalidInput, NotFound


class PrivacyError(HubError):
    """Base of the errors raised by analytics.privacy."""


class BadReleaseParams(PrivacyError, InvalidInput):
    pass


class ReleaseRefused(PrivacyError, Conflict):
    pass


class UnknownRelease(PrivacyError, NotFound):
    pass


class VerificationFailed(PrivacyError):
    pass
