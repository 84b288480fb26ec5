# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the mistral_check module: its arguments, failures, check mode, and that the key never shows."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.genesis.model_ops.plugins.module_utils import _mistral
from ansible_collections.genesis.model_ops.plugins.modules import mistral_check

KEY = 'ModuleTestKeyZZ9876543210zyxwvuQP'
CARD = dict(object='model', created=1, owned_by='mistralai', capabilities={}, type='base')


class Models(BaseHTTPRequestHandler):
    """Knows every model; refuses any key but KEY, echoing the header it got (as a careless proxy might)."""

    protocol_version = 'HTTP/1.1'

    def do_GET(self):  # pylint: disable=invalid-name
        self.server.calls += 1
        if self.headers.get('Authorization') != 'Bearer %s' % KEY:
            self._send(401, {'message': 'Unauthorized: %s' % self.headers.get('Authorization')})
        elif self.path == '/v1/models':
            self._send(200, {'object': 'list', 'data': []})
        else:
            self._send(200, dict(CARD, id=self.path.rsplit('/', 1)[1]))

    def _send(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(('127.0.0.1', 0), Models)
    server.daemon_threads = True
    server.calls = 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


def run_module(args, capsys):
    """main() with args; returns (exit code, parsed result, raw stdout)."""
    with patch_module_args(args), pytest.raises(SystemExit) as exit_info:
        mistral_check.main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out), out


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv('MISTRAL_API_KEY', raising=False)


def test_no_key_fails_naming_api_key_and_the_variable(capsys):
    code, result, _out = run_module({'models': ['a']}, capsys)
    assert code == 1 and result['failed']
    assert 'api_key' in result['msg'] and 'MISTRAL_API_KEY' in result['msg']


@pytest.mark.parametrize('args, word', [
    ({'retries': -2}, 'retries=-2'),
    ({'probe': 'ping'}, 'probe'),
    ({'models': ['a', '']}, 'models'),
    ({'timeout': 0}, 'timeout=0'),
])
def test_bad_input_fails_naming_the_value(capsys, args, word):
    code, result, _out = run_module(dict(args, api_key=KEY), capsys)
    assert code == 1 and word in result['msg']


def test_without_the_sdk_the_message_names_mistralai(capsys, monkeypatch):
    monkeypatch.setattr(mistral_check, 'HAS_MISTRALAI', False)
    code, result, _out = run_module({'api_key': KEY}, capsys)
    assert code == 1 and 'mistralai' in result['msg']


@pytest.mark.skipif(not _mistral.HAS_MISTRALAI, reason='needs the mistralai SDK')
def test_key_from_the_environment_and_check_mode(capsys, monkeypatch, api):
    monkeypatch.setenv('MISTRAL_API_KEY', KEY)
    args = {'server_url': api.url, 'models': ['m1', 'm2', 'm1']}
    code, normal, _out = run_module(args, capsys)
    code_check, checked, _out = run_module(dict(args, _ansible_check_mode=True), capsys)
    assert code == code_check == 0
    assert normal['changed'] is False and checked['changed'] is False
    assert normal['key']['authenticated'] is True and normal['key']['fingerprint'] == _mistral.fingerprint(KEY)
    assert normal['api_calls'] == checked['api_calls'] == 3 and api.calls == 6
    assert set(normal) == set(checked)


@pytest.mark.skipif(not _mistral.HAS_MISTRALAI, reason='needs the mistralai SDK')
def test_the_key_never_shows_even_when_the_api_echoes_it(capsys, api):
    wrong = 'WrongKeyEchoedBack0000000000AAAA'
    code, result, out = run_module({'api_key': wrong, 'server_url': api.url, 'models': ['m1']}, capsys)
    assert code == 0 and result['key']['error_kind'] == 'auth'
    assert wrong not in out
    assert result['key']['message'] == 'HTTP 401: Unauthorized: Bearer ********'
    assert result['invocation']['module_args']['api_key'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER'


@pytest.mark.skipif(not _mistral.HAS_MISTRALAI, reason='needs the mistralai SDK')
@pytest.mark.parametrize('given', [KEY + '\n', '  %s\t\r\n' % KEY])
def test_a_key_with_whitespace_around_it_works_and_never_shows(capsys, api, given):
    code, result, out = run_module({'api_key': given, 'server_url': api.url, 'models': ['m1']}, capsys)
    assert code == 0 and result['key']['authenticated'] is True
    assert result['key']['fingerprint'] == _mistral.fingerprint(KEY)
    assert KEY not in out and KEY[:10] not in out


@pytest.mark.parametrize('given', ['%s\nAuthorization: Bearer x' % KEY, KEY[:5] + '\u00e9' + KEY[5:], KEY[:5] + ' ' + KEY[5:]])
def test_a_key_that_cannot_be_a_header_is_refused_without_a_call_or_an_echo(capsys, api, given):
    code, result, out = run_module({'api_key': given, 'server_url': api.url, 'models': ['m1']}, capsys)
    assert code == 1 and 'api_key holds' in result['msg'] and api.calls == 0
    assert KEY[:5] not in out and KEY[6:16] not in out and 'Bearer' not in out
