"""Reading a response body the way a hostile server cannot exploit: as it arrives, capped
(on the wire and inflated), with its own stall timeout, and timing a stream's tokens.

Locust's FastHttpUser buffers a whole body (`content`) and inflates it in one call, so a
gzip bomb takes the process's memory; iterating its `stream` waits for 4 KiB blocks, so a
stream's first token is seen only once the block fills (usually at the end). Here the body
is taken one socket read at a time from geventhttpclient's response, so each SSE event is
timed when it arrives and nothing past the cap is read or inflated.
"""

from __future__ import annotations

import json
import time
import zlib

import gevent

try:
    import brotli
except ImportError:  # pragma: no cover
    brotli = None

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024  # a 4096-token stream is about 1 MiB of SSE
DEFAULT_BODY_TIMEOUT_S = 30.0


class BodyTimeout(Exception):
    """No byte of the body arrived for the body timeout. (Not a TimeoutError: geventhttpclient
    takes socket errors, OSError, for its own; its name says timeout to contract's rule.)"""


class Body:
    """What was read of one body. `data` holds at most the cap, inflated."""

    __slots__ = ("data", "cut", "problem", "failure", "first_token", "last_token", "tokens",
                 "gap_sum", "gap_max")

    def __init__(self) -> None:
        self.data = b""
        self.cut = False  # longer than the cap: the rest was neither read nor inflated
        self.problem = ""  # why the body could not be read (a corrupt encoding, ...)
        self.failure: BaseException | None = None  # a stall or the socket's error, mid-body
        self.first_token = self.last_token = None  # perf_counter() of token events
        self.tokens, self.gap_sum, self.gap_max = 0, 0.0, 0.0

    def token_at(self, at: float) -> None:
        if self.last_token is None:
            self.first_token = at
        else:
            gap = at - self.last_token
            self.gap_sum += gap
            self.gap_max = max(self.gap_max, gap)
        self.last_token = at
        self.tokens += 1


def _inflaters(encoding: str, room: int):
    """One inflate step per content coding, in the order they are undone; each gives at most
    `room` bytes per call (zlib's max_length, brotli's output_buffer_limit)."""
    steps = []
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            steps.append(lambda data, n, d=d: d.decompress(data, n))
        elif coding == "deflate":  # zlib-wrapped as RFC 9110 says, or raw as some send it
            d = zlib.decompressobj(zlib.MAX_WBITS)
            steps.append(_deflate(d))
        elif coding == "br" and brotli is not None:
            b = brotli.Decompressor()
            steps.append(lambda data, n, b=b: b.process(data, output_buffer_limit=n))
        elif coding != "identity":
            raise ValueError(f"content-encoding {coding!r} is not one this harness reads")
    return steps


def _deflate(d):
    state = {"d": d, "first": True}

    def step(data: bytes, n: int) -> bytes:
        if state["first"] and data:
            state["first"] = False
            if data[0] & 0x0F != 8:  # no zlib header: raw deflate
                state["d"] = zlib.decompressobj(-zlib.MAX_WBITS)
        return state["d"].decompress(data, n)
    return step


def _release_broken(resp) -> None:
    """Close the connection of a body left unread (cut, stalled, broken): returned to the pool,
    the rest of it would be read as the next response."""
    pool, sock = getattr(resp, "_pool", None), getattr(resp, "_sock", None)
    resp._sock = None
    if hasattr(resp, "_pool"):
        resp._pool = None
    if sock is not None:
        if pool is not None:
            pool.release_socket(sock)
        else:
            sock.close()


def _pieces(resp, stall_s: float):
    """The body's bytes as they arrive: what the parser holds, then one socket read at a time.
    Raises BodyTimeout after `stall_s` without a byte, ConnectionError on an early close."""
    buf = resp._body_buffer
    while True:
        if buf:
            piece = bytes(buf)
            del buf[:]
            yield piece
            continue
        if resp.message_complete:
            return
        sock = resp._sock
        if sock is None:
            raise ConnectionError("connection closed before the end of the body")
        with gevent.Timeout(stall_s, BodyTimeout(f"no byte of the body for {stall_s:g} s "
                                                 "(--body-timeout)")):
            data = sock.recv(resp.block_size)
        resp.feed(data)  # b"": the close ends a body that runs to it, if that is its framing
        if not data and not buf and not resp.message_complete:
            raise ConnectionError("connection closed before the end of the body")


