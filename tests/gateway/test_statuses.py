"""Every status the gateway answers, with its body and headers, over real HTTP."""

import httpx
import pytest

from .helpers import ALICE, BODY, BOB, EXPIRED, REVOKED, SCOPED, auth, chat

# A quota that no test here reaches, short latency: the statuses other than 429 and 503.
OPEN = ["quota.limit=100000", "latency.ttft_ms=5", "latency.per_token_ms=0"]


@pytest.fixture(scope="module")
def client(module_gateway_factory):
    gw = module_gateway_factory("default", OPEN)
    with httpx.Client(base_url=gw.base_url, timeout=10) as c:
        yield c


def test_models_list(client):
    r = client.get("/models", headers=auth(ALICE))
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["llama3.2:1b", "llama3.2:3b"]
    assert client.get("/models").status_code == 401


def test_completion_has_request_id_in_body_and_header(client):
    r = chat(client)
    assert r.status_code == 200
    body = r.json()
    assert body["request_id"].startswith("req_")
    assert r.headers["x-request-id"] == body["request_id"]
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] == 16
    ids = {chat(client).json()["request_id"] for _ in range(20)}
    assert len(ids) == 20


def test_max_tokens_bounds_output(client):
    r = chat(client, body=BODY | {"max_tokens": 3})
    assert r.json()["usage"]["completion_tokens"] == 3
    assert r.json()["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_authorization"),
    ({"Authorization": f"Bearer  {ALICE}"}, "malformed_authorization"),
    ({"Authorization": f"bearer {ALICE}"}, "malformed_authorization"),
    ({"Authorization": ALICE}, "malformed_authorization"),
    ({"Authorization": f"Bearer\t{ALICE}"}, "malformed_authorization"),
    ({"Authorization": f"Bearer {ALICE[:4]}\t{ALICE[4:]}"}, "malformed_authorization"),
    ({"Authorization": "Bearer pk-not-a-real-key"}, "invalid_api_key"),
    (auth(REVOKED), "revoked_api_key"),
    (auth(EXPIRED), "expired_api_key"),
])
def test_401_names_its_cause(client, headers, code):
    r = chat(client, key=None, headers=headers)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == code and err["type"] == "authentication_error" and err["message"]
    assert "request_id" not in r.json()
    assert ALICE not in r.text and "pk-not-a-real-key" not in r.text  # keys never echoed


def test_403_for_key_scoped_to_another_model(client):
    assert chat(client, SCOPED, body=BODY | {"model": "llama3.2:1b"}).status_code == 200
    r = chat(client, SCOPED)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "model_not_permitted"
    assert "llama3.2:3b" in r.json()["error"]["message"]


def test_404_names_bad_model_and_points_at_models(client):
    r = chat(client, body=BODY | {"model": "llama-3.2-3b"})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model"
    assert "llama-3.2-3b" in err["message"] and "/v1/models" in err["message"]


@pytest.mark.parametrize("body, loc", [
    ({"messages": BODY["messages"]}, ["body", "model"]),
    (BODY | {"messages": [{"content": "hi"}]}, ["body", "messages", 0, "role"]),
    (BODY | {"messages": [{"role": "user"}]}, ["body", "messages", 0, "content"]),
    (BODY | {"messages": []}, ["body", "messages"]),
    (BODY | {"temperature": 2.5}, ["body", "temperature"]),
    (BODY | {"temperature": -0.1}, ["body", "temperature"]),
    (BODY | {"temperature": "0.5"}, ["body", "temperature"]),
    (BODY | {"max_tokens": 0}, ["body", "max_tokens"]),
    (BODY | {"max_tokens": 100000}, ["body", "max_tokens"]),
    (BODY | {"max_tokens": 1.5}, ["body", "max_tokens"]),
    (BODY | {"model": 3}, ["body", "model"]),
    (BODY | {"stream": "yes"}, ["body", "stream"]),
    (b"{not json", ["body"]),
    (b"[1, 2]", ["body"]),
])
def test_422_detail_names_the_field(client, body, loc):
    r = chat(client, body=body)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert any(d["loc"] == loc for d in detail), detail
    assert all(d["msg"] and d["type"] for d in detail)


def test_integer_temperature_is_a_number(client):
    assert chat(client, body=BODY | {"temperature": 1}).status_code == 200


def test_unknown_route_is_404(client):
    assert client.get("/nothing", headers=auth(BOB)).status_code == 404
