"""A server that misbehaves in one chosen way, for the recorder's bad-input tests.

    python badserver.py PORT MODE
MODE: not_json, no_request_id, reset_mid_body, slow, sse_cut, bad_headers.
GET /v1/models always answers properly, so the user finds its model.
"""

import asyncio
import json
import socket
import struct
import sys

MODELS = json.dumps({"object": "list", "data": [{"id": "llama3.2:1b", "object": "model"}]})


def response(status: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}",
            "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def handle(reader, writer, mode):
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
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int, mode: str) -> None:
    server = await asyncio.start_server(lambda r, w: handle(r, w, mode), "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
