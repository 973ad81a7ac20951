"""The test helpers others build on (saferefer_server.testing and the root conftest)."""

from __future__ import annotations

import httpx
import psycopg
from saferefer_server.testing import DemoServer, client_assertion, postgres_server, token_form


def test_demo_server_credentials_get_tokens(demo_server: DemoServer) -> None:
    credentials = demo_server.credentials("urn:saferefer:org:MD:demo-embassy")
    assert credentials.base_url == demo_server.base_url
    response = httpx.post(
        f"{demo_server.base_url}/oauth/token", data=token_form(client_assertion(credentials))
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "role:embassy_of_origin"


def test_postgres_server_starts_and_is_removed() -> None:
    with postgres_server() as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select current_database()").fetchone() == ("saferefer",)
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        return
    raise AssertionError("the PostgreSQL server is still running after the context exited")
