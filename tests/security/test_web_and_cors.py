"""The page at / (public, with a Content-Security-Policy) and CORS (off unless configured)."""

from __future__ import annotations

from tests.security.conftest import ClientFactory

ORIGIN = "https://intranet.example"


def test_page_is_served_with_a_csp_and_needs_no_key(make_client: ClientFactory) -> None:
    with make_client(auth_mode="api_key", api_key="k" * 32) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<title>STT Gateway</title>" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/static/app.js").status_code == 200
        assert client.get("/static/pcm-worklet.js").status_code == 200
        assert client.get("/v1/models").status_code == 401  # the API still needs the key


def test_page_can_be_turned_off(make_client: ClientFactory) -> None:
    with make_client(web_ui_enabled=False) as client:
        assert client.get("/").status_code == 404
        assert client.get("/static/app.js").status_code == 404


def test_cors_is_off_by_default(make_client: ClientFactory) -> None:
    with make_client() as client:
        response = client.get("/v1/models", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in response.headers


def test_cors_allows_configured_origins_only(make_client: ClientFactory) -> None:
    with make_client(cors_origins=f"{ORIGIN}/, https://other.example") as client:
        preflight = client.options(
            "/v1/audio/transcriptions",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        response = client.get("/v1/models", headers={"Origin": ORIGIN})
        assert response.headers["access-control-allow-origin"] == ORIGIN
        stranger = client.get("/v1/models", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers
