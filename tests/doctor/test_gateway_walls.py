"""Checks 3 to 5 against real servers: each wall of the troubleshooting page on its own."""

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway.launch import free_port
from .helpers import GOOD_KEY, line, run_doctor

BADSERVER = Path(__file__).resolve().parents[1] / "locustfiles" / "badserver.py"


@pytest.fixture(scope="module")
def gateway(module_gateway_factory):
    return module_gateway_factory("default")


@pytest.mark.parametrize("key, word", [("pk-demo-revoked", "revoked"),
                                       ("pk-demo-expired", "expired")])
def test_refused_key_fails_with_401_and_the_regenerate_remedy(gateway, key, word):
    code, out = run_doctor(gateway.base_url, key)
    assert code == 1
    verdict = line(out, "FAIL models:")
    assert "401 Unauthorized" in verdict and word in verdict  # the gateway's own reason
    assert "missing, malformed (e.g. copied with extra whitespace), revoked or expired" in out
    assert "'Authorization: Bearer <key>'" in out
    assert "dashboard at https://api.pinaivu.com, revoke the old key under API Keys" in out
    assert "401 means the request reached the API without a valid API key; 403 means" in out
    assert "skipped because the key was refused (401)" in line(out, "SKIP completion:")


def test_key_scoped_to_another_model_fails_with_403(gateway):
    code, out = run_doctor(gateway.base_url, "pk-demo-scoped-1b")
    assert code == 1
    assert line(out, "PASS models:")
    verdict = line(out, "FAIL completion:")
    assert "403 Forbidden" in verdict and "may not use model llama3.2:3b" in verdict
    assert "recognised but lacks permission" in out
    assert "other active ids: llama3.2:1b" in out


def test_model_id_typo_suggests_the_active_id(gateway):
    code, out = run_doctor(gateway.base_url, GOOD_KEY, "--model", "llama-3.2-3b")
    assert code == 1
    verdict = line(out, "FAIL model id:")
    assert "'llama-3.2-3b' is not an active model id" in verdict
    assert "llama3.2:1b, llama3.2:3b" in verdict
    assert "did you mean llama3.2:3b?" in out
    assert "use an id field verbatim" in out


def test_model_from_the_environment_is_the_default(gateway):
    code, out = run_doctor(gateway.base_url, GOOD_KEY, PINAIVU_MODEL="llama3.2:1b")
    assert code == 0, out
    assert "200 OK from llama3.2:1b" in line(out, "PASS completion:")


def test_dead_server_fails_as_connection_refused():
    code, out = run_doctor(f"http://127.0.0.1:{free_port()}/v1")
    assert code == 1
    assert "connection refused" in line(out, "FAIL models:")
    assert "is the gateway running, and is the base URL" in out
    assert "skipped because the gateway cannot be reached" in line(out, "SKIP completion:")


@pytest.fixture
def no_request_id_server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(BADSERVER), str(port), "no_request_id"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


def test_200_without_request_id_fails_as_missing_request_id(no_request_id_server):
    # badserver lists only llama3.2:1b.
    code, out = run_doctor(no_request_id_server, GOOD_KEY, "--model", "llama3.2:1b")
    assert code == 1
    assert "200 OK with a JSON body but no top-level request_id" in \
        line(out, "FAIL completion:")
    assert "the page's 'Missing request_id' case" in out
    assert "check the HTTP status first" in out


class EchoKeyHandler(BaseHTTPRequestHandler):
    """A careless gateway that repeats the refused key in its error message."""

    def do_GET(self):
        body = json.dumps({"error": {"message": "Incorrect API key provided: "
                                     + self.headers.get("authorization", "")}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_key_the_server_echoes_back_is_never_printed():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoKeyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # run_doctor asserts the key is absent from the output.
        code, out = run_doctor(f"http://127.0.0.1:{server.server_address[1]}/v1",
                               "pk-live-secret-0123456789")
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert "Incorrect API key provided: Bearer <key>" in line(out, "FAIL models:")
