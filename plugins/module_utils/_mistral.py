# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Checks against the Mistral API for mistral_check: the key, each model id, the rate limit.

Runbook steps "Check API Credentials", "Check Model Registry Status" and "Test Fallback"
(the baselines are checked like the fine-tuned ids), done once per distinct model.

The budget holds whatever the API does: one call for the key, at most one per distinct
model, none retried unless asked (a 429 or a 5xx is the evidence, kept with its headers).
When the key check shows the API refusing, failing or at its limit, the models are not
called, since each would fail the same way. The model checks run side by side, so a slow
API costs about two answers' time, not one per model.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import json
import logging
import threading
import time
import traceback
from datetime import datetime, timezone

from ansible.module_utils.basic import env_fallback

from ansible_collections.genesis.model_ops.plugins.module_utils._common import Number, check_numbers, fingerprint, mask, normalize_key, seconds

# SDK >= 2.0 moved the client to mistralai.client; 1.x has it at the top level.
try:
    from mistralai.client import Mistral
    HAS_MISTRALAI = True
    MISTRALAI_IMPORT_ERROR = None
except ImportError:
    try:
        from mistralai import Mistral
        HAS_MISTRALAI = True
        MISTRALAI_IMPORT_ERROR = None
    except ImportError:
        Mistral = None
        HAS_MISTRALAI = False
        MISTRALAI_IMPORT_ERROR = traceback.format_exc()

MISTRAL_API_ARGSPEC = dict(
    api_key=dict(type='str', no_log=True, fallback=(env_fallback, ['MISTRAL_API_KEY'])),
    server_url=dict(type='str', default='https://api.mistral.ai'),
    timeout=dict(type='raw', default=10.0),
)
MISTRAL_NUMBERS = dict(timeout=seconds(above=True), retries=Number(0, 100, integer=True), max_retry_wait=seconds(),
                       concurrency=Number(1, 64, integer=True))

DEFAULT_RETIRED_MODELS = {
    'open-mistral-7b': {'retired_on': '2025-03-30', 'replacement': 'ministral-8b-latest'},
    'open-mixtral-8x7b': {'retired_on': '2025-03-30', 'replacement': 'mistral-small-latest'},
}

# The statuses the SDK itself would retry; everything else is an answer worth reporting as is.
RETRY_STATUSES = (429, 500, 502, 503, 504)
# The headers of an answer that tell the quota: x-ratelimit-limit-*, x-ratelimit-remaining-*, ... and Retry-After.
RATE_HEADER_PREFIX = 'x-ratelimit-'

SEVERITY = {
    'key_rejected': 'critical',
    'api_unreachable': 'critical',
    'model_missing': 'critical',
    'model_retired': 'critical',
    'rate_limited': 'warning',
    'api_error': 'warning',
    'model_deprecated': 'warning',
    'model_archived': 'warning',
}

# Failures of the key check that make per-model calls pointless: each would fail the same way
# (a hanging API would cost one timeout per model, a rate-limited one would add to the incident),
# and how a model left unchecked says why.
KEY_FAILURES_THAT_STOP = {
    'auth': 'key refused',
    'rate_limited': 'API rate limited',
    'server_error': 'API unavailable',
    'connect': 'API unreachable',
    'timeout': 'API unreachable',
}

# Transport failures are matched by class name: SDK 3.x raises httpx2 classes, older SDKs httpx ones.
CONNECT_ERROR_NAMES = frozenset((
    'ConnectError', 'NetworkError', 'TransportError', 'ProtocolError', 'RemoteProtocolError',
    'NoResponseError', 'ConnectionError',
))

# The SDK's debug logger prints request headers, Authorization included, when MISTRAL_DEBUG is set.
_SILENT_LOGGER = logging.getLogger('genesis.model_ops.mistral_sdk')
_SILENT_LOGGER.disabled = True
# The SDK warns on stderr about deprecated models; the result reports them already.
logging.getLogger('mistralai').addHandler(logging.NullHandler())


def dedupe(model_ids):
    """Distinct ids in first-seen order: one call per model, however often it is listed."""
    return list(dict.fromkeys(model_ids))


