"""Whatever body arrives, the gateway answers with a 4xx or a 200, never a 500."""

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from .helpers import ALICE, auth

scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=8), inner, max_size=3), max_leaves=10)
messages = st.lists(st.fixed_dictionaries({}, optional={
    "role": st.sampled_from(["user", "system", "assistant", "robot"]) | json_values,
    "content": st.text(max_size=30) | json_values}), max_size=3)
bodies = st.fixed_dictionaries({}, optional={
    "model": st.sampled_from(["llama3.2:1b", "llama3.2:3b", "llama-3.2-3b", ""]) | json_values,
    "messages": messages | json_values,
    "temperature": st.floats(-1, 3, allow_nan=False) | json_values,
    "max_tokens": st.integers(-5, 5000) | json_values,
    "stream": st.booleans() | json_values,
    "top_p": st.floats(-1, 2, allow_nan=False) | json_values,
    "n": st.integers(0, 3),
}) | json_values


@pytest.fixture(scope="module")
def client(module_gateway_factory):
    gw = module_gateway_factory("default", ["quota.algorithm='none'", "latency.ttft_ms=0",
                                            "latency.per_token_ms=0", "nodes.slots=100"])
    with httpx.Client(base_url=gw.base_url, timeout=10) as c:
        yield c


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_any_json_body_gets_a_4xx_or_200(client, body):
    r = client.post("/chat/completions", content=json.dumps(body),
                    headers=auth(ALICE) | {"content-type": "application/json"})
    assert r.status_code in (200, 404, 422), (r.status_code, r.text)
    if r.status_code == 422:
        assert all(d["loc"][0] == "body" for d in r.json()["detail"])
    if r.status_code == 200 and not (isinstance(body, dict) and body.get("stream") is True):
        assert r.json()["request_id"]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_any_bytes_get_a_4xx_or_200(client, raw):
    r = client.post("/chat/completions", content=raw,
                    headers=auth(ALICE) | {"content-type": "application/json"})
    assert r.status_code in (200, 404, 422)
