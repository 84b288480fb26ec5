# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit tests of the modules share: running a module's main(), local HTTP servers."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import sys
import threading

import pytest
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args


def run_module(main, args, capsys):
    """(exit code, parsed JSON result, raw stdout) of a module's main() run with args. Ansible keeps a module's
    warnings in a process-wide list (a module process runs once): emptied first, so that each run shows only its own."""
    module_warnings._global_warnings.clear()  # pylint: disable=protected-access
    module_warnings._global_deprecations.clear()  # pylint: disable=protected-access
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out


@contextlib.contextmanager
def http_server(handler):
    """A threaded HTTP server on a free local port with handler; yields its base URL."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield 'http://127.0.0.1:%d' % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


# 30 bytes, a health payload: 15 s in full at a byte every 0.5 s
class StepClock:
    """A clock to inject (time.monotonic's stand-in) that moves on by step seconds each time it is read and by
    what sleep() is given: a deadline then passes after a known number of reads, however loaded the machine."""

    def __init__(self, step=0.0, now=1000.0):
        self.step, self.now = step, now

    def __call__(self):
        self.now += self.step
        return self.now

    def sleep(self, seconds):
        self.now += seconds


TRICKLED_BODY = b'{"status": "ok", "agents": {}}'


@contextlib.contextmanager
def trickle_server(body=TRICKLED_BODY, delay=0.5, trickle_head=False):
    """A local HTTP server that sends its answer one byte every delay seconds (from the status line on with
    trickle_head, else the body only): each read is quick, the whole answer slow. Yields its base URL."""
    head = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % len(body)
    listener = socket.create_server(('127.0.0.1', 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def answer(conn):
        with conn:
            try:
                conn.recv(65536)  # the request
                slow = head + body if trickle_head else body
                if not trickle_head:
                    conn.sendall(head)
                for i in range(len(slow)):
                    if stop.wait(delay if i else 0):
                        return
                    conn.sendall(slow[i:i + 1])
            except OSError:  # the client gave up and left
                pass

    def accept():
        while not stop.is_set():
            try:
                conn, _addr = listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield 'http://127.0.0.1:%d' % listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def run_module_as(uid, main, args):
    """(exit code, parsed JSON result) of a module's main() run with args in a child process that gave up
    root for uid (its group too), as a run that connects as that user would: the imports are done already."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here
        code = 70
        try:
            os.close(read_end)
            sys.stdout = open(write_end, 'w', encoding='utf-8')  # pylint: disable=consider-using-with
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            with patch_module_args(args):
                try:
                    main()
                except SystemExit as exc:
                    code = exc.code
        finally:
            sys.stdout.flush()
            os._exit(code if isinstance(code, int) else 1)
    os.close(write_end)
    with os.fdopen(read_end, 'rb') as out:
        data = out.read()
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), json.loads(data)