def retry_after_seconds(value, now=None):
    """Retry-After is either delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when it does not say so
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def validate(params):
    """Return a message naming the bad value and what is allowed, or None; the key and the numbers
    of params are put in their normal form (the key stripped, numbers made numbers) on the way."""
    if not params.get('api_key'):
        return 'No API key: set the api_key option or the MISTRAL_API_KEY environment variable on the controller.'
    try:
        params['api_key'] = normalize_key(params['api_key'])
    except ValueError as exc:
        return '%s.' % exc
    if not params['server_url'].startswith(('http://', 'https://')):
        return 'server_url=%s is not allowed: give an http:// or https:// URL.' % mask(params['server_url'])
    error = check_numbers(params, MISTRAL_NUMBERS)
    if error:
        return error + '.'
    for option in ('models', 'chat_models'):
        for model_id in params[option]:
            if not model_id or not model_id.strip() or model_id != model_id.strip():
                return '%s contains %r: give model ids without surrounding spaces, none empty.' % (option, model_id)
    for model_id, entry in params['retired_models'].items():
        if not isinstance(entry, dict) or not entry.get('retired_on') or set(entry) - {'retired_on', 'replacement'}:
            return ('retired_models[%s]=%r is not allowed: give a dict with retired_on (a date) and optionally'
                    ' replacement (a model id).' % (model_id, entry))
    return None


class CallTimeout(Exception):
    """A call with no complete answer by its deadline (classified as a timeout by its name)."""


class Failure:
    """One failed call, classified: kind is an error_kind of the module's result."""

    def __init__(self, kind, status=None, headers=None, message=''):
        self.kind = kind
        self.status = status
        self.headers = headers or {}
        self.message = message
        self.retry_after = retry_after_seconds(self.headers.get('retry-after'))


def _body_message(body):
    """The readable part of an error body (Mistral puts it in message or detail)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return body.strip()
    if isinstance(data, dict):
        for field in ('message', 'detail'):
            if isinstance(data.get(field), str):
                return data[field]
    return body.strip()


def classify(exc, secrets=()):
    """Turn whatever the SDK raised into a Failure; never raises itself."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    text = mask(str(exc) or names[0], secrets)
    if any('Timeout' in name for name in names):
        return Failure('timeout', message='%s: %s' % (names[0], text))
    if CONNECT_ERROR_NAMES.intersection(names):
        return Failure('connect', message='%s: %s' % (names[0], text))

    raw = getattr(exc, 'raw_response', None)
    status = getattr(exc, 'status_code', None)
    if not isinstance(status, int) or status < 0:  # SDK < 1.9.11 says -1 when it does not know
        status = getattr(raw, 'status_code', None)
    # SDK >= 1.9.11 has .headers; older ones only the raw response's.
    headers = getattr(exc, 'headers', None)
    if headers is None and raw is not None:
        headers = raw.headers
    headers = dict((k.lower(), v) for k, v in (headers or {}).items())
    body = getattr(exc, 'body', None) or getattr(raw, 'text', None) or ''

    if not isinstance(status, int) or status < 400:
        return Failure('api_error', status, headers, '%s: %s' % (names[0], text[:300]))
    if status in (401, 403):
        kind = 'auth'
    elif status == 429:
        kind = 'rate_limited'
    elif status == 404:
        kind = 'not_found'
    elif status == 400 and 'invalid_model' in body:
        kind = 'invalid_model'
    elif status >= 500:
        kind = 'server_error'
    else:
        kind = 'api_error'
    detail = mask(_body_message(body), secrets)[:300] or 'no body'
    return Failure(kind, status, headers, 'HTTP %d: %s' % (status, detail))


def rate_headers(headers):
    """The quota part of an answer's headers (lower-case names): x-ratelimit-* and Retry-After."""
    return dict((name, value) for name, value in headers.items() if name.startswith(RATE_HEADER_PREFIX) or name == 'retry-after')


class _LastAnswer(threading.local):
    """The last answer a thread got (status, headers with lower-case names): calls run side by side, and a call
    abandoned at its deadline may still get its answer, in its own thread."""

    status = None
    headers = {}

    def keep(self, status, headers):
        self.status, self.headers = status, headers


class _Answered:
    """Reads this thread's last answer (kept in ``self._answer``, a _LastAnswer)."""

    _answer = None

    @property
    def last_status(self):
        return self._answer.status

    @property
    def last_headers(self):
        return self._answer.headers


