#!/usr/bin/env python3
"""Genesis orchestrator (light lab build). Start: `python3 genesis_orchestrator.py` in the app root.

This process is the host's service: its pid goes in the pid file, it runs in the app root with the
env file's key in its environment, and the host is up exactly as long as it lives. The lab's host
server (one process for every host of a light lab) does the serving: this process hands it the app
root and the key over a Unix socket, the server reads production.yaml, listens on the host's address
and answers "ok"; this process then writes its pid file and waits. However it ends, its socket
closes and the server stops serving the host. Builtin modules only and no site packages: a few MB.
"""
import sys

if not sys.flags.no_site:  # the interpreter's site packages would cost this process megabytes it never uses
    import os
    os.execv(sys.executable, [sys.executable, "-S"] + sys.argv)

import _signal  # noqa: E402  (builtin: `signal` and `socket` would import enum and more)
import _socket  # noqa: E402
import os  # noqa: E402

HOST_SERVER = {host_server!r}
FAULT_DIR = {fault_dir!r}


def fail(message):
    sys.exit("genesis-orchestrator: " + message)


def stop(*_):
    sys.exit(0)


here = os.path.dirname(os.path.abspath(__file__))
if os.path.exists(os.path.join(FAULT_DIR, "start_failure")):
    with open(os.path.join(FAULT_DIR, "start_failure"), encoding="utf-8") as fh:
        fail("cannot start: " + (fh.read().strip() or "injected start failure"))
key = os.environ.get("MISTRAL_API_KEY")
if not key:
    fail("MISTRAL_API_KEY is not set (see the env file)")
server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
answer = b""
try:
    server.connect(HOST_SERVER)
    server.sendall((here + "\n" + key + "\n").encode())
    while not answer.endswith(b"\n"):
        chunk = server.recv(4096)
        if not chunk:
            break
        answer += chunk
except OSError as exc:
    fail("cannot reach the lab's host server at %s: %s" % (HOST_SERVER, exc))
if answer != b"ok\n":
    fail(answer.decode().strip() or "the lab's host server closed the connection")

_signal.signal(_signal.SIGTERM, stop)
_signal.signal(_signal.SIGINT, stop)
pid_file = os.path.join(here, "run", "genesis-orchestrator.pid")
os.makedirs(os.path.dirname(pid_file), exist_ok=True)
with open(pid_file, "w", encoding="utf-8") as fh:
    fh.write("%d\n" % os.getpid())
try:
    while server.recv(4096):
        pass
    fail("the lab's host server went away")
finally:
    try:
        with open(pid_file, encoding="utf-8") as fh:
            ours = fh.read().strip() == str(os.getpid())
        if ours:
            os.unlink(pid_file)
    except OSError:
        pass
