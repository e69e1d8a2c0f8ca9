"""REST routers; each module exposes ``router`` under /api/v1/<topic>."""
