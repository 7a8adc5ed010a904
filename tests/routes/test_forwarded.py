"""The client address and scheme believed only from TRUSTED_PROXIES, and the limit on them."""

from __future__ import annotations

import ipaddress
import json
import socket

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from config import server
from config.settings import Settings, parse_networks
from controllers.rate_limits import address_key
from routes.forwarded import TrustedProxies
from tests.support.app_client import SettingsFactory, serve

pytestmark = pytest.mark.anyio

ALB = ("10.0.3.17", 51000)
VPC = "10.0.0.0/16"


async def post_bad(client: httpx.AsyncClient, forwarded_for: str) -> httpx.Response:
    """A POST whose body is not JSON: it counts against the limit and needs no database."""
    return await client.post(
        "/api/register",
        content=b"{",
        headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for},
    )


def proxies(text: str = VPC) -> TrustedProxies:
    return TrustedProxies(parse_networks(text))


def test_the_client_is_the_entry_the_trusted_proxy_appended() -> None:
    # The client wrote the first two entries; the ALB appended the third.
    assert proxies().client_from(["1.2.3.4", " 10.0.9.9", " 198.51.100.7"]) == "198.51.100.7"
    # A chain of trusted proxies is walked through to the first address outside it.
    assert proxies().client_from(["6.6.6.6", "198.51.100.7", "10.0.1.1"]) == "198.51.100.7"
    assert proxies().client_from(["2001:db8::1"]) == "2001:db8::1"


def test_a_malformed_entry_stops_the_walk_at_the_last_trusted_hop() -> None:
    assert proxies().client_from(["198.51.100.7", "not-an-ip", "10.0.1.1"]) == "10.0.1.1"
    assert proxies().client_from([]) is None


async def test_a_flood_through_the_trusted_proxy_is_limited_per_client_address(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(trusted_proxies=VPC, rate_limit_register="3/minute")
    clients = [f"198.51.100.{n}" for n in range(1, 41)]
    async with serve(settings, peer=ALB) as client:
        answers = {
            # The client's own guess comes first; the ALB appends the real one.
            address: [await post_bad(client, f"6.6.6.6, {address}") for _ in range(4)]
            for address in clients
        }
    for address in clients:
        assert [a.status_code for a in answers[address]] == [400, 400, 400, 429], address
        refused = answers[address][3]
        assert refused.json() == {"error": "Too many requests, please try again later"}
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    logged = {line["client"] for line in lines if line.get("path") == "/api/register"}
    assert logged == set(clients)


async def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(trusted_proxies=VPC, rate_limit_register="3/minute")
    async with serve(settings, peer=("203.0.113.9", 40000)) as client:
        statuses = [(await post_bad(client, f"198.51.100.{n}")).status_code for n in range(6)]
    assert statuses == [400, 400, 400, 429, 429, 429]


async def test_without_trusted_proxies_the_header_is_ignored(
    make_settings: SettingsFactory,
) -> None:
    # The default: locally, the client is the socket's peer.
    settings = make_settings(rate_limit_register="2/minute")
    async with serve(settings, peer=ALB) as client:
        statuses = [(await post_bad(client, f"198.51.100.{n}")).status_code for n in range(3)]
    assert statuses == [400, 400, 429]


def test_the_scheme_comes_from_a_trusted_proxy_only() -> None:
    seen: list[str] = []
    trusted = proxies()
    for peer in (ALB, ("203.0.113.9", 1)):
        scope: dict[str, object] = {
            "type": "http",
            "scheme": "http",
            "client": peer,
            "headers": [(b"x-forwarded-proto", b"https")],
        }
        trusted.resolve(scope)
        seen.append(str(scope["scheme"]))
    assert seen == ["https", "http"]


def test_ipv6_clients_share_their_64() -> None:
    one = address_key("2001:db8:1:2:aaaa::1")
    assert one == address_key("2001:db8:1:2:ffff::9")
    assert one != address_key("2001:db8:1:3::1")
    assert ipaddress.ip_address(address_key("198.51.100.7"))


def test_uvicorn_rewrites_no_client_from_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    configs: list[uvicorn.Config] = []

    class Recorder:
        def __init__(self, config: uvicorn.Config) -> None:
            configs.append(config)

        def run(self, sockets: object = None) -> None:
            """Serves nothing: only the configuration is under test."""

    monkeypatch.setattr(server, "DrainingServer", Recorder)
    with socket.socket() as sock:
        server.serve(Starlette(), Settings(), sock)

    [config] = configs
    assert config.proxy_headers is False


async def test_hsts_only_over_https_as_the_trusted_proxy_says(
    make_settings: SettingsFactory,
) -> None:
    settings = make_settings(trusted_proxies=VPC)
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
    async with serve(settings, peer=ALB) as client:
        secure = await client.get("/health", headers=https)
        plain = await client.get("/health", headers={**https, "X-Forwarded-Proto": "http"})
    async with serve(settings, peer=("203.0.113.9", 40000)) as client:
        spoofed = await client.get("/health", headers=https)
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")
    assert "strict-transport-security" not in plain.headers
    assert "strict-transport-security" not in spoofed.headers
