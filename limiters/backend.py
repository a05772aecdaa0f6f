"""The static upstream behind a limiter that proxies (HAProxy's concurrency cap and queue):
answers POST /v1/chat/completions with 200 and a JSON body holding a fresh top-level
`request_id`, after holding the request for --delay seconds, so that requests overlap in
flight; GET /v1/models with a one-model list.

Run as a script (`python backend.py --port P --delay S`): standard library only, so it needs
no installed package and starts fast."""

from __future__ import annotations

import argparse
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def handler(delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/chat/completions":
                return self.reply(404, {"error": {"message": "not found"}})
            time.sleep(delay_s)
            self.reply(200, completion())

        def do_GET(self) -> None:
            if self.path != "/v1/models":
                return self.reply(404, {"error": {"message": "not found"}})
            self.reply(200, MODELS)

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # one line per request would flood the log
            pass

    return Handler


# What the harness's runner reads its model id from (the first of the list).
MODELS = {"object": "list", "data": [{"id": "static-model", "object": "model"}]}


def completion() -> dict:
    rid = uuid.uuid4().hex
    return {"id": f"chatcmpl-{rid}", "request_id": rid, "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.delay))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