class _CountingClient(_Answered):
    """Stands in for the SDK's HTTP client: counts each request sent, keeps the last answer's headers.

    The last answer is kept per thread: a call abandoned at its deadline may still get its answer
    later, in its own thread, and must not pass it off as the answer to the next call.
    """

    def __init__(self, inner):
        self._inner = inner
        self._lock = threading.Lock()
        self._answer = _LastAnswer()
        self.calls = 0

    def send(self, request, **kwargs):
        with self._lock:
            self.calls += 1
        self._answer.keep(None, {})
        response = self._inner.send(request, **kwargs)
        self._answer.keep(response.status_code, dict((k.lower(), v) for k, v in response.headers.items()))
        return response

    def build_request(self, *args, **kwargs):
        return self._inner.build_request(*args, **kwargs)

    def close(self):
        self._inner.close()


def _value(obj, name):
    """An attribute of an SDK model, None when missing or left UNSET."""
    value = getattr(obj, name, None)
    return None if type(value).__name__ == 'Unset' else value


def _date(value):
    """A deprecation as a day: cards give a datetime, the chat header an ISO timestamp."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        try:
            value = datetime.fromisoformat(str(value).replace('Z', '+00:00'))
        except ValueError:
            return str(value)
    return value.date().isoformat()


def _retirement(model_id, retired_models):
    """The retired_models entry for an id, or for the base of a fine-tuned id (ft:<base>:...)."""
    if model_id in retired_models:
        return model_id, retired_models[model_id]
    parts = model_id.split(':')
    if parts[0] == 'ft' and len(parts) > 1 and parts[1] in retired_models:
        return parts[1], retired_models[parts[1]]
    return None, None


class Checker(_Answered):
    """Runs the calls (no retry unless asked, within a bounded wait) and gathers what they say; thread-safe."""

    def __init__(self, sdk, transport, timeout, retries, max_retry_wait, secrets=(), sleep=time.sleep):
        self.sdk = sdk
        self.transport = transport
        self.timeout_ms = int(timeout * 1000)
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.secrets = tuple(secrets)
        self.sleep = sleep
        self._lock = threading.Lock()
        self.waited = 0.0
        self.tokens = 0
        self.ratelimit_headers = {}
        self.retry_after = None
        self.limited = 0
        self._answer = _LastAnswer()  # of this thread's last answered call

    def _note(self, status, headers):
        """Keep what an answer says about the rate limit; returns its quota headers."""
        quota = rate_headers(headers)
        ratelimit = dict((k, v) for k, v in quota.items() if k.startswith(RATE_HEADER_PREFIX))
        with self._lock:
            if status == 429:
                self.limited += 1
            # Once a 429 was seen keep its headers: later answers would hide the quota that ran out.
            if ratelimit and (status == 429 or not self.limited):
                self.ratelimit_headers = ratelimit
            if headers.get('retry-after') is not None:
                self.retry_after = retry_after_seconds(headers['retry-after'])
        return quota

    def _wait_before_retry(self, failure, attempt):
        """Seconds to sleep before the next attempt, or None to stop and report."""
        if failure.status not in RETRY_STATUSES or attempt >= self.retries:
            return None
        wait = failure.retry_after if failure.retry_after is not None else float(2 ** attempt)
        with self._lock:
            # Waiting less than Retry-After only earns another 429: give up instead.
            if wait > self.max_retry_wait - self.waited:
                return None
            self.waited += wait
        return wait

    def _attempt(self, method, kwargs):
        """One SDK call, all of it within the timeout: (result, status, headers); raises what the SDK raised,
        or CallTimeout.

        The SDK's timeout_ms bounds each connect and each read, not the call: an answer trickled a
        byte at a time keeps a call going as long as the server likes. So the call runs in a thread
        of its own, and is abandoned, not waited for, at the deadline (a daemon thread: it ends with
        the module, and its late answer goes nowhere, see _CountingClient).
        """
        outcome = {}

        def work():
            try:
                outcome['answer'] = (method(retries=None, timeout_ms=self.timeout_ms, **kwargs),
                                     self.transport.last_status, self.transport.last_headers)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # handed to the caller
                outcome['error'] = exc
        worker = threading.Thread(target=work, name='mistral-call', daemon=True)
        worker.start()
        worker.join(self.timeout_ms / 1000.0)
        if 'answer' in outcome:
            return outcome['answer']
        if 'error' in outcome:
            raise outcome['error']
        raise CallTimeout('no complete answer within %gs' % (self.timeout_ms / 1000.0))

    def call(self, method, **kwargs):
        """One SDK call (SDK retries off), retried here only when asked.

        Returns (result, None, quota headers) or (None, Failure, quota headers)."""
        attempt = 0
        while True:
            try:
                result, status, headers = self._attempt(method, kwargs)
            except Exception as exc:  # pylint: disable=broad-exception-caught  # every failure is a result
                failure = classify(exc, self.secrets)
                quota = self._note(failure.status, failure.headers)
                wait = self._wait_before_retry(failure, attempt)
                if wait is None:
                    return None, failure, quota
                self.sleep(wait)
                attempt += 1
                continue
            self._answer.keep(status, headers)
            return result, None, self._note(status, headers)

    def check_key(self):
        _dummy, failure, quota = self.call(self.sdk.models.list)
        if failure is None:
            return dict(authenticated=True, status=self.last_status, error_kind=None, message=None, headers=quota)
        return dict(authenticated=False if failure.kind == 'auth' else None,
                    status=failure.status, error_kind=failure.kind, message=failure.message, headers=quota)

    def check_model(self, model_id, probe, retired_models):
        entry = _blank_entry(model_id)
        entry.update(checked=True, probe=probe)
        deprecation = replacement = None
        if probe == 'chat':
            response, failure, quota = self.call(self.sdk.chat.complete, model=model_id, max_tokens=1,
                                                 messages=[{'role': 'user', 'content': 'ping'}])
            if failure is None:
                with self._lock:
                    self.tokens += _value(_value(response, 'usage'), 'total_tokens') or 0
                # A chat answer names a deprecation only in this header.
                deprecation = _date(self.last_headers.get('x-model-deprecation-timestamp'))
        else:
            card, failure, quota = self.call(self.sdk.models.retrieve, model_id=model_id)
            if failure is None:
                entry['type'] = _value(card, 'type') or entry['type']
                entry['archived'] = bool(_value(card, 'archived'))
                deprecation = _date(_value(card, 'deprecation'))
                replacement = _value(card, 'deprecation_replacement_model')
        entry['headers'] = quota

        if failure is None:
            entry.update(exists=True, retired=False, http_status=self.last_status,
                         deprecated=deprecation is not None, deprecation=deprecation, replacement=replacement)
            notes = ['available']
            if deprecation:
                notes.append('deprecated, removal on %s' % deprecation)
            if replacement:
                notes.append('replacement %s' % replacement)
            if entry['archived']:
                notes.append('archived')
            entry['message'] = '; '.join(notes)
            return entry

        entry.update(http_status=failure.status, error_kind=failure.kind, message=failure.message)
        if failure.kind in ('not_found', 'invalid_model'):
            entry['exists'] = False
            retired_id, retirement = _retirement(model_id, retired_models)
            entry['retired'] = retirement is not None
            if retirement:
                entry.update(retired_on=str(retirement['retired_on']), replacement=retirement.get('replacement'))
                entry['message'] = 'retired on %s%s%s' % (
                    entry['retired_on'],
                    ' with its base model %s' % retired_id if retired_id != model_id else '',
                    '; replacement %s' % entry['replacement'] if entry['replacement'] else '')
        return entry


def _blank_entry(model_id):
    return dict(checked=False, probe=None, exists=None, type='fine-tuned' if model_id.startswith('ft:') else 'base',
                archived=None, deprecated=None, deprecation=None, retired=None, retired_on=None,
                replacement=None, http_status=None, error_kind=None, message=None, headers={})


def _finding(code, model, message, **evidence):
    return dict(code=code, severity=SEVERITY[code], model=model, message=message, evidence=evidence)


def _failure_finding(kind, model, status, message, server_url, key_fp):
    """The finding for a call that failed other than with a missing model."""
    where = 'model %s' % model if model else 'the key check'
    evidence = dict(http_status=status, error_kind=kind)
    if kind == 'auth':
        return _finding('key_rejected', model, 'The API key (fingerprint %s) was refused on %s: %s.'
                        ' Check MISTRAL_API_KEY on the hosts; rotate to a valid key.' % (key_fp, where, message),
                        fingerprint=key_fp, **evidence)
    if kind == 'rate_limited':
        return _finding('rate_limited', model, 'Rate limited on %s: %s.' % (where, message), **evidence)
    if kind in ('connect', 'timeout'):
        return _finding('api_unreachable', model, '%s unreachable on %s (%s): %s.' % (server_url, where, kind, message),
                        server_url=server_url, **evidence)
    return _finding('api_error', model, 'Unexpected answer on %s: %s.' % (where, message), **evidence)


def model_findings(model_id, entry, server_url, key_fp):
    """The findings one model's entry calls for (a model not checked has none of its own)."""
    evidence = dict(http_status=entry['http_status'], error_kind=entry['error_kind'])
    if entry['retired']:
        return [_finding('model_retired', model_id, 'Model %s is retired: %s.' % (model_id, entry['message']),
                         retired_on=entry['retired_on'], replacement=entry['replacement'], **evidence)]
    if entry['exists'] is False:
        return [_finding('model_missing', model_id, 'Model %s does not exist for this key: %s.' % (model_id, entry['message']),
                         **evidence)]
    findings = []
    if entry['exists'] is None and entry['checked']:
        findings.append(_failure_finding(entry['error_kind'], model_id, entry['http_status'], entry['message'], server_url, key_fp))
    if entry['deprecated']:
        findings.append(_finding('model_deprecated', model_id, 'Model %s is %s.' % (model_id, entry['message']),
                                 deprecation=entry['deprecation'], replacement=entry['replacement']))
    if entry['archived']:
        findings.append(_finding('model_archived', model_id, 'Fine-tuned model %s is archived: unarchive it before use.' % model_id))
    return findings


