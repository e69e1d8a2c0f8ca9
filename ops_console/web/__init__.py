"""The operations-centre page, served by the console itself so it works offline.

``install(app)`` adds ``GET /`` (the page), ``/static`` (our scripts, styles,
translations, zone shapes) and ``/vendor/…`` (only the needed folders of the npm
packages installed into ops_console/web/node_modules by ``npm ci`` at setup).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from ops_console.auth import public

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
MODULES = WEB_DIR / "node_modules"
# URL path → folder inside node_modules: the only third-party files the page loads.
VENDOR = {
    "uplot": "uplot/dist",
    "noto-sans-kr": "@fontsource/noto-sans-kr",
}

_MISSING = """<!doctype html><meta charset="utf-8"><title>cityhub</title>
<p>The console's front-end packages are not installed. Run <code>make run</code>, or
<code>npm ci</code> in ops_console/web, and restart the console.</p>"""


def install(app: FastAPI) -> None:
    missing = [name for name, folder in VENDOR.items() if not (MODULES / folder).is_dir()]
    if missing:
        log.warning("web page: npm packages missing (%s); run `npm ci` in %s", ", ".join(missing), WEB_DIR)

    @app.get("/", include_in_schema=False, dependencies=[Depends(public())], response_model=None)
    async def page() -> FileResponse | HTMLResponse:
        if missing:
            return HTMLResponse(_MISSING, status_code=503)
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for name, folder in VENDOR.items():
        if name not in missing:
            app.mount(f"/vendor/{name}", StaticFiles(directory=MODULES / folder), name=f"vendor-{name}")
