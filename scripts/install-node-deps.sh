#!/usr/bin/env bash
# Installs the npm limiters (limiters/node/package.json, versions pinned by its
# package-lock.json) into limiters/node/node_modules, which git ignores. Needs npm (Debian's
# package, scripts/install-system-deps.sh); without it, it says so and returns 0, and the tests
# that need the limiters skip (or fail under PINAIVU_REQUIRE_SYSTEM_DEPS=1, which .ci/run sets).
set -u
dir="$(cd "$(dirname "$0")/.." && pwd)/limiters/node"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: no npm; the npm limiters' tests will skip" >&2
  exit 0
fi
# npm writes its own copy of the lock into node_modules: newer than ours means up to date.
installed="$dir/node_modules/.package-lock.json"
if [ -f "$installed" ] && [ "$installed" -nt "$dir/package-lock.json" ]; then
  exit 0
fi
echo "install-node-deps: npm ci in $dir" >&2
if ! npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts --loglevel=error \
    >/tmp/pinaivu-npm.log 2>&1; then
  echo "install-node-deps: npm ci failed, see /tmp/pinaivu-npm.log" >&2
fi
exit 0
