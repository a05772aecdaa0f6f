"""A server that misbehaves in one chosen way, for the recorder's bad-input tests.

    python badserver.py PORT MODE [SCRIPT]
MODE: not_json, no_request_id, reset_mid_body, slow, sse_cut, bad_headers, gzip_bomb,
script. `script` answers the chat requests, in order, with the raw responses a JSON file
lists ({"data": base64 bytes, "then": "keep" | "close" | "stall"}), then with 429s; every
chat request received is counted in SCRIPT + ".count", one line each, before it is answered.
GET /v1/models always answers properly, so the user finds its model.
"""

import asyncio
import base64
import json
import socket
import struct
import sys
import zlib

MODELS = json.dumps({"object": "list", "data": [{"id": "llama3.2:1b", "object": "model"}]})


def response(status: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}",
            "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


BOMB_BYTES = 600 * 1024 * 1024


def gzip_bomb() -> bytes:
    """600 MiB of zeros, gzip-encoded (about 600 KB), made without holding the 600 MiB."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join(z.compress(block) for _ in range(BOMB_BYTES // len(block))) + z.flush()


class Script:
    def __init__(self, path: str) -> None:
        doc = json.load(open(path))
        self.responses = [(base64.b64decode(r["data"]), r["then"]) for r in doc]
        self.count_path = path + ".count"
        self.next = 0

    def take(self):
        with open(self.count_path, "a") as f:
            f.write("1\n")
        i, self.next = self.next, self.next + 1
        if i < len(self.responses):
            return self.responses[i]
        return response("429 Too Many Requests", b'{"error": {}}', {"Retry-After": "1"}), "keep"


async def handle(reader, writer, mode, extra):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            if head.startswith(b"GET /v1/models"):
                writer.write(response("200 OK", MODELS.encode()))
            elif mode == "script":
                data, then = extra.take()
                writer.write(data)
                await writer.drain()
                if then == "stall":
                    await asyncio.sleep(30)
                if then != "keep":
                    writer.close()
                    return
            elif mode == "gzip_bomb":
                writer.write(response("200 OK", extra, {"Content-Encoding": "gzip"}))
            elif mode == "not_json":
                writer.write(response("200 OK", b"<html>gateway error</html>"))
            elif mode == "no_request_id":
                writer.write(response("200 OK", json.dumps({"object": "chat.completion",
                                                            "choices": []}).encode()))
            elif mode == "bad_headers":
                writer.write(response("429 Too Many Requests", b'{"error": {}}', {
                    "Retry-After": "soon-ish", "x-ratelimit-limit-requests": "abc",
                    "x-ratelimit-reset-requests": "never"}))
            elif mode == "slow":
                await asyncio.sleep(3)
                writer.write(response("200 OK", b'{"request_id": "req_slow"}'))
            elif mode == "reset_mid_body":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n"
                             b"Content-Type: application/json\r\n\r\n{\"request_id\": ")
                await writer.drain()
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.close()
                return
            elif mode == "sse_cut":
                chunk = b'data: {"request_id": "req_cut", "choices": []}\n\n'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                             b"Connection: close\r\n\r\n" + chunk * 2)
                await writer.drain()
                writer.close()
                return
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, mode: str, script: str | None) -> None:
    extra = Script(script) if mode == "script" else gzip_bomb() if mode == "gzip_bomb" \
        else None
    server = await asyncio.start_server(lambda r, w: handle(r, w, mode, extra), "127.0.0.1",
                                        port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None))