def summarize(requested, models, findings):
    entries = list(models.values())
    return dict(
        requested=requested,
        distinct=len(entries),
        checked=sum(1 for e in entries if e['checked']),
        available=sum(1 for e in entries if e['exists']),
        missing=sum(1 for e in entries if e['exists'] is False and not e['retired']),
        retired=sum(1 for e in entries if e['retired']),
        deprecated=sum(1 for e in entries if e['deprecated']),
        archived=sum(1 for e in entries if e['archived']),
        unknown=sum(1 for e in entries if e['exists'] is None),
        findings=len(findings),
    )


def make_sdk(api_key, server_url, timeout):
    """A Mistral client whose HTTP calls are counted; SDK retries stay off."""
    sdk = Mistral(api_key=api_key, server_url=server_url, timeout_ms=int(timeout * 1000), debug_logger=_SILENT_LOGGER)
    transport = _CountingClient(sdk.sdk_configuration.client)
    sdk.sdk_configuration.client = transport
    return sdk, transport


def _not_checked(model_id, key):
    """The entry of a model left unchecked because the key check showed it cannot succeed."""
    entry = _blank_entry(model_id)
    why = KEY_FAILURES_THAT_STOP[key['error_kind']]
    entry.update(http_status=key['status'], error_kind=key['error_kind'],
                 message='not checked (%s%s)' % (why, ': HTTP %s' % key['status'] if key['status'] else ': %s' % key['error_kind']))
    return entry


