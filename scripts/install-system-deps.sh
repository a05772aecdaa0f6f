#!/usr/bin/env bash
# Installs the Debian packages some tests and benchmarks use (nginx: an independent rate limiter
# and static baseline; haproxy: independent sliding-counter and concurrency limiters (limiters/);
# varnish with varnish-modules: vsthrottle, a token bucket with a lockout; node and npm: they
# run the npm limiters that scripts/install-node-deps.sh installs; wrk: a load generator that
# is not written in Python).
# Runs only as root with apt-get available; otherwise it says what is missing and returns 0,
# and the tests that need those programs skip with the reason (or fail under
# PINAIVU_REQUIRE_SYSTEM_DEPS=1, which .ci/run sets).
set -u
# what:package, what being a program or, for a module with no program, a file pattern
# (Debian's nodejs package installs the program node; varnish-modules brings vsthrottle)
programs=(nginx:nginx wrk:wrk chromium:chromium haproxy:haproxy node:nodejs npm:npm
          varnishd:varnish "/usr/lib/*/varnish/vmods/libvmod_vsthrottle.so:varnish-modules")
missing=()
for pair in "${programs[@]}"; do
  p=${pair%%:*}
  if [ "${p#/}" != "$p" ]; then
    compgen -G "$p" >/dev/null || missing+=("${pair#*:}")
  else
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing+=("${pair#*:}")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: not root or no apt-get; missing: ${missing[*]} (tests that need them will skip)" >&2
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}" >&2
# policy-rc.d 101 stops the packages' scripts from starting a system nginx on port 80 (or a
# system haproxy or varnish): our tests start their own on free loopback ports and nothing should be left
# running.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/pinaivu-apt.log 2>&1; then
  apt-get update -qq >>/tmp/pinaivu-apt.log 2>&1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/pinaivu-apt.log 2>&1 \
    || echo "install-system-deps: apt-get failed, see /tmp/pinaivu-apt.log" >&2
fi
[ $created_policy = 1 ] && rm -f "$policy"
exit 0
