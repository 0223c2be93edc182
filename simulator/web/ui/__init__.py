"""The web UI at `/`: server-rendered Jinja2 pages with small hand-written JS (no CDN, works offline),
one module per page group:

- `traffic` (`/`): recorded exchanges, live over server-sent events; `exchange`: one exchange in detail.
- `config` (`/ui/config`): routes, agreements and fault injection (editable), services, systems;
  `config_files`: their export and import as YAML route files.
- `ky`, `beskedfordeler`, `sortiment`: the components' state, read through their own services; `timeline`
  (`/ui/ky/accounts/{uuid}`): one debtor account's whole story, and the search that finds it.
- `scenarios` (`/ui/scenarios`): readiness checks, replays and recordings, their runs and reports; `nearmiss`:
  a run's steps with the calls that came closest to one that never came, and the agreements nearest to a
  call refused for its agreement.
- `apidocs`: `/docs` and `/redoc` from local assets (offline).
- `login`: static files, and the admin login when SIMULATOR_ADMIN_TOKEN is set; `fallback`: the HTML 404 page.
"""

from __future__ import annotations

from fastapi import APIRouter

from simulator.web.ui import (
    apidocs,
    beskedfordeler,
    config,
    config_files,
    exchange,
    fallback,
    ky,
    login,
    nearmiss,
    readiness,
    scenarios,
    sortiment,
    timeline,
    traffic,
)
from simulator.web.ui.sortiment import sortiment_diff
from simulator.web.ui.traffic import TrafficFeed, feed_of
from simulator.web.ui.xml import highlight_xml, pretty_xml

router = APIRouter(include_in_schema=False)
PAGES = (
    apidocs,
    login,
    traffic,
    exchange,
    config,
    config_files,
    ky,
    timeline,
    beskedfordeler,
    sortiment,
    scenarios,
    readiness,
    nearmiss,
)
for part in PAGES:
    router.include_router(part.router)
router.include_router(fallback.router)  # last: an unknown /ui/... path answers the HTML 404 page

__all__ = ["TrafficFeed", "feed_of", "highlight_xml", "pretty_xml", "router", "sortiment_diff"]
