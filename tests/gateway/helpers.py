"""Small helpers for tests that talk to a live gateway."""

import httpx

ALICE = "pk-demo-alice-0001"
BOB = "pk-demo-bob-0002"
CAROL = "pk-demo-carol-0003"
SCOPED = "pk-demo-scoped-1b"
REVOKED = "pk-demo-revoked"
EXPIRED = "pk-demo-expired"

BODY = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hello"}]}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def chat(client: httpx.Client, key: str | None = ALICE, body=BODY, headers=None):
    h = dict(headers or {})
    if key is not None:
        h.update(auth(key))
    if isinstance(body, (bytes, str)):
        return client.post("/chat/completions", content=body,
                           headers=h | {"content-type": "application/json"})
    return client.post("/chat/completions", json=body, headers=h)
