"""``python -m ingest``: one ingest process, exactly as ``cityhub ingest`` runs it, without
loading every other command of the ``cityhub`` entry point (their imports cost seconds of
CPU and tens of MB per process). The supervisor of ``cityhub ingest --workers N`` starts
its workers so (ingest/workers.py)."""

from __future__ import annotations

import sys

from hub.errors import HubError
from hub.logs import configure_logging
from hub.settings import load_settings


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log_level, settings.log_format)
        from hub.cli.common import service_settings
        from ingest.runner import run_ingest

        run_ingest(service_settings())
    except HubError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
