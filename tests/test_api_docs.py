"""The API docs page works on a closed network: every asset it loads is served by the app itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_docs_page_loads_only_vendored_assets(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text) + re.findall(
        r"""url: ?['"]([^'"]+)['"]""", page.text
    )
    assert urls, "the docs page names no assets"
    for url in urls:
        assert url.startswith("/"), f"/docs loads {url} from outside the service"
        assert client.get(url).status_code == 200, url
    assert client.get("/redoc").status_code == 404  # ReDoc would need a CDN: off