def read_body(response, *, max_bytes: int, stall_s: float, sse: bool) -> Body:
    """Read `response`'s body (a geventhttpclient response) into a Body, at most `max_bytes`
    of it on the wire and inflated. `sse`: time each event that carries a token.
    A stall (BodyTimeout) or the socket's error mid-body is kept in `failure`, with what had
    arrived before it; the connection is then closed, not reused."""
    body = Body()
    headers = response._headers_index
    encoding = headers.get("content-encoding") or ""
    if not isinstance(encoding, str):  # a repeated header: its lines, in order
        encoding = ", ".join(encoding)
    try:
        steps = _inflaters(encoding, max_bytes)
    except ValueError as exc:
        body.problem = str(exc)
        _release_broken(response)
        return body
    kept = bytearray()
    wire = 0
    pending = b""  # the SSE line being received
    done = False
    try:
        for piece in _pieces(response, stall_s):
            wire += len(piece)
            room = max_bytes - len(kept) + 1  # one byte more tells a cut body from a full one
            for step in steps:
                piece = step(piece, room)
            kept += piece
            if wire > max_bytes or len(kept) > max_bytes:
                del kept[max_bytes:]
                body.cut = True
                break
            if sse and piece:
                now = time.perf_counter()
                lines = (pending + piece).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if _is_token(line):
                        body.token_at(now)
        done = not body.cut
    except (zlib.error, brotli.error if brotli else zlib.error) as exc:
        body.problem = f"the body is not valid {encoding}: {exc}"
    except Exception as exc:  # a stall, the socket's or the parser's errors (bad framing)
        body.failure = exc
    finally:
        if not done:
            _release_broken(response)
    body.data = bytes(kept)
    return body


def _is_token(line: bytes) -> bool:
    """An SSE event that carries generated output: a chunk whose delta holds something besides
    the role (the first chunk of a stream often names only the role)."""
    if not line.startswith(b"data:"):
        return False
    text = line[5:].strip()
    if not text.startswith(b"{"):
        return False
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return False
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list):
        return False
    for choice in choices:
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(delta, dict) and any(v not in (None, "", [], {}) for k, v in
                                           delta.items() if k != "role"):
            return True
    return False


def inflate(data: bytes, encoding: str, max_bytes: int) -> tuple[bytes, bool, str]:
    """(at most `max_bytes` of `data` inflated per `encoding`, whether it was cut, why it
    could not be read). For a body read whole (an HTTP client's raw bytes)."""
    try:
        steps = _inflaters(encoding, max_bytes)
        for step in steps:
            data = step(data, max_bytes + 1)
    except ValueError as exc:  # a coding _inflaters does not know
        return b"", False, str(exc)
    except (zlib.error, brotli.error if brotli else zlib.error) as exc:
        return b"", False, f"the body is not valid {encoding}: {exc}"
    return data[:max_bytes], len(data) > max_bytes, ""


JSON_TYPE = {dict: "an object", list: "an array", str: "a string", int: "a number",
             float: "a number", bool: "a boolean", type(None): "null"}


def request_id_of(raw: bytes, sse: bool) -> tuple[str | None, str]:
    """(request_id, why there is none) of a 200's body: only a top-level, non-empty string
    counts (a stream's first event that is a JSON object)."""
    try:
        if sse:
            doc = None
            for line in raw.split(b"\n"):
                text = line[5:].strip() if line.startswith(b"data:") else b""
                if text.startswith(b"{"):
                    doc = json.loads(text)
                    break
            if doc is None:
                return None, "no JSON event in the stream"
        else:
            doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, "the body is not JSON"
    if not isinstance(doc, dict):
        return None, f"the body is {JSON_TYPE.get(type(doc), 'not an object')}, not an object"
    rid = doc.get("request_id")
    if isinstance(rid, str) and rid:
        return rid, ""
    if rid is None:
        return None, "no request_id in the body"
    return None, f"request_id is {JSON_TYPE.get(type(rid), 'not a string')}, not a string"
