"""python -m locustfiles.run SCENARIO [options] [-- locust options]

Runs one scenario headless into a run folder. When PINAIVU_BASE_URL is unset it starts the
reference gateway (PROFILE) for the run on a free loopback port and stops it afterwards; then,
if no key is set either, it uses the gateway's demo keys.

Every setting is checked before anything starts (a bad one: exit code 2, no gateway, no run
folder). The run ends with its outcomes counted from the events, whether it failed and why
(exit code 1; analysis.run_health's rule, the one the report's page uses) and what to run
next. Ctrl-C stops it cleanly: in-flight requests finish, run.json says complete: false,
"stopped by the user", exit code 130. Neither Locust nor the gateway outlives the runner.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from contract import run_health
from contract.run_folder import (LOCUST_DIR, MANIFEST, RUN_DIR_HELP, default_run_dir, holds_run,
                                 write_json_atomic)
from gateway.launch import GatewayStartError, start_gateway
from locustfiles.common.options import (MAX_RUN_S, RUNNER_PID_ENV, USER_STOP, parse_duration,
                                        positive_float, positive_int)

ROOT = Path(__file__).resolve().parent.parent
# Three keys: with the default 4 users one key carries twice the traffic of the others, which
# is what lets the analysis tell a per-key quota from a global one.
DEMO_KEYS = "pk-demo-alice-0001,pk-demo-bob-0002,pk-demo-carol-0003"
# --duration auto: the scenario's own plan plus this, for the start-up and the last replies.
AUTO_MARGIN_S = 5.0


class SettingError(Exception):
    pass


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m locustfiles.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", help="a locustfile in locustfiles/, without .py")
    p.add_argument("--profile", default="default", help="reference gateway profile")
    p.add_argument("--gateway-set", action="append", default=[], metavar="TABLE.FIELD=VALUE",
                   help="override a field of the reference gateway's profile")
    p.add_argument("--users", type=positive_int, default=4)
    p.add_argument("--spawn-rate", type=positive_float, default=None)
    p.add_argument("--duration", default="30s",
                   help="Locust run time, e.g. 30s, 2m, 1h30m (more than 0, at most "
                        f"{MAX_RUN_S // 3600} h); auto: the scenario's own plan plus "
                        f"{AUTO_MARGIN_S:g} s")
    p.add_argument("--run-dir", default=None, help=RUN_DIR_HELP)
    return p.parse_args(argv), extra


def check_settings(args, extra: list[str], env: dict) -> tuple[Path, float, str]:
    """Everything that can be checked before a run starts: (locustfile, seconds, run folder).
    Locust's options and the scenario's are checked by Locust itself (--check-only)."""
    locustfile = ROOT / "locustfiles" / f"{args.scenario}.py"
    if not locustfile.is_file():
        raise SettingError(f"no scenario {args.scenario!r} ({locustfile} does not exist)")
    seconds = None
    if args.duration != "auto":
        try:
            seconds = parse_duration(args.duration)
        except ValueError as exc:
            raise SettingError(f"--duration {exc}") from None
    if not env.get("PINAIVU_BASE_URL"):
        from gateway.profile import ProfileError, load_profile
        try:
            load_profile(args.profile, args.gateway_set)
        except ProfileError as exc:
            raise SettingError(f"--profile {args.profile}: {exc}") from None
    plan = preflight(locustfile, args, extra, env, seconds)
    if seconds is None:
        if not plan:
            raise SettingError(f"--duration auto: {args.scenario} has no plan of its own; "
                               "give a duration (e.g. --duration 30s)")
        seconds = plan + AUTO_MARGIN_S
        if seconds > MAX_RUN_S:
            raise SettingError(f"the scenario's plan ({plan:.0f} s) is over the "
                               f"{MAX_RUN_S // 3600} h maximum of one run")
    run_dir = Path(args.run_dir or default_run_dir(args.scenario)).absolute()
    if holds_run(run_dir):
        raise SettingError(f"{run_dir} already holds a run: give another --run-dir")
    return locustfile, seconds, str(run_dir)


def locust_cmd(locustfile: Path, args, seconds: float | None, extra: list[str]) -> list[str]:
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
           "-u", str(args.users), "-r", f"{args.spawn_rate or args.users:g}"]
    if seconds is not None:
        cmd += ["-t", f"{max(1, round(seconds))}s"]
    return cmd + extra


def preflight(locustfile: Path, args, extra: list[str], env: dict, seconds) -> float | None:
    """Locust parses and checks every option (its own, ours, the scenario's) and the target,
    and exits without sending anything; returns the scenario's planned length."""
    check_env = dict(env)
    if not check_env.get("PINAIVU_BASE_URL"):  # the gateway this run would start
        check_env["PINAIVU_BASE_URL"] = "http://127.0.0.1:9/v1"
        check_env.setdefault("PINAIVU_API_KEYS", DEMO_KEYS)
    cmd = locust_cmd(locustfile, args, seconds, without_processes(extra)) + [
        "--check-only", "--skip-log-setup"]
    proc = subprocess.run(cmd, env=check_env, cwd=ROOT, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        lines = [ln.replace("__main__.py: ", "locust: ")
                 for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise SettingError("\n".join(lines[-3:]) or f"locust exited with {proc.returncode}")
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1]).get("planned_s")
    except (ValueError, IndexError, AttributeError):
        raise SettingError(f"locust's check printed no plan: {proc.stdout[-300:]}") from None


def without_processes(extra: list[str]) -> list[str]:
    """The options minus --processes: the check needs one process, and a forked worker whose
    master has exited after checking would wait for it (holding the check's output open)."""
    out, skip = [], False
    for a in extra:
        if skip:
            skip = False
        elif a == "--processes":
            skip = True
        elif not a.startswith("--processes="):
            out.append(a)
    return out


class Interrupts:
    """SIGINT and SIGTERM to the runner: the first stops Locust cleanly (one SIGINT, as Ctrl-C
    would), a second kills it."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signum = 0
        self.child: subprocess.Popen | None = None

    def __call__(self, signum, _frame) -> None:
        first = self.reason is None
        self.signum = self.signum or signum
        self.reason = self.reason or (USER_STOP if signum == signal.SIGINT else
                                      f"stopped by {signal.Signals(signum).name}")
        if self.child is None or self.child.poll() is not None:
            return
        if first:
            print("\nrun: stopping: requests in flight finish, then the run folder is closed "
                  "(Ctrl-C again to kill it now)", file=sys.stderr, flush=True)
            self.child.send_signal(signal.SIGINT)
        else:
            self.child.kill()


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    if "-h" in extra or "--help" in extra:  # Locust's help, with the scenario's options
        return subprocess.call([sys.executable, "-m", "locust", "-f",
                                str(ROOT / "locustfiles" / f"{args.scenario}.py"), "--help"])
    try:
        locustfile, seconds, run_dir = check_settings(args, extra, env)
    except SettingError as exc:
        print(f"run: {exc}", file=sys.stderr)
        return 2
    run_dir = Path(run_dir)
    interrupts = Interrupts()
    signal.signal(signal.SIGINT, interrupts)
    signal.signal(signal.SIGTERM, interrupts)
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    gateway = None
    if not env.get("PINAIVU_BASE_URL"):
        try:
            gateway = start_gateway(args.profile, args.gateway_set,
                                    log_path=run_dir / "gateway.log")
        except GatewayStartError as exc:
            print(f"run: {exc}", file=sys.stderr)  # the gateway's log is in the message
            if made:
                shutil.rmtree(run_dir, ignore_errors=True)  # no run started
            return 2
    if interrupts.reason:  # stopped while the gateway started: no run, no folder
        if gateway is not None:
            gateway.stop()
        if made:
            shutil.rmtree(run_dir, ignore_errors=True)
        print(f"run: {interrupts.reason} before the run started", file=sys.stderr)
        return 128 + interrupts.signum
    if gateway is not None:
        env["PINAIVU_BASE_URL"] = gateway.base_url
        if not (env.get("PINAIVU_API_KEY") or env.get("PINAIVU_API_KEYS")):
            env["PINAIVU_API_KEYS"] = DEMO_KEYS
        print(f"run: reference gateway ({args.profile}) on {gateway.base_url}", flush=True)
    env[RUNNER_PID_ENV] = str(os.getpid())
    cmd = locust_cmd(locustfile, args, seconds, extra) + [
        "--run-dir", str(run_dir), "--csv", str(run_dir / LOCUST_DIR / "stats"),
        "--html", str(run_dir / LOCUST_DIR / "report.html"),
        "--json-file", str(run_dir / LOCUST_DIR / "stats"), "--only-summary"]
    try:
        # Its own session: Ctrl-C reaches the runner only, which passes on exactly one SIGINT
        # (two would break Locust's shutdown). No terminal input: Locust's key listener
        # would stop a background process.
        interrupts.child = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True,
                                            stdin=subprocess.DEVNULL)
        if interrupts.reason:  # a signal while it was being started: pass it on (a second
            interrupts.child.send_signal(signal.SIGINT)  # one is ignored by Locust's side)
        code = interrupts.child.wait()
    finally:
        if gateway is not None:
            gateway.stop()
    # run.json names the gateway the run met, so that `make tune` can start it again
    reference = {"profile": args.profile, "set": args.gateway_set} if gateway else None
    code = finish(run_dir, code, interrupts.reason, reference)
    # what a shell reports for a command a signal stopped: 130 for Ctrl-C, 143 for SIGTERM
    return 128 + interrupts.signum if interrupts.signum else code


def finish(run_dir: Path, code: int, interrupted: str | None,
           reference: dict | None = None) -> int:
    """Record in run.json an interruption and the reference gateway the runner started (its
    profile and settings), then print the outcomes, the verdict and the next command."""
    manifest_path = run_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    updates = {}
    if interrupted and manifest and (manifest.get("complete") or
                                     manifest.get("stop_reason") != interrupted):
        updates.update(complete=False, stop_reason=interrupted)
    if reference and manifest:
        updates["reference_gateway"] = reference
    if updates:
        manifest.update(updates)
        write_json_atomic(manifest_path, manifest)
    counts, problems = run_health.count_outcomes(run_dir)
    print(f"\nrun: outcomes in {run_dir} (counted from its events)")
    for line in run_health.outcome_table(counts) if counts else ["  (no events recorded)"]:
        print(f"  {line}")
    for p in problems:
        print(f"run: note: {p}")
    reasons = run_health.failure_reasons(manifest or {"complete": False,
                                                      "stop_reason": "run.json is missing"},
                                         counts)
    for r in reasons:
        print(f"run: FAILED: {r}", file=sys.stderr)
    if not reasons and code:
        print(f"run: FAILED: Locust exited with code {code} (see its log above)",
              file=sys.stderr)
    elif not reasons:
        print("run: ok")
    where = os.path.relpath(run_dir) if not os.path.relpath(run_dir).startswith("..") \
        else str(run_dir)
    print(f"run: next: make report RUN={where}   (or: python -m analysis report {where})")
    return 1 if reasons else code


if __name__ == "__main__":
    sys.exit(main())