def run(params, secrets=(), sleep=time.sleep, clock=time.monotonic):
    """Everything mistral_check returns except changed; params as validated by the module."""
    api_key = params['api_key']
    secrets = tuple(secrets) + (api_key,)
    key_fp = fingerprint(api_key)
    checked_at = datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    started = clock()
    sdk, transport = make_sdk(api_key, params['server_url'], params['timeout'])
    checker = Checker(sdk, transport, params['timeout'], params['retries'], params['max_retry_wait'], secrets, sleep)

    key = checker.check_key()
    key['fingerprint'] = key_fp
    findings = []
    if key['error_kind']:
        findings.append(_failure_finding(key['error_kind'], None, key['status'], key['message'], params['server_url'], key_fp))

    model_ids = dedupe(params['models'] + params['chat_models'])
    chat = set(model_ids if params['probe'] == 'chat' else params['chat_models'])
    if key['error_kind'] in KEY_FAILURES_THAT_STOP:
        models = dict((model_id, _not_checked(model_id, key)) for model_id in model_ids)
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(params['concurrency'], len(model_ids)))) as pool:
            futures = [pool.submit(checker.check_model, model_id, 'chat' if model_id in chat else 'retrieve',
                                   params['retired_models']) for model_id in model_ids]
            models = dict(zip(model_ids, (future.result() for future in futures)))
    for model_id, entry in models.items():
        findings.extend(model_findings(model_id, entry, params['server_url'], key_fp))

    return dict(
        key=key,
        models=models,
        rate_limit=dict(headers=checker.ratelimit_headers, retry_after=checker.retry_after,
                        limited=checker.limited, waited=checker.waited),
        api_calls=transport.calls,
        tokens_spent=checker.tokens,
        checked_at=checked_at,
        elapsed_s=round(clock() - started, 3),
        summary=summarize(len(params['models']) + len(params['chat_models']), models, findings),
        findings=findings,
    )
