# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Prometheus query against a real local HTTP server serving Prometheus' answers, and its failures."""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import time
import urllib.parse

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _http, _prometheus
from ansible_collections.genesis.model_ops.plugins.module_utils._prometheus import (
    DEFAULT_QUERY, by_instance_agent, query, samples_of)
from ansible_collections.genesis.model_ops.tests.unit.helpers import StepClock, trickle_server

VECTOR = {'status': 'success', 'data': {'resultType': 'vector', 'result': [
    {'metric': {'instance': 'genesis-001', 'agent': 'qa_agent'}, 'value': [1761912180.0, '0.35']},
    {'metric': {'instance': 'genesis-001', 'agent': 'support_agent'}, 'value': [1761912180.0, '0']},
    {'metric': {'instance': 'genesis-002', 'agent': 'qa_agent'}, 'value': [1761912180.0, 'NaN']},
]}}
BAD_QUERY = {'status': 'error', 'errorType': 'bad_data',
             'error': 'invalid parameter "query": 1:6: parse error: unexpected right parenthesis \')\''}

MATRIX = {'status': 'success', 'data': {'resultType': 'matrix', 'result': [
    {'metric': {'instance': 'genesis-002', 'agent': 'qa_agent', 'series': 'errors'},
     'values': [[1761912120.0, '0'], [1761912180.0, '12']]},
    {'metric': {'instance': 'genesis-002', 'agent': 'qa_agent', 'series': 'fallbacks'},
     'values': [[1761912180.0, '11.5'], [1761912240.0, 'NaN']]},
    {'metric': {'instance': 'genesis-002', 'agent': 'qa_agent'}, 'values': [[1761912180.0, '1']]},  # no series: not ours
]}}
# path -> answer of /api/v1/query_range (the charts)
RANGES = {'/ok': (200, MATRIX, 0), '/nochart': (400, BAD_QUERY, 0)}

# path -> (status, body, delay); a body that is not bytes is sent as JSON
ROUTES = {
    '/ok': (200, VECTOR, 0),
    '/bad': (400, BAD_QUERY, 0),
    '/html': (200, b'<html><body>Grafana login. Bearer abcdefabcdefabcdefabcdefabcdefabcdef</body></html>', 0),
    '/proxy502': (502, b'<html>502 Bad Gateway</html>', 0),
    '/other': (200, {'hello': 'world'}, 0),
    '/nodata': (200, {'status': 'success', 'data': {'resultType': 'vector'}}, 0),
    '/warn': (200, dict(VECTOR, warnings=['PromQL info: metric might not be a counter']), 0),
    '/slow': (200, VECTOR, 1.5),
    '/nochart': (200, VECTOR, 0),
}


class Handler(http.server.BaseHTTPRequestHandler):
    seen = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        url = urllib.parse.urlsplit(self.path)
        self.seen.append((url.path, urllib.parse.parse_qs(url.query)))
        route = url.path.rsplit('/api/v1/query', 1)[0]
        status, body, delay = RANGES[route] if url.path.endswith('/query_range') else ROUTES[route]
        time.sleep(delay)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left, as the timeout test wants

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield 'http://127.0.0.1:%d' % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def codes(result):
    return [item['code'] for item in result['findings']]


def test_vector(server):
    Handler.seen.clear()
    result = query(server + '/ok/')  # a trailing slash is fine
    assert Handler.seen == [('/ok/api/v1/query', {'query': [DEFAULT_QUERY]})]
    assert result['available'] is True and result['skipped'] is False and result['findings'] == []
    assert result['status'] == 'success' and result['result_type'] == 'vector' and result['http_status'] == 200
    assert result['samples'][0] == {'labels': {'instance': 'genesis-001', 'agent': 'qa_agent'}, 'value': 0.35}
    assert result['samples'][2]['value'] is None  # NaN is not JSON
    assert result['by_label'] == {'genesis-001': {'qa_agent': 0.35, 'support_agent': 0.0}, 'genesis-002': {'qa_agent': None}}
    assert result['prometheus_warnings'] == []
    json.dumps(result, allow_nan=False)


