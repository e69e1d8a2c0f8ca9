"""Exceptions raised by the hub.

    HubError
     ├── ConfigError          bad or missing settings; the service must not start
     ├── DatabaseUnavailable  the database cannot be reached (retry later)
     ├── MigrationError       a migration failed or the schema is not as expected
     ├── CatalogueError       the device-kind catalogue is malformed
     ├── PseudonymKeyError    the pseudonymisation key file is missing or malformed
     ├── InvalidInput         a value given by a user is not acceptable
     ├── NotFound             a named object does not exist
     ├── AlreadyExists        an object with that name exists already
     └── Conflict             the object's current state does not allow the request

Library errors (psycopg, pydantic) are translated into these at the edge with
``raise … from exc`` so callers never match on message text.
"""


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    pass


class DatabaseUnavailable(HubError):
    pass


class MigrationError(HubError):
    pass


class CatalogueError(HubError):
    pass


class PseudonymKeyError(HubError):
    pass


class InvalidInput(HubError):
    pass


class NotFound(HubError):
    pass


class AlreadyExists(HubError):
    pass


class Conflict(HubError):
    pass
