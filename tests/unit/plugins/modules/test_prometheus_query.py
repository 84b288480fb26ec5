# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""prometheus_query's main(): options in, JSON result out, against a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import socket
import urllib.parse

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import prometheus_query
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module, http_server

ANSWER = {'status': 'success', 'data': {'resultType': 'vector', 'result': [
    {'metric': {'instance': 'genesis-001', 'agent': 'qa_agent'}, 'value': [1761912180.0, '0.5']}]}}


class Handler(http.server.BaseHTTPRequestHandler):
    queries = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        url = urllib.parse.urlsplit(self.path)
        self.queries.append(urllib.parse.parse_qs(url.query)['query'][0])
        body = json.dumps(ANSWER).encode()
        self.send_response(200 if url.path == '/api/v1/query' else 404)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def base():
    with http_server(Handler) as url:
        yield url


def run(args, capsys):
    return run_module(prometheus_query.main, args, capsys)[:2]


@pytest.mark.parametrize('check_mode', [False, True])
def test_query(base, capsys, check_mode):
    Handler.queries.clear()
    code, result = run({'url': base, '_ansible_check_mode': check_mode}, capsys)
    assert code == 0 and result['changed'] is False and result['available'] is True
    assert Handler.queries == ['sum by (instance, agent) (rate(model_errors_total[5m]))']  # the default, one call
    assert result['by_label'] == {'genesis-001': {'qa_agent': 0.5}} and result['findings'] == []


def test_custom_query(base, capsys):
    Handler.queries.clear()
    code, result = run({'url': base, 'query': 'sum by (agent) (rate(model_fallbacks_total[5m]))'}, capsys)
    assert code == 0 and Handler.queries == ['sum by (agent) (rate(model_fallbacks_total[5m]))']
    assert result['query'] == 'sum by (agent) (rate(model_fallbacks_total[5m]))'


def test_empty_url_is_skipped(capsys):
    code, result = run({'url': ''}, capsys)
    assert code == 0 and result['skipped'] is True and result['available'] is False and result['findings'] == []


def test_unreachable_is_no_failure(capsys):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    code, result = run({'url': 'http://127.0.0.1:%d' % port}, capsys)
    assert code == 0 and result['available'] is False
    assert [item['code'] for item in result['findings']] == ['prometheus_unreachable']


@pytest.mark.parametrize('args, message', [
    ({'url': 'localhost:9090'}, 'url must be an http:// or https:// URL, or empty to skip Prometheus, got localhost:9090'),
    ({'url': 'http://localhost:9090', 'query': ' '}, 'query must be a PromQL expression'),
    ({'timeout': 0}, 'timeout=0 is not allowed: give a number of seconds above 0'),
    ({'timeout': 'inf'}, "timeout='inf' is not allowed: give a number of seconds above 0"),
])
def test_bad_input(capsys, args, message):
    code, result = run(args, capsys)
    assert code == 1 and message in result['msg']


def test_a_password_in_the_url_is_basic_authentication_and_shows_nowhere(base, capsys):
    Handler.queries.clear()
    secret_url = base.replace('http://', 'http://ops:s3cr-et-pw@')
    code, result, out = run_module(prometheus_query.main, {'url': secret_url}, capsys)
    assert code == 0 and result['available'] is True and Handler.queries  # it authenticated and was answered
    assert result['url'] == base.replace('http://', 'http://ops:********@')
    # another path, and a URL that is not http: the result and the message name the URL, masked
    code, result, out2 = run_module(prometheus_query.main, {'url': secret_url + '/nowhere'}, capsys)
    assert code == 0 and result['http_status'] == 404 and '********' in result['url']
    code, result, out3 = run_module(prometheus_query.main, {'url': secret_url.replace('http://', 'ftp://')}, capsys)
    assert code == 1 and 'ftp://ops:********@' in result['msg']
    for shown in (out, out2, out3):
        assert 's3cr-et-pw' not in shown, shown