def test_the_charts_figures_per_minute_from_one_range_query(server):
    Handler.seen.clear()
    result = query(server + '/ok', chart_minutes=15)
    assert [path for path, _params in Handler.seen] == ['/ok/api/v1/query', '/ok/api/v1/query_range']
    params = Handler.seen[1][1]
    assert params['query'] == [_prometheus.CHART_QUERY] and params['step'] == ['60']
    assert float(params['end'][0]) - float(params['start'][0]) == 900
    assert result['chart'] == {'genesis-002': {'qa_agent': [['2025-10-31T12:02:00.000Z', 0.0, None],
                                                            ['2025-10-31T12:03:00.000Z', 12.0, 11.5],
                                                            ['2025-10-31T12:04:00.000Z', None, None]]}}
    assert result['available'] and result['findings'] == []
    json.dumps(result, allow_nan=False)
    # no chart asked: no range query, no chart
    Handler.seen.clear()
    assert query(server + '/ok')['chart'] is None and len(Handler.seen) == 1


def test_a_failed_range_query_leaves_the_error_rates_and_says_why(server):
    result = query(server + '/nochart', chart_minutes=15)
    assert result['available'] and result['by_label'] and result['chart'] is None
    assert codes(result) == ['chart_unavailable'] and result['findings'][0]['severity'] == 'info'
    assert 'HTTP 400' in result['findings'][0]['message']


def test_error_answer(server):
    result = query(server + '/bad', 'sum(rate(x[5m])))')
    assert result['available'] is False and result['status'] == 'error' and result['http_status'] == 400
    assert codes(result) == ['prometheus_error']
    assert result['findings'][0]['evidence']['error_type'] == 'bad_data'
    assert 'parse error' in result['findings'][0]['evidence']['error']


@pytest.mark.parametrize('path, status', [('/html', 200), ('/proxy502', 502)])
def test_not_json(server, path, status):
    result = query(server + path)
    assert result['available'] is False and result['http_status'] == status and codes(result) == ['not_json']
    assert 'abcdefabcdef' not in json.dumps(result)  # the excerpt is redacted


@pytest.mark.parametrize('path', ['/other', '/nodata'])
def test_json_that_is_not_an_answer(server, path):
    result = query(server + path)
    assert result['available'] is False and codes(result) == ['prometheus_error']
    assert result['findings'][0]['evidence']['error_type'] == 'bad_response'


def test_warnings(server):
    result = query(server + '/warn')
    assert result['available'] is True and result['prometheus_warnings'] == ['PromQL info: metric might not be a counter']


def test_timeout(server):
    result = query(server + '/slow', timeout=0.5)
    assert result['available'] is False and codes(result) == ['timeout']


def test_a_trickled_answer_ends_at_the_timeout(monkeypatch):
    # a byte at a time, each read well within the timeout; on a clock that moves a second per read,
    # the 10 s timeout ends the answer after about ten of its thirty bytes
    monkeypatch.setattr(_prometheus, 'http_get', functools.partial(_http.http_get, clock=StepClock(1)))
    with trickle_server(delay=0.2) as url:
        result = query(url, timeout=10)
    assert result['available'] is False and codes(result) == ['timeout']


def test_unreachable():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    result = query('http://127.0.0.1:%d' % port)
    assert result['available'] is False and result['http_status'] is None and codes(result) == ['prometheus_unreachable']


@pytest.mark.parametrize('url', ['', None])
def test_empty_url_skips(url):
    result = query(url)
    assert result['skipped'] is True and result['available'] is False and result['findings'] == []


def test_other_result_types():
    assert samples_of('scalar', [1761912180.0, '2.5']) == [{'labels': {}, 'value': 2.5}]
    assert samples_of('matrix', [{'metric': {'agent': 'qa_agent'}, 'values': [[1, '1'], [2, '+Inf'], [3, '4']]},
                                 {'metric': {'agent': 'x'}, 'values': []}]) == [
        {'labels': {'agent': 'qa_agent'}, 'value': 4.0}, {'labels': {'agent': 'x'}, 'value': None}]
    assert samples_of('string', [1, 'hello']) == []
    assert samples_of('vector', ['junk', {'value': [1, 'x']}]) == [{'labels': {}, 'value': None}]


def test_by_label_adds_up_the_same_pair():
    samples = [{'labels': {'instance': 'h1', 'agent': 'qa', 'code': '429'}, 'value': 0.25},
               {'labels': {'instance': 'h1', 'agent': 'qa', 'code': '404'}, 'value': 0.5},
               {'labels': {'instance': 'h1', 'agent': 'qa', 'code': 'timeout'}, 'value': None},
               {'labels': {'agent': 'qa'}, 'value': 9.0}]
    assert by_instance_agent(samples) == {'h1': {'qa': 0.75}}
