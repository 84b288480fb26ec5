# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit tests of the modules share: running a module's main(), local HTTP servers."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading

import pytest
from ansible.module_utils.testing import patch_module_args


def run_module(main, args, capsys):
    """(exit code, parsed JSON result, raw stdout) of a module's main() run with args."""
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
