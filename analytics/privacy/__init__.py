"""Anonymised releases of personal data (smart meters, CCTV) into the open schema.

``method.py`` is the contract between the release framework (``release.py``) and each
release method (``meters.py``, ``cctv.py``); ``ledger.py`` keeps each dataset's epsilon
budget; ``cli.py`` is ``cityhub privacy``.
"""
