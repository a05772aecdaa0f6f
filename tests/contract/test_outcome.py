"""contract.events.attempt_outcome: the one rule that gives an attempt its outcome."""

import socket

from hypothesis import given, strategies as st

from contract.events import OUTCOMES, attempt_outcome


class ReadTimeout(Exception):  # as httpx names its timeouts
    pass


class Timeout(BaseException):  # as gevent names its own (a BaseException)
    pass


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no text")


FAILURES = [None, ConnectionRefusedError("refused"), ConnectionResetError("reset"),
            TimeoutError("timed out"), socket.timeout(), ReadTimeout(), Timeout(),
            OSError("connect timed out"), Unprintable(), ValueError("bad framing")]
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@given(st.integers(), st.sampled_from(FAILURES), JSON | st.binary(max_size=8), st.booleans(),
       st.booleans())
def test_the_rule_only_answers_with_a_member_of_outcomes(status, failure, answer_id, whole,
                                                          ended):
    assert attempt_outcome(status, failure, answer_id, body_whole=whole,
                           stream_ended=ended) in OUTCOMES


def test_statuses():
    by_status = {200: "ok", 204: "ok", 400: "invalid", 401: "unauthorized", 403: "forbidden",
                 404: "not_found", 422: "invalid", 429: "rate_limited", 503: "unavailable",
                 500: "server_error", 502: "server_error", 302: "invalid", 418: "invalid"}
    for status, outcome in by_status.items():
        assert attempt_outcome(status, None, "req_1") == outcome, status


def test_a_2xx_is_ok_only_whole_with_a_string_id_and_ended():
    assert attempt_outcome(200, None, "req_1") == "ok"
    for answer_id in (None, "", 7, ["req_1"], {"id": "x"}, b"req_1", True):
        assert attempt_outcome(200, None, answer_id) == "bad_response", answer_id
    assert attempt_outcome(200, None, "req_1", body_whole=False) == "bad_response"
    assert attempt_outcome(200, None, "req_1", stream_ended=False) == "transport_error"
    # an HTTP error keeps its own outcome whatever its body held
    assert attempt_outcome(429, None, None, body_whole=False) == "rate_limited"


def test_what_broke_the_attempt_off_decides_before_the_status():
    assert attempt_outcome(0) == "transport_error"  # no response, nothing said why
    assert attempt_outcome(0, ConnectionRefusedError("refused")) == "transport_error"
    for timed_out in (TimeoutError(), socket.timeout(), ReadTimeout(), Timeout(),
                      OSError("connect timed out")):
        assert attempt_outcome(0, timed_out) == "timeout", timed_out
    # a body that stopped coming: the status line had arrived
    assert attempt_outcome(200, ConnectionResetError("reset"), "req_1") == "transport_error"
    assert attempt_outcome(429, Timeout()) == "timeout"
    assert attempt_outcome(0, Unprintable()) == "transport_error"
