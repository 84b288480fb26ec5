# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the unit tests of the modules share: running a module's main(), a local HTTP server."""

from __future__ import annotations

import contextlib
import http.server
import json
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
