"""A host for ``bamboe run`` replicas that imports their modules once and forks each replica.

The kill tests start 15-23 replicas; a fresh ``python -m bamboe run`` spends most of its start-up
CPU importing (SQLAlchemy, aiohttp, the platform SDKs, the features). This host, run as
``python -m tests.replica_host``, imports ``bamboe run``'s modules once and then, per line
``{"env": {...}, "log": path}`` on its stdin, forks a child that sets that environment, sends its
output to ``log`` and runs ``bamboe.cli.main(["run"])``, exactly what ``python -m bamboe run``
runs. Each replica is still its own process with its own connections, killed with a real signal.
The host answers ``started <pid>`` and, when a child ends, ``exit <pid> <status>`` (the status
as ``subprocess`` reports it: the exit code, or minus the signal number). Nothing runs before the
fork but imports: no event loop, no thread, no connection.
"""

from __future__ import annotations

import json
import os
import selectors
import sys


def _child(request: dict) -> None:
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    sys.stdin = open(0)  # noqa: SIM115 - the process ends with os._exit
    sys.stdout = open(1, "w", buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1)  # noqa: SIM115
    code = 1
    try:
        from bamboe.cli import main

        code = main(["run"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - reported in the log, as an uncaught exception would be
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _reap(out) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        out.write(f"exit {pid} {code}\n")
        out.flush()


def main() -> None:
    # what `python -m bamboe run` imports on its way to serving: the command line, the runtime and
    # the adapters the kill tests configure (a plain start imports them as it starts them; one
    # whose SDK is not installed is left to the child, which then fails as a plain start would)
    import importlib

    for module in ("bamboe.cli", "bamboe.settings", "bamboe.runtime", "adapters.telegram.adapter",
                   "adapters.matrix.adapter"):
        try:
            importlib.import_module(module)
        except ImportError:
            pass

    out = sys.stdout
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    pending = b""
    while True:
        if selector.select(timeout=0.1):
            data = os.read(0, 65536)
            if not data:  # the test closed the pipe: its replicas are stopped
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    _child(request)
                out.write(f"started {pid}\n")
                out.flush()
        _reap(out)
    _reap(out)


if __name__ == "__main__":
    main()
