"""Running the doctor in-process against a test's own target, and reading what it printed."""

from __future__ import annotations

import io

from doctor.cli import main

GOOD_KEY = "pk-demo-alice-0001"


def run_doctor(base_url: str | None, key: str | None = GOOD_KEY, *args: str,
               sleep=None, **env: str) -> tuple[int, str]:
    """(exit code, output). The environment is only what the test gives, so a developer's
    own PINAIVU_* settings cannot leak in; every run also checks the key was not printed."""
    environ = dict(env)
    if base_url is not None:
        environ["PINAIVU_BASE_URL"] = base_url
    if key is not None:
        environ["PINAIVU_API_KEY"] = key
    out = io.StringIO()
    kwargs = {"sleep": sleep} if sleep else {}
    code = main(list(args), environ=environ, out=out, **kwargs)
    text = out.getvalue()
    keys = (key or "").split() + (environ.get("PINAIVU_API_KEYS") or "").replace(",", " ").split()
    for secret in keys:
        # each key on its own (the whole list is never printed, so checking it proves
        # nothing); keys under six characters are too short to hide (cli.SHORTEST_REDACTED)
        if len(secret) >= 6:
            assert secret not in text, "an API key was printed"
    return code, text


def line(text: str, prefix: str) -> str:
    """The verdict line that starts with `prefix`, e.g. 'FAIL completion'."""
    found = [x for x in text.splitlines() if x.startswith(prefix)]
    assert found, f"no line starting {prefix!r} in:\n{text}"
    return found[-1]
