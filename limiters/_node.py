"""The npm limiters' common ground: node, the folder scripts/install-node-deps.sh installs
them into (limiters/node/node_modules, pinned by limiters/node/package-lock.json), and the
version of each that is really installed."""

from __future__ import annotations

import json
from pathlib import Path

from ._process import find_program

NODE_DIR = Path(__file__).with_name("node")
MODULES = NODE_DIR / "node_modules"


def missing(package: str) -> str | None:
    """Why the npm limiter `package` cannot start here, or None when it can."""
    if find_program("node") is None:
        return "node is not installed (scripts/install-system-deps.sh installs it as root)"
    if not (MODULES / package / "package.json").is_file():
        return (f"the npm package {package} is not installed in {MODULES} "
                "(scripts/install-node-deps.sh, run by make system-deps)")
    return None


def installed_version(package: str) -> str:
    return json.loads((MODULES / package / "package.json").read_text())["version"]


def node_argv(script: str, *args: object) -> list[str]:
    reason = missing({"flexible.js": "rate-limiter-flexible",
                      "express_rate_limit.js": "express-rate-limit"}[script])
    if reason:
        raise RuntimeError(reason)
    return [find_program("node"), str(NODE_DIR / script), *map(str, args)]
