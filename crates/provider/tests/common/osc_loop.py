"""Runs python-openstackclient commands read from stdin, one process for
many: each line is a JSON list of arguments; each answer one JSON line
{"rc": N, "out": "...", "err": "..."}. The commands run through
openstackclient's own entry point (`openstackclient.shell.main`), exactly
as the `openstack` executable runs them; only the interpreter's start and
the imports are paid once instead of per command (about 2 s each on a
loaded machine)."""
import contextlib
import io
import json
import sys

from openstackclient import shell

for line in sys.stdin:
    argv = json.loads(line)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = shell.main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception as e:  # the client's own crash is a failed command
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
            rc = 1
    sys.stdout.write(json.dumps({"rc": rc or 0, "out": out.getvalue(), "err": err.getvalue()}) + "\n")
    sys.stdout.flush()
