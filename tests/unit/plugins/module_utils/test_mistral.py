# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for _mistral: classification, dedupe, the call budget and the retry loop, and the real SDK against a stub server."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _mistral as m
from ansible_collections.genesis.model_ops.tests.unit.helpers import trickle_server

KEY = 'UnitTestKey0123456789abcdefABCDEF'


# --- small pure helpers ---------------------------------------------------------------------------

def test_dedupe_keeps_first_seen_order():
    assert m.dedupe(['b', 'a', 'b', 'c', 'a']) == ['b', 'a', 'c']


@pytest.mark.parametrize('value, expected', [(None, None), ('5', 5.0), ('0.5', 0.5), ('-3', 0.0), ('soon', None)])
def test_retry_after_seconds(value, expected):
    assert m.retry_after_seconds(value) == expected


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
    assert m.retry_after_seconds(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert m.retry_after_seconds('Wed, 25 Nov 2026 12:00:03 -0000', now=now) == 3.0


def _params(**overrides):
    params = dict(api_key=KEY, server_url='https://api.mistral.ai', timeout=10.0, models=[], chat_models=[], probe='retrieve',
                  concurrency=8, retries=0, max_retry_wait=30.0, retired_models=m.DEFAULT_RETIRED_MODELS)
    params.update(overrides)
    return params


def test_validate_accepts_defaults():
    assert m.validate(_params()) is None


@pytest.mark.parametrize('overrides, words', [
    (dict(api_key=None), ['api_key', 'MISTRAL_API_KEY']),
    (dict(api_key=''), ['api_key', 'MISTRAL_API_KEY']),
    (dict(server_url='api.mistral.ai'), ['server_url=api.mistral.ai', 'http']),
    (dict(timeout=0.0), ['timeout=0.0']),
    (dict(retries=-1), ['retries=-1']),
    (dict(max_retry_wait=-1.0), ['max_retry_wait=-1.0']),
    (dict(timeout=' 5 '), ["timeout=' 5 '", 'a number of seconds above 0']),
    (dict(timeout=float('nan')), ['timeout=nan']),
    (dict(timeout='inf'), ["timeout='inf'"]),
    (dict(retries='+1'), ["retries='+1'", 'an integer from 0 to 100']),
    (dict(retries='\u0663'), ["retries='\u0663'"]),
    (dict(server_url='ftp://u:hunter2@h'), ['server_url=ftp://u:********@h']),
    (dict(models=['ok', '']), ['models', "''"]),
    (dict(models=[' padded']), ['models', "' padded'"]),
    (dict(chat_models=['']), ['chat_models', "''"]),
    (dict(concurrency=0), ['concurrency=0']),
    (dict(retired_models={'x': 'soon'}), ['retired_models[x]', 'retired_on']),
    (dict(retired_models={'x': {'replacement': 'y'}}), ['retired_models[x]', 'retired_on']),
    (dict(retired_models={'x': {'retired_on': '2025-01-01', 'when': 1}}), ['retired_models[x]']),
])
def test_validate_names_the_bad_value(overrides, words):
    message = m.validate(_params(**overrides))
    for word in words:
        assert word in message


# --- classification of what the SDK raises ------------------------------------------------------

# Stand-ins named like httpx/httpx2's classes: classify() goes by class name, not by import.
class TransportError(Exception):
    pass


class TimeoutException(TransportError):
    pass


class ReadTimeout(TimeoutException):
    pass


class ConnectError(TransportError):
    pass


class RemoteProtocolError(TransportError):
    pass


class NoResponseError(Exception):
    pass


class FakeResponse:
    def __init__(self, status, headers=None, text=''):
        self.status_code = status
        self.headers = headers or {}
        self.text = text


class MistralError(Exception):
    """Shaped like SDK >= 1.9.11: status_code, headers, body on the error itself."""

    def __init__(self, status, body='', headers=None):
        super().__init__('API error occurred: Status %d. Body: %s' % (status, body))
        self.status_code = status
        self.body = body
        self.headers = headers or {}
        self.raw_response = FakeResponse(status, headers, body)


class OldSDKError(Exception):
    """Shaped like SDK < 1.9.11: no .headers, status_code may be -1, the rest on raw_response."""

    def __init__(self, status, body='', headers=None, known=True):
        super().__init__('API error occurred: Status %d\n%s' % (status, body))
        self.status_code = status if known else -1
        self.body = body
        self.raw_response = FakeResponse(status, headers, body)


INVALID = json.dumps({'object': 'error', 'message': 'Invalid model: gone', 'type': 'invalid_model', 'param': None, 'code': '1500'})
LIMITED = json.dumps({'object': 'error', 'message': 'Rate limit exceeded', 'type': 'rate_limited', 'param': None, 'code': '1300'})


@pytest.mark.parametrize('exc, kind, status', [
    (ReadTimeout('timed out'), 'timeout', None),
    (TimeoutError('socket'), 'timeout', None),
    (ConnectError('[Errno 111] Connection refused'), 'connect', None),
    (RemoteProtocolError('Server disconnected without sending a response.'), 'connect', None),
    (NoResponseError('No response received'), 'connect', None),
    (MistralError(401, '{"message":"Unauthorized","request_id":"r"}'), 'auth', 401),
    (MistralError(403, ''), 'auth', 403),
    (MistralError(429, LIMITED, {'Retry-After': '5'}), 'rate_limited', 429),
    (MistralError(404, INVALID), 'not_found', 404),
    (MistralError(400, INVALID), 'invalid_model', 400),
    (MistralError(400, '{"message":"bad request"}'), 'api_error', 400),
    (MistralError(422, '{"detail":[{"msg":"Field required"}]}'), 'api_error', 422),
    (MistralError(503, '{"message":"Service Unavailable"}'), 'server_error', 503),
    (OldSDKError(404, INVALID), 'not_found', 404),
    (OldSDKError(429, LIMITED, {'Retry-After': '2'}, known=False), 'rate_limited', 429),
    (ValueError('something else'), 'api_error', None),
])
def test_classify(exc, kind, status):
    failure = m.classify(exc)
    assert (failure.kind, failure.status) == (kind, status)
    assert failure.message


def test_classify_reads_headers_from_the_error_or_the_raw_response():
    new = m.classify(MistralError(429, LIMITED, {'Retry-After': '5', 'X-RateLimit-Remaining-Req-Minute': '0'}))
    old = m.classify(OldSDKError(429, LIMITED, {'Retry-After': '2'}, known=False))
    assert new.retry_after == 5.0 and new.headers['x-ratelimit-remaining-req-minute'] == '0'
    assert old.retry_after == 2.0


def test_classify_message_is_the_body_message_and_scrubbed():
    failure = m.classify(MistralError(401, json.dumps({'message': 'key %s is revoked' % KEY})), secrets=[KEY])
    assert failure.message == 'HTTP 401: key ******** is revoked'
    failure = m.classify(ConnectError('cannot send Bearer %s' % KEY), secrets=[KEY])
    assert KEY not in failure.message and 'ConnectError' in failure.message
    assert m.classify(MistralError(403, '')).message == 'HTTP 403: no body'


# --- the retry loop -----------------------------------------------------------------------------

class FakeTransport:
    last_status = 200
    last_headers = {'x-ratelimit-remaining-req-minute': '41'}


class Script:
    """An SDK method that raises or returns the scripted outcomes in turn, and records its calls."""

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.kwargs = []

    def __call__(self, **kwargs):
        self.kwargs.append(kwargs)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _checker(retries=2, max_retry_wait=30.0):
    sleeps = []
    checker = m.Checker(sdk=None, transport=FakeTransport(), timeout=2.5, retries=retries,
                        max_retry_wait=max_retry_wait, sleep=sleeps.append)
    return checker, sleeps


def limited(after='3'):
    return MistralError(429, LIMITED, {'Retry-After': after, 'x-ratelimit-remaining-req-minute': '0'})


def test_call_turns_sdk_retries_off_and_always_passes_timeout_ms():
    checker, _sleeps = _checker()
    method = Script('ok')
    assert checker.call(method, model_id='x') == ('ok', None, {'x-ratelimit-remaining-req-minute': '41'})
    assert method.kwargs == [dict(retries=None, timeout_ms=2500, model_id='x')]


def test_call_honours_retry_after_then_succeeds():
    checker, sleeps = _checker()
    method = Script(limited('3'), limited('4'), 'ok')
    assert checker.call(method)[:2] == ('ok', None)
    assert sleeps == [3.0, 4.0] and checker.waited == 7.0 and len(method.kwargs) == 3
    # The exhausted quota of the 429s stays reported after the success.
    assert checker.limited == 2 and checker.ratelimit_headers == {'x-ratelimit-remaining-req-minute': '0'}
    assert checker.retry_after == 4.0


def test_call_stops_after_its_retries():
    checker, sleeps = _checker(retries=1)
    result, failure, quota = checker.call(Script(limited('1'), limited('1'), 'never'))
    assert quota == {'retry-after': '1', 'x-ratelimit-remaining-req-minute': '0'}
    assert result is None and failure.kind == 'rate_limited' and sleeps == [1.0]


def test_call_backs_off_without_retry_after():
    checker, sleeps = _checker(retries=3)
    _result, failure, _quota = checker.call(Script(MistralError(503), MistralError(502), MistralError(500), MistralError(504)))
    assert failure.kind == 'server_error' and sleeps == [1.0, 2.0, 4.0]


def test_call_never_starts_a_wait_beyond_the_budget():
    checker, sleeps = _checker(retries=5, max_retry_wait=5.0)
    method = Script(limited('3'), limited('3'), 'never')
    _result, failure, _quota = checker.call(method)
    assert failure.kind == 'rate_limited' and sleeps == [3.0] and len(method.kwargs) == 2
    # The budget is for the whole run: the next call has 2 s left, not enough for 3.
    method = Script(limited('3'), 'never')
    checker.call(method)
    assert sleeps == [3.0] and len(method.kwargs) == 1


def test_by_default_a_429_or_a_5xx_is_the_answer_not_retried():
    checker, sleeps = _checker(retries=0)
    for exc in (limited('1'), MistralError(503)):
        method = Script(exc, 'never')
        _result, failure, _quota = checker.call(method)
        assert failure.status in (429, 503) and sleeps == [] and len(method.kwargs) == 1
    assert checker.waited == 0.0


@pytest.mark.parametrize('exc', [MistralError(404, INVALID), MistralError(401), ReadTimeout('t'), ConnectError('c')])
def test_call_does_not_retry_what_a_retry_cannot_fix(exc):
    checker, sleeps = _checker()
    method = Script(exc, 'never')
    _result, failure, _quota = checker.call(method)
    assert failure is not None and sleeps == [] and len(method.kwargs) == 1


# --- the real SDK against a stub server ---------------------------------------------------------

BASE_CARD = dict(id='ministral-8b-2512', object='model', created=1, owned_by='mistralai', capabilities={}, type='base',
                 deprecation=None, deprecation_replacement_model=None)


def _card(model_id):
    if model_id.startswith('ft:'):
        return dict(BASE_CARD, id=model_id, type='fine-tuned', job='j', root=model_id.split(':')[1], archived=model_id.endswith('arch'))
    if model_id == 'old-model':
        return dict(BASE_CARD, id=model_id, deprecation='2027-01-31T00:00:00Z', deprecation_replacement_model='new-model')
    return dict(BASE_CARD, id=model_id)


class StubAPI(BaseHTTPRequestHandler):
    """A few Mistral answers. ``script`` (path -> list of (status, body, headers)) overrides them in turn."""

    protocol_version = 'HTTP/1.1'

    def do_GET(self):  # pylint: disable=invalid-name
        server = self.server
        length = int(self.headers.get('Content-Length') or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        server.requests.append((self.command, self.path, self.headers.get('Authorization')))
        if self.path in server.script and server.script[self.path]:
            self._send(*server.script[self.path].pop(0))
        elif self.headers.get('Authorization') != 'Bearer %s' % KEY:
            self._send(401, {'message': 'Unauthorized', 'request_id': 'r'})
        elif self.path == '/v1/models':
            self._send(200, {'object': 'list', 'data': [BASE_CARD]})
        elif self.path.startswith('/v1/models/'):
            model_id = self.path[len('/v1/models/'):].replace('%3A', ':')
            if model_id in server.missing:
                self._send(404, json.loads(INVALID))
            else:
                self._send(200, _card(model_id))
        elif self.path == '/v1/chat/completions':
            if body['model'] in server.missing:
                self._send(400, json.loads(INVALID))
            else:
                headers = {'x-ratelimit-remaining-tokens-minute': '999'}
                if body['model'] == 'old-model':
                    headers['x-model-deprecation-timestamp'] = '2027-01-31T00:00:00Z'
                self._send(200, dict(id='c', object='chat.completion', model=body['model'], created=1, choices=[
                    dict(index=0, message=dict(role='assistant', content='x'), finish_reason='length')],
                    usage=dict(prompt_tokens=4, completion_tokens=1, total_tokens=5)), headers)

    do_POST = do_GET

    def _send(self, status, payload, headers=None):
        data = json.dumps(payload).encode() if payload is not None else b''
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(('127.0.0.1', 0), StubAPI)
    server.daemon_threads = True
    server.requests, server.script, server.missing = [], {}, set()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = 'http://127.0.0.1:%d' % server.server_address[1]
    yield server
    server.shutdown()
    server.server_close()


pytestmark_sdk = pytest.mark.skipif(not m.HAS_MISTRALAI, reason='needs the mistralai SDK')


@pytestmark_sdk
def test_run_checks_each_distinct_model_once(stub):
    models = ['ft:ministral-8b-2512:o:1:a', 'ministral-8b-2512', 'ft:ministral-8b-2512:o:1:a', 'old-model',
              'ministral-8b-2512', 'ft:x:o:1:arch']
    result = m.run(_params(server_url=stub.url, models=models))
    assert result['api_calls'] == 1 + 4 == len(stub.requests)
    assert [path for _m, path, _a in stub.requests][0] == '/v1/models'
    assert list(result['models']) == ['ft:ministral-8b-2512:o:1:a', 'ministral-8b-2512', 'old-model', 'ft:x:o:1:arch']
    assert result['tokens_spent'] == 0
    assert result['key'] == dict(authenticated=True, status=200, error_kind=None, message=None, fingerprint=m.fingerprint(KEY),
                                 headers={})
    ft, base, old, arch = list(result['models'].values())
    assert (ft['exists'], ft['type'], ft['archived'], ft['deprecated']) == (True, 'fine-tuned', False, False)
    assert (base['type'], base['archived']) == ('base', False)
    assert (old['deprecated'], old['deprecation'], old['replacement']) == (True, '2027-01-31', 'new-model')
    assert arch['archived'] is True
    assert [(f['code'], f['model']) for f in result['findings']] == [('model_deprecated', 'old-model'), ('model_archived', 'ft:x:o:1:arch')]
    assert result['summary'] == dict(requested=6, distinct=4, checked=4, available=4, missing=0, retired=0, deprecated=1,
                                     archived=1, unknown=0, findings=2)


@pytestmark_sdk
def test_run_reports_retired_and_missing(stub):
    stub.missing.update(['open-mistral-7b', 'ft:open-mistral-7b:o:1:a', 'typo-model'])
    result = m.run(_params(server_url=stub.url, models=['open-mistral-7b', 'ft:open-mistral-7b:o:1:a', 'typo-model']))
    retired, ft, typo = list(result['models'].values())
    assert (retired['exists'], retired['retired'], retired['retired_on'], retired['replacement']) == (
        False, True, '2025-03-30', 'ministral-8b-latest')
    assert (retired['http_status'], retired['error_kind']) == (404, 'not_found')
    assert ft['retired'] is True and 'base model open-mistral-7b' in ft['message']
    assert (typo['exists'], typo['retired']) == (False, False)
    assert [f['code'] for f in result['findings']] == ['model_retired', 'model_retired', 'model_missing']


@pytestmark_sdk
def test_run_chat_probe_counts_tokens_and_reads_deprecation_header(stub):
    stub.missing.add('open-mixtral-8x7b')
    result = m.run(_params(server_url=stub.url, models=['ministral-8b-2512', 'old-model', 'open-mixtral-8x7b'], probe='chat'))
    ok, old, gone = list(result['models'].values())
    assert result['tokens_spent'] == 10 and result['api_calls'] == 4
    assert ok['exists'] is True and ok['deprecated'] is False
    assert (old['deprecated'], old['deprecation']) == (True, '2027-01-31')
    assert (gone['error_kind'], gone['retired'], gone['replacement']) == ('invalid_model', True, 'mistral-small-latest')
    assert result['rate_limit']['headers'] == {'x-ratelimit-remaining-tokens-minute': '999'}
    assert ok['headers'] == {'x-ratelimit-remaining-tokens-minute': '999'} and ok['probe'] == 'chat'


@pytestmark_sdk
def test_run_retries_a_429_after_retry_after_when_asked(stub):
    stub.script['/v1/models/ministral-8b-2512'] = [(429, json.loads(LIMITED), {'Retry-After': '0', 'x-ratelimit-remaining-req-minute': '0'})]
    sleeps = []
    result = m.run(_params(server_url=stub.url, models=['ministral-8b-2512'], retries=2), sleep=sleeps.append)
    assert result['models']['ministral-8b-2512']['exists'] is True
    assert result['api_calls'] == 3 == len(stub.requests) and sleeps == [0.0]
    assert result['rate_limit'] == dict(headers={'x-ratelimit-remaining-req-minute': '0'}, retry_after=0.0, limited=1, waited=0.0)
    assert result['findings'] == []


@pytestmark_sdk
@pytest.mark.parametrize('status, body', [(401, {'message': 'Unauthorized'}), (403, None)])
def test_run_stops_after_a_refused_key(stub, status, body):
    stub.script['/v1/models'] = [(status, body)]
    result = m.run(_params(server_url=stub.url, models=['a', 'b']))
    assert result['key']['authenticated'] is False and result['key']['status'] == status
    assert result['api_calls'] == 1
    assert all(e['checked'] is False and e['error_kind'] == 'auth' for e in result['models'].values())
    assert [(f['code'], f['model']) for f in result['findings']] == [('key_rejected', None)]


@pytestmark_sdk
def test_run_with_a_wrong_key_says_auth(stub):
    result = m.run(_params(server_url=stub.url, api_key='WrongKey', models=['a']))
    assert result['key']['error_kind'] == 'auth' and result['key']['fingerprint'] == m.fingerprint('WrongKey')


@pytestmark_sdk
def test_a_key_with_a_trailing_newline_is_used_without_it(stub):
    # what ansible-vault encrypt_string from stdin often gives: once validated, the key authenticates
    params = _params(server_url=stub.url, api_key=' %s\n' % KEY, models=['a'])
    assert m.validate(params) is None and params['api_key'] == KEY
    result = m.run(params)
    assert result['key']['authenticated'] is True and result['key']['fingerprint'] == m.fingerprint(KEY)
    assert stub.requests[0][2] == 'Bearer %s' % KEY


@pytest.mark.parametrize('key, what', [
    ('ab\ncd' + KEY, 'a control character'), (KEY + '\x00', 'a control character'), ('ab cd' + KEY, 'whitespace inside it'),
    (KEY + '\u00e9', 'not ASCII'), (KEY[:8] + '\u2028' + KEY[8:], 'whitespace inside it'), (KEY[:8] + '\x7f' + KEY[8:], 'a control character'),
    (' \n\t ', 'empty')])
def test_a_key_that_cannot_be_one_is_refused_without_showing_it(key, what):
    message = m.validate(_params(api_key=key))
    assert what in message and 'api_key' in message
    assert KEY not in message and KEY[:8] not in message and KEY[-8:] not in message


@pytestmark_sdk
def test_run_unreachable(stub):
    url = stub.url
    stub.shutdown()
    stub.server_close()
    result = m.run(_params(server_url=url, models=['a']))
    assert result['key']['error_kind'] == 'connect' and result['key']['authenticated'] is None
    assert result['api_calls'] == 1 and result['findings'][0]['code'] == 'api_unreachable'


@pytestmark_sdk
def test_run_times_out():
    # A socket that accepts and never answers.
    import socket
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(1)
    try:
        result = m.run(_params(server_url='http://127.0.0.1:%d' % listener.getsockname()[1], timeout=0.3, models=['a']))
    finally:
        listener.close()
    assert result['key']['error_kind'] == 'timeout' and result['api_calls'] == 1
    assert result['models']['a']['checked'] is False


# --- the budget: one call per key and distinct model, whatever the API answers ------------------

LIMIT_HEADERS = {'Retry-After': '5', 'x-ratelimit-limit-req-minute': '60', 'x-ratelimit-remaining-req-minute': '0'}


@pytestmark_sdk
@pytest.mark.parametrize('status, body, headers, why', [
    (429, json.loads(LIMITED), LIMIT_HEADERS, 'not checked (API rate limited: HTTP 429)'),
    (503, {'message': 'Service Unavailable'}, {}, 'not checked (API unavailable: HTTP 503)'),
    (500, {'message': 'Internal Server Error'}, {}, 'not checked (API unavailable: HTTP 500)'),
])
def test_a_key_check_at_its_limit_or_failing_is_the_only_call(stub, status, body, headers, why):
    stub.script['/v1/models'] = [(status, body, headers)] * 3
    sleeps = []
    result = m.run(_params(server_url=stub.url, models=['a', 'b', 'c']), sleep=sleeps.append)
    assert result['api_calls'] == 1 == len(stub.requests) and sleeps == [] and result['rate_limit']['waited'] == 0.0
    assert (result['key']['status'], result['key']['authenticated']) == (status, None)
    assert result['key']['headers'] == dict((name.lower(), value) for name, value in headers.items())
    assert [(e['checked'], e['message']) for e in result['models'].values()] == [(False, why)] * 3
    assert [f['code'] for f in result['findings']] == ['rate_limited' if status == 429 else 'api_error']
    if status == 429:
        assert result['rate_limit'] == dict(headers={'x-ratelimit-limit-req-minute': '60', 'x-ratelimit-remaining-req-minute': '0'},
                                            retry_after=5.0, limited=1, waited=0.0)


@pytestmark_sdk
def test_a_model_at_its_limit_is_asked_once_and_keeps_its_headers(stub):
    stub.script['/v1/models/ft:a:o:1:x'] = [(429, json.loads(LIMITED), LIMIT_HEADERS)] * 3
    result = m.run(_params(server_url=stub.url, models=['ft:a:o:1:x', 'ministral-8b-2512']))
    assert result['api_calls'] == 3 == len(stub.requests)
    limited_entry = result['models']['ft:a:o:1:x']
    assert (limited_entry['checked'], limited_entry['exists'], limited_entry['error_kind']) == (True, None, 'rate_limited')
    assert limited_entry['headers'] == {'retry-after': '5', 'x-ratelimit-limit-req-minute': '60', 'x-ratelimit-remaining-req-minute': '0'}
    assert result['models']['ministral-8b-2512']['exists'] is True


@pytestmark_sdk
def test_chat_models_are_chatted_the_others_retrieved(stub):
    result = m.run(_params(server_url=stub.url, models=['ft:m:o:1:a', 'ministral-8b-2512'], chat_models=['ministral-8b-2512', 'old-model']))
    assert result['api_calls'] == 4 and result['tokens_spent'] == 10
    assert sorted((method, path) for method, path, _a in stub.requests[1:]) == [
        ('GET', '/v1/models/ft:m:o:1:a'), ('POST', '/v1/chat/completions'), ('POST', '/v1/chat/completions')]
    assert [(model_id, e['probe']) for model_id, e in result['models'].items()] == [
        ('ft:m:o:1:a', 'retrieve'), ('ministral-8b-2512', 'chat'), ('old-model', 'chat')]
    assert result['summary']['requested'] == 4 and result['summary']['distinct'] == 3


class SlowAPI(StubAPI):
    """Every model answer takes a while; counts the requests in flight at once."""

    def do_GET(self):  # pylint: disable=invalid-name
        if self.path.startswith('/v1/models/'):
            with self.server.lock:
                self.server.inflight += 1
                self.server.most = max(self.server.most, self.server.inflight)
            time.sleep(0.3)
            with self.server.lock:
                self.server.inflight -= 1
        StubAPI.do_GET(self)


@pytestmark_sdk
@pytest.mark.parametrize('concurrency', [1, 3])
def test_model_checks_run_side_by_side_up_to_the_concurrency(concurrency):
    server = ThreadingHTTPServer(('127.0.0.1', 0), SlowAPI)
    server.daemon_threads = True
    server.requests, server.script, server.missing = [], {}, set()
    server.lock, server.inflight, server.most = threading.Lock(), 0, 0
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        models = ['m%d' % index for index in range(6)]
        result = m.run(_params(server_url='http://127.0.0.1:%d' % server.server_address[1], models=models, concurrency=concurrency))
    finally:
        server.shutdown()
        server.server_close()
    assert result['api_calls'] == 7 and all(e['exists'] for e in result['models'].values())
    assert list(result['models']) == models  # the result keeps the order given
    assert server.most == concurrency
    assert result['elapsed_s'] >= 0.3 * 6 / concurrency and result['checked_at'].endswith('Z')


@pytestmark_sdk
def test_a_trickled_answer_ends_at_the_timeout():
    # The SDK's timeout bounds each read: a byte every 0.5 s (15 s in full) never trips a 1 s read timeout.
    # The call must end at 1 s all told (the bound is loose on purpose: a loaded machine).
    with trickle_server(b'{"object": "list", "data": []}  ', delay=0.5) as url:
        start = time.monotonic()
        result = m.run(_params(server_url=url, timeout=1, models=['a']))
        elapsed = time.monotonic() - start
    assert result['key']['error_kind'] == 'timeout' and result['key']['message'] == 'CallTimeout: no complete answer within 1s'
    assert result['api_calls'] == 1 and result['models']['a']['checked'] is False
    assert elapsed < 6, elapsed


@pytestmark_sdk
def test_an_abandoned_call_leaves_nothing_behind_for_the_next(stub):
    # the key check is answered slowly: past the deadline; its late answer must not become the next call's
    slow = threading.Event()
    checker = m.Checker(*m.make_sdk(KEY, stub.url, 0.5), timeout=0.5, retries=0, max_retry_wait=0)

    def late(**kwargs):
        slow.wait(2)
        return checker.sdk.models.list(**kwargs)
    _result, failure, _quota = checker.call(late)
    assert failure.kind == 'timeout'
    card, failure, _quota = checker.call(checker.sdk.models.retrieve, model_id='b')
    assert failure is None and card.id == 'b' and checker.last_status == 200
