"""Checks 1 and 2, the base URL and the key, each bad case on its own against a real gateway."""

import socket
import subprocess
import sys

import pytest

from ..runs import ROOT, env_without_target
from .helpers import GOOD_KEY, line, run_doctor


@pytest.fixture(scope="module")
def gateway(module_gateway_factory):
    return module_gateway_factory("default")


def test_good_key_passes_with_exit_0_from_the_command_line(gateway):
    env = env_without_target(PINAIVU_BASE_URL=gateway.base_url, PINAIVU_API_KEY=GOOD_KEY)
    proc = subprocess.run([sys.executable, "-m", "doctor"], env=env, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all checks passed" in proc.stdout
    for name in ("base URL", "API key", "models", "model id", "completion", "429/503"):
        assert line(proc.stdout, f"PASS {name}:")
    assert GOOD_KEY not in proc.stdout + proc.stderr
    assert "request_id req_" in proc.stdout


def test_openai_base_url_fails_and_nothing_is_contacted(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("the doctor must not open a connection here")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    code, out = run_doctor("https://api.openai.com/v1")
    assert code == 1
    assert attempts == []
    assert "api.openai.com" in line(out, "FAIL base URL:")
    assert "set base_url (Python) or baseURL (Node.js)" in out
    assert "https://api.pinaivu.com/v1" in out
    for name in ("models", "model id", "completion", "429/503"):
        assert "skipped because the base URL points at api.openai.com" in \
            line(out, f"SKIP {name}:")


def test_base_url_without_v1_fails_and_says_the_host_answers_with_it(gateway):
    code, out = run_doctor(gateway.root_url)
    assert code == 1
    assert "does not end in /v1" in line(out, "FAIL base URL:")
    assert f"set PINAIVU_BASE_URL to {gateway.base_url}" in out
    assert f"the same host answers GET {gateway.base_url}/models" in out
    # The rest is checked at the URL that works, so every other check can pass.
    assert line(out, "PASS completion:")


def test_missing_key_fails_and_says_how_to_set_it(gateway):
    code, out = run_doctor(gateway.base_url, None)
    assert code == 1
    assert "no API key" in line(out, "FAIL API key:")
    assert "export PINAIVU_API_KEY=" in out
    assert "the gateway answers" in line(out, "INFO models:")
    assert "skipped because the API key check failed" in line(out, "SKIP completion:")


@pytest.mark.parametrize("key, where", [
    (GOOD_KEY + "\n", "trailing newline"),
    (" " + GOOD_KEY, "leading whitespace"),
    (GOOD_KEY[:7] + " " + GOOD_KEY[7:], "inner whitespace"),
])
def test_key_with_whitespace_fails_as_copied_with_extra_whitespace(gateway, key, where):
    code, out = run_doctor(gateway.base_url, key)
    assert code == 1
    verdict = line(out, "FAIL API key:")
    assert where in verdict and "copied with extra whitespace" in verdict
    assert "copy the key again" in out


def test_first_of_the_key_list_is_checked_when_no_single_key(gateway):
    code, out = run_doctor(gateway.base_url, None, PINAIVU_API_KEYS="pk-demo-revoked,"
                           + GOOD_KEY)
    assert code == 1
    assert "PINAIVU_API_KEYS holds 2 keys; the doctor checks the first" in out
    assert "401 Unauthorized" in line(out, "FAIL models:")


@pytest.mark.parametrize("args", [["--timeout", "0"], ["--timeout", "soon"], ["--model", ""],
                                  ["--bogus"]])
def test_usage_errors_exit_2(args, capsys):
    code, out = run_doctor(None, None, *args)
    assert code == 2 and out == ""
    assert "usage:" in capsys.readouterr().err
