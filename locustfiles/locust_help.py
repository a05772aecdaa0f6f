"""Lets `locust -f locustfiles/<scenario>.py --help` list the harness's and the scenario's
options, as Locust's documentation says options registered with
`events.init_command_line_parser` are listed.

Locust answers --help before it imports the locustfile (locustio/locust#2917, closed
unfixed), so those options never reach its help. `make install` puts a one-line .pth file in
the virtualenv that calls `import_for_help()` when Python starts: for a Locust --help that
names locustfiles of this folder, it imports them first, and Locust's own --help then lists
their options. Any other program pays one look at its command line.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
PTH_NAME = "pinaivu_locust_help.pth"
# A .pth line is run at every interpreter start: if this module is gone (another checkout,
# an uninstall), it must stay silent rather than print an error each time.
PTH_LINE = ('import sys; exec("try:\\n from locustfiles.locust_help import import_for_help\\n'
            'except Exception:\\n pass\\nelse:\\n import_for_help()")\n')


def help_locustfiles(orig_argv: list[str], argv: list[str], env=os.environ) -> list[str]:
    """The scenario modules a `locust ... --help` (or `python -m locust ... --help`) command
    line names, else []. `orig_argv` is the interpreter's command line, `argv` the script's."""
    if len(orig_argv) > 2 and orig_argv[1:3] == ["-m", "locust"]:
        args = orig_argv[3:]
    elif argv and Path(argv[0]).name == "locust":
        args = argv[1:]
    else:
        return []
    if not any(a in ("-h", "--help") for a in args):
        return []
    given = env.get("LOCUST_LOCUSTFILE", "locustfile.py")
    for i, a in enumerate(args):
        if a in ("-f", "--locustfile") and i + 1 < len(args):
            given = args[i + 1]
        elif a.startswith("--locustfile="):
            given = a.split("=", 1)[1]
        elif a.startswith("-f") and len(a) > 2:
            given = a[2:]
    names = []
    for part in given.split(","):
        path = Path(part.strip()).resolve()
        if path.suffix == ".py" and path.parent == HERE and not path.name.startswith("_") \
                and path.is_file():
            names.append(f"locustfiles.{path.stem}")
    return names


def import_for_help() -> None:
    """Called from the .pth file at every interpreter start: must never fail."""
    try:
        for name in help_locustfiles(list(getattr(sys, "orig_argv", [])), list(sys.argv)):
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - a help text is not worth breaking Python's start
        pass


def install(site_dir: str | None = None) -> Path:
    out = Path(site_dir or sysconfig.get_paths()["purelib"]) / PTH_NAME
    out.write_text(PTH_LINE)
    return out
