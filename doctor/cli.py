"""python -m doctor [--model ID] [--timeout S]

Runs the troubleshooting page's checks, in order, against PINAIVU_BASE_URL with
PINAIVU_API_KEY (or the first of PINAIVU_API_KEYS). One line per check: PASS, FAIL, WARN,
INFO or SKIP, with the page's remedy under a failure. Exit code 0 when nothing failed, 1 when
a check failed, 2 for a usage error. The key is never printed: only its fingerprint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TextIO

import httpx

from contract.target import DEFAULT_BASE_URL, KeyListError

from .answers import redact
from .config import DEFAULT_MODEL, classify_base_url, read_key
from .gateway_checks import (BUSY, COMPLETION, MODEL_ID, MODELS, Session, check_busy,
                             check_completion, check_model_id, check_models)
from .result import Result, skipped
from .setup_checks import check_base_url, check_key

# Below this length a key could be part of ordinary words and URLs; redacting it would only
# garble the output, and such a key is not worth hiding.
SHORTEST_REDACTED = 6


def parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m doctor", description="Check the Pinaivu target, key and model "
        "against the troubleshooting page. The target and key come from the environment "
        "(PINAIVU_BASE_URL, PINAIVU_API_KEY or PINAIVU_API_KEYS), never the command line.")
    parser.add_argument("--model", default=env.get("PINAIVU_MODEL") or DEFAULT_MODEL,
                        help="model id to check (default: $PINAIVU_MODEL, else %(default)s)")
    parser.add_argument("--timeout", type=float, default=20.0,
                        help="seconds to wait for each answer (default: %(default)s)")
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
    if not args.model.strip():
        parser.error("--model must not be empty")
    return args


def diagnose(env: Mapping[str, str], model: str, timeout: float,
             emit: Callable[[Result], None], sleep: Callable[[float], None]) -> list[Result]:
    results: list[Result] = []

    def report(result: Result) -> None:
        results.append(result)
        emit(result)

    raw_base = env.get("PINAIVU_BASE_URL", "")
    url = classify_base_url(raw_base if raw_base.strip() else DEFAULT_BASE_URL)
    # follow_redirects off: a redirect is itself a finding, and must not take the key along.
    with httpx.Client(timeout=timeout, follow_redirects=False,
                      headers={"User-Agent": "pinaivu-doctor"}) as client:
        verdict, target = check_base_url(url, not raw_base.strip(), client, timeout)
        report(verdict)
        key_verdict, key = check_key(read_key(env))
        report(key_verdict)
        if target.base is None:
            for name in (MODELS, MODEL_ID, COMPLETION, BUSY):
                report(skipped(name, target.skip_because))
            return results
        s = Session(client, target.base, key, model, timeout, emit, sleep)
        models_verdict, stop = check_models(s, "" if key else "the API key check failed")
        report(models_verdict)
        if not stop:
            if s.ids is None:
                report(skipped(MODEL_ID, "GET /v1/models gave no model list"))
            else:
                report(check_model_id(model, s.ids))
                stop = f"{model} is not an active model id" if results[-1].failed else ""
        else:
            report(skipped(MODEL_ID, stop))
        report(skipped(COMPLETION, stop) if stop else check_completion(s))
        # "No 429 or 503" means little when no completion was tried.
        report(skipped(BUSY, stop) if stop and not s.busy else check_busy(s))
    return results


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None,
         out: TextIO | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    env = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    try:
        args = parse_args(argv, env)
    except SystemExit as exc:  # argparse: 2 for a usage error, 0 for --help
        return int(exc.code or 0)
    try:
        secret = read_key(env).key
    except KeyListError as exc:  # refused before any request: the list is not what was meant
        print(f"Pinaivu doctor: {exc}", file=out)
        return 2
    hide = secret if secret and len(secret.strip()) >= SHORTEST_REDACTED else None

    def emit(result: Result) -> None:
        # Every line passes here, so nothing a gateway echoes back can print the key.
        for line in result.lines():
            print(redact(line, hide), file=out, flush=True)

    print(f"Pinaivu doctor: model {args.model}, timeout {args.timeout:g} s", file=out)
    results = diagnose(env, args.model, args.timeout, emit, sleep)
    failed = sum(r.failed for r in results)
    print(f"{failed} check(s) failed: see the fixes above" if failed else
          "all checks passed", file=out)
    return 1 if failed else 0
