"""The dashboard's pages: static HTML shells whose scripts fetch the JSON in ``review.py``.

No templates and no build step: the pages, styles and scripts live in ``api/static``, and the
chart library is the ``plotly.min.js`` that ships inside the ``plotly`` Python package, served
from here so the dashboard works offline.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PREFIX = "/dashboard/static"
# an HTML shell is tiny and names no versioned asset, so it is always revalidated
NO_CACHE = {"Cache-Control": "no-cache"}
# no other site may frame the pages (clickjacking a person holding an admin key in the page)
PAGE_HEADERS = NO_CACHE | {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

router = APIRouter(include_in_schema=False)
static_files = StaticFiles(directory=STATIC_DIR)


@cache
def plotly_js() -> Path:
    """The minified Plotly.js bundled with the installed ``plotly`` package."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get("/")
@router.get("/dashboard")
def overview_page() -> FileResponse:
    """Every service at a glance."""
    return FileResponse(STATIC_DIR / "overview.html", headers=PAGE_HEADERS)


@router.get("/dashboard/services/{name}")
def service_page(name: str) -> FileResponse:
    """One service: chart, forecast review, plan reasons, leaderboard, events, actuations.

    Any name gets the page: it says itself when no service has that name (or could have)."""
    return FileResponse(STATIC_DIR / "service.html", headers=PAGE_HEADERS)


@router.get(f"{STATIC_PREFIX}/plotly.min.js")
def plotly_asset() -> FileResponse:
    """Plotly.js from the installed package (it changes only when the package does)."""
    return FileResponse(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )
