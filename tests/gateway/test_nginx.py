"""nginx on loopback: the static baseline of the benchmark and the independent limiter
(limit_req) that later analysis tests fit."""

import httpx

from gateway.nginx import Nginx

from ..conftest import require_program


def test_static_and_limit_req():
    require_program("nginx")
    block = ("limit_req_zone $binary_remote_addr zone=q:1m rate=2r/s;\n"
             "server { listen 127.0.0.1:{port};\n"
             "  location /static { return 200 'ok'; }\n"
             "  location /limited { limit_req zone=q burst=3 nodelay; limit_req_status 429;"
             " root {root}; try_files /ok.json =404; } }")
    with Nginx(block, files={"ok.json": '{"ok": true}'}) as ngx, \
            httpx.Client(base_url=ngx.url) as c:
        assert c.get("/static").text == "ok"
        replies = [c.get("/limited") for _ in range(10)]
    # Burst of 3 on top of the one the rate allows, then 429s.
    assert [r.status_code for r in replies] == [200] * 4 + [429] * 6
    assert replies[0].json() == {"ok": True}
