"""The service is closed by default: a token, a Host allow-list, JSON bodies of bounded size, JSON answers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.abc
import httpx
import psutil
import pytest

from .server import ROOT, Service, running_service

pytestmark = pytest.mark.anyio

TOKEN = "a-token-for-the-tests-0123456789"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(tmp_path_factory.mktemp("service")) as service:
        yield service


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=service.url, headers=service.headers, timeout=30) as client:
        yield client


def assert_json_error(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["error"], str) and body["error"] and isinstance(body["details"], list)
    return body  # type: ignore[no-any-return]


async def test_every_endpoint_but_health_needs_the_token(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as anonymous:
        assert (await anonymous.get("/health")).json() == {"status": "ok"}
        for method, path in [("GET", "/jobs"), ("GET", "/jobs/x"), ("POST", "/jobs"), ("DELETE", "/jobs/x"),
                             ("GET", "/templates"), ("GET", "/openapi.json"), ("GET", "/events"), ("GET", "/nowhere")]:  # fmt: skip
            response = await anonymous.request(method, path)
            assert "authentication required" in str(assert_json_error(response, 401)["error"])
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await anonymous.get("/jobs", headers={"Authorization": "Bearer not-the-token"})
        assert "wrong" in str(assert_json_error(wrong, 401)["error"])


async def test_a_cross_site_simple_post_trains_nothing(service: Service, client: httpx.AsyncClient) -> None:
    form = {"content-type": "text/plain", "origin": "http://evil.example"}
    body = '{"template": "mlp", "params": {"epochs": 1}}'
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as page:  # a page has no token to send
        assert_json_error(await page.post("/jobs", content=body, headers=form), 401)
    assert_json_error(await client.post("/jobs", content=body, headers=form), 415)  # not even with it
    assert (await client.get("/jobs")).json()["jobs"] == []


async def test_a_foreign_host_is_refused(client: httpx.AsyncClient) -> None:
    for host in ("attacker.example", "attacker.example:8000", "127.0.0.1.nip.io"):
        assert "host" in str(assert_json_error(await client.get("/jobs", headers={"Host": host}), 400)["error"]).lower()
    assert (await client.get("/jobs", headers={"Host": "localhost:1"})).status_code == 200


async def test_a_body_streamed_past_the_limit_is_refused_without_being_read(service: Service) -> None:
    process = psutil.Process(service.process.pid)
    before = peak = process.memory_info().rss
    host, port = service.url.removeprefix("http://").split(":")
    chunk = b"x" * 65536
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent = 0
    head = (f"POST /jobs HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {service.token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")  # fmt: skip
    answer = b""

    async def send_until_cut_off(stream: anyio.abc.SocketStream) -> None:
        nonlocal sent, peak
        try:
            while sent < 512 * 2**20:
                await stream.send(frame)
                sent += len(chunk)
                if sent % (16 * len(chunk)) == 0:
                    peak = max(peak, process.memory_info().rss)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass  # the service closed the connection: it stopped reading

    with anyio.fail_after(60):
        async with await anyio.connect_tcp(host, int(port)) as stream, anyio.create_task_group() as tg:
            await stream.send(head.encode())
            tg.start_soon(send_until_cut_off, stream)
            try:  # read as the answer comes, before the connection is reset under the sender
                while b"}" not in answer:
                    answer += await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                pass
            tg.cancel_scope.cancel()
    peak = max(peak, process.memory_info().rss)
    # Closing with the flood still arriving, the service's kernel may reset the connection before
    # the 413 reaches the client: cut off, either way, long before the 512 MB it would have been.
    assert answer.startswith(b"HTTP/1.1 413") or answer == b"", answer[:200]
    assert sent < 64 * 2**20
    assert peak - before < 10 * 2**20, f"the service grew by {(peak - before) / 2**20:.1f} MB"

    # A client that sends just past the limit, then waits, is told why.
    with anyio.fail_after(30):
        async with await anyio.connect_tcp(host, int(port)) as stream:
            await stream.send(head.encode() + frame + b"%x\r\n%s\r\n" % (16, b"y" * 16))
            answer = b""
            with anyio.move_on_after(10):
                while b"}" not in answer:
                    answer += await stream.receive()
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error":"the body is larger than 65536 bytes"' in answer


async def test_a_body_declared_too_large_is_refused_at_once(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs", content=b"{}" * 40_000, headers={"content-type": "application/json"})
    assert_json_error(response, 413)


@pytest.mark.parametrize(
    "body",
    [
        b'{"template": "mlp", "params": {"epochs": 1' + b"0" * 5000 + b"}}",  # an integer of 5001 digits
        b'{"template": "mlp", "params": ' + b"[" * 1000 + b"]" * 1000 + b"}",  # nested 1000 deep
        b'{"template": "mlp", "params": {"\\ud800": 1}}',  # a lone surrogate in a key
        b'{"\\ud800": 1}',
        b'{"template": "mlp", "params": {"epochs": NaN}}',
        b'{"template": "mlp", "params": {"learning_rate": Infinity}}',
        b'{"template": "\\udfff"}',
        b"\xff\xfe",
    ],
)
async def test_bodies_that_used_to_answer_500_answer_422_and_the_connection_goes_on(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post("/jobs", content=body, headers={"content-type": "application/json"})
    assert_json_error(response, 422)
    assert (await client.get("/health")).status_code == 200  # the same keep-alive connection


async def test_routing_errors_answer_json(client: httpx.AsyncClient) -> None:
    assert_json_error(await client.get("/nowhere"), 404)
    assert_json_error(await client.put("/jobs"), 405)
    assert_json_error(await client.get("/jobs", params={"limit": "0"}), 422)
    for digit in ("\u00b2", "\u2460", "\u0663"):  # digits to str.isdigit(), not to int()
        assert_json_error(await client.get("/jobs", params={"offset": digit}), 422)
        assert_json_error(await client.get("/events", params={"last_event_id": digit}), 422)


async def test_the_dashboard_logs_in_with_a_strict_http_only_cookie(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as browser:
        assert_json_error(await browser.post("/login", json={"token": "wrong"}), 401)
        response = await browser.post("/login", json={"token": service.token})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and service.token not in cookie
        assert (await browser.get("/jobs")).status_code == 200
        await browser.post("/logout")
        assert_json_error(await browser.get("/jobs"), 401)


def test_the_token_is_generated_private_and_never_printed(service: Service, tmp_path: Path) -> None:
    token_file = Path(service.second_line.split("the token is in ")[1].split(";")[0])
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().strip() == service.token and service.token not in service.second_line


async def test_the_token_can_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    with running_service(tmp_path / "env", env={"TRAINER_SERVICE_TOKEN": TOKEN}) as service:
        assert "TRAINER_SERVICE_TOKEN" in service.second_line and not (tmp_path / "env" / "token").exists()
        assert httpx.get(f"{service.url}/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    token_file = tmp_path / "token.txt"
    token_file.write_text(TOKEN + "\n")
    with running_service(tmp_path / "file", "--token-file", str(token_file)) as service:
        assert httpx.get(f"{service.url}/jobs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_binding_beyond_loopback_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "TRAINER_SERVICE_TOKEN"}
    command = [sys.executable, "-m", "trainer.service", "--workdir", str(tmp_path), "--host", "0.0.0.0", "--port", "0"]
    finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert finished.returncode != 0 and finished.stdout == ""
    assert "refusing to bind 0.0.0.0" in finished.stderr and "--token-file" in finished.stderr
