# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Probe a Genesis host's health endpoint (host contract section 4) into findings.

Standard library only: this runs on Genesis hosts.

Calls per probe: ``GET /health`` always; ``GET /health/<agent>`` only for the
agents a caller names, so their HTTP status is the real one. Without names the
agents' details come from ``/health``, which holds them all, and their
``http_status`` is null.

Every way a probe can go wrong (no answer, a 500 with an HTML page, a body that
is not JSON, a payload without the fields) is a finding, never an exception.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import urllib.parse

from ansible_collections.genesis.model_ops.plugins.module_utils._common import Number, check_numbers, finding, mask, seconds
from ansible_collections.genesis.model_ops.plugins.module_utils._http import hide_passwords, http_get, tls_context
from ansible_collections.genesis.model_ops.plugins.module_utils._jmespath_lite import ExpressionError, compile_expression

# JMESPath of each field; service fields read from the /health payload, agent
# fields from one agent's object (in /health's agents, or /health/<agent>'s body).
SERVICE_FIELDS = {
    'status': 'status',
    'version': 'version',
    'started_at': 'started_at',
    'config': 'config',
    'agents': 'agents',
}
AGENT_FIELDS = {
    'agent_status': 'status',
    'model': 'model',
    'finetuned_model': 'finetuned_model',
    'baseline_model': 'baseline_model',
    'requests': 'requests',
    'errors': 'errors',
    'fallbacks': 'fallbacks',
    'error_rate': 'error_rate',
    'fallback_rate': 'fallback_rate',
    'last_error': 'last_error',
}
DEFAULT_FIELDS = dict(SERVICE_FIELDS, **AGENT_FIELDS)

STATUSES = ('ok', 'degraded', 'down')
_RANK = {'ok': 0, 'degraded': 1, 'down': 2}
MAX_BODY = 1024 * 1024
EXCERPT_CHARS = 200

# The options of every module that probes a health endpoint (plugins/doc_fragments/health_probe.py documents them).
HEALTH_PROBE_ARGUMENT_SPEC = dict(
    timeout=dict(type='raw', default=10),
    validate_certs=dict(type='bool', default=True),
    fields=dict(type='dict', apply_defaults=True, options=dict(
        (name, dict(type='str', default=default)) for name, default in DEFAULT_FIELDS.items())),
    error_rate_threshold=dict(type='raw', default=0.05),
    fallback_rate_threshold=dict(type='raw', default=0.10),
)
HEALTH_PROBE_NUMBERS = dict(timeout=seconds(above=True), error_rate_threshold=Number(0, 1),
                            fallback_rate_threshold=Number(0, 1))


def check_probe_options(module, numbers, urls):
    """Fail the module naming a bad HEALTH_PROBE_ARGUMENT_SPEC option or one of the module's own ``numbers``, and
    what is allowed (the numbers made numbers); a password in any of ``urls`` (user:password@host, sent as Basic
    authentication) shows nowhere Ansible reports, the module's arguments included."""
    hide_passwords(module, urls)
    error = check_numbers(module.params, dict(HEALTH_PROBE_NUMBERS, **numbers))
    if error:
        module.fail_json(msg=error)


def _excerpt(body):
    return mask(' '.join(body.decode('utf-8', 'replace').split())[:EXCERPT_CHARS])


def _number(value):
    # bool is an int to Python, not a rate or a count to anyone else
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def worst(statuses):
    known = [status for status in statuses if status in _RANK]
    return max(known, key=_RANK.get) if known else None


class HealthProbe:
    """Probes one base URL at a time; safe to share between threads."""

    def __init__(self, fields=None, agents=None, timeout=10, validate_certs=True, use_proxy=True,
                 error_rate_threshold=0.05, fallback_rate_threshold=0.10, clock=time.monotonic):
        """fields: {name: expression} over DEFAULT_FIELDS. Raises ExpressionError naming the field."""
        self.expressions = dict(DEFAULT_FIELDS, **(fields or {}))
        self.readers = {}
        for name, expression in self.expressions.items():
            try:
                self.readers[name] = compile_expression(expression)
            except ExpressionError as exc:
                raise ExpressionError('fields.%s: %s' % (name, exc))
        self.agents = list(agents) if agents else None
        self.timeout = timeout
        self.use_proxy = use_proxy
        self.error_rate_threshold = error_rate_threshold
        self.fallback_rate_threshold = fallback_rate_threshold
        self.clock = clock
        # Built once: loading the CA store costs ~40 ms of CPU, which a fleet's threads would pay in turn.
        self.ssl_context = tls_context(validate_certs)

    # -- HTTP -------------------------------------------------------------

    def fetch(self, url, deadline=None):
        """GET url within timeout seconds, and by deadline (a clock() time) if given.

        Returns http_get's answer with url, and error a (code, message) when no HTTP answer came.
        """
        timeout = self.timeout if deadline is None else min(self.timeout, deadline - self.clock())
        answer = http_get(url, timeout, context=self.ssl_context, use_proxy=self.use_proxy, max_body=MAX_BODY,
                          clock=self.clock)
        url = answer['url'] = mask(url)  # what the result and its messages show: no password of the URL
        if answer['error'] == 'timeout':
            answer['error'] = ('timeout', 'no answer from %s within %gs' % (url, max(timeout, 0)))
        elif answer['error']:
            answer['error'] = ('unreachable', 'cannot connect to %s: %s' % (url, answer['reason']))
        return answer

    def _payload(self, answer, agent=None):
        """Return (payload, finding): the JSON an answer carries, or the finding that says why not."""
        url, status = answer['url'], answer['http_status']
        if answer['error']:
            code, message = answer['error']
            return None, finding(code, 'critical', message, agent, url=url)
        if status == 404 and agent:
            return None, finding('unknown_agent', 'warning', '%s does not know agent %s (404)' % (url, agent), agent,
                                 url=url, http_status=status)
        # 2xx, and the contract's 503-for-down, carry the health payload; any other status is an error page.
        if not (200 <= status < 300 or status == 503):
            return None, finding('http_error', 'critical', '%s answered HTTP %s' % (url, status), agent,
                                 url=url, http_status=status, body=_excerpt(answer['body']))
        try:
            return json.loads(answer['body'].decode('utf-8')), None
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: nested too deep
            if status == 503:  # a proxy's 503 page, not the service's "down"
                return None, finding('http_error', 'critical', '%s answered HTTP 503 without a health payload' % url,
                                     agent, url=url, http_status=status, body=_excerpt(answer['body']))
            return None, finding('not_json', 'critical', '%s answered HTTP %s with a body that is not JSON' % (url, status),
                                 agent, url=url, http_status=status, body=_excerpt(answer['body']))

    # -- reading the payload ------------------------------------------------

    def _read(self, name, data):
        try:
            return self.readers[name](data)
        except Exception:  # pylint: disable=broad-except
            # a JMESPath function applied to the wrong type raises; to the caller it is a missing field
            return None

    def _missing(self, name, value, agent, expected):
        where = 'agent %s' % agent if agent else 'the service'
        return finding('missing_field', 'warning', 'health payload of %s: field %s (%s) is %s, expected %s'
                       % (where, name, self.expressions[name], 'missing' if value is None else repr(value), expected),
                       agent, field=name, expression=self.expressions[name], value=value)

    def _status(self, name, data, agent, findings):
        value = self._read(name, data)
        status = value.lower() if isinstance(value, str) else None
        if status in STATUSES:
            return status
        findings.append(self._missing(name, value, agent, 'one of %s' % ', '.join(STATUSES)))
        return None

    def agent_result(self, data, agent, http_status, findings):
        """Normalise one agent's object; append its findings; apply the thresholds."""
        result = {'status': self._status('agent_status', data, agent, findings) or 'unknown', 'http_status': http_status}
        for name in ('model', 'finetuned_model', 'baseline_model'):
            result[name] = self._read(name, data)
        for name in ('requests', 'errors', 'fallbacks'):
            result[name] = _number(self._read(name, data))
        for name in ('error_rate', 'fallback_rate'):
            value = self._read(name, data)
            result[name] = _number(value)
            if result[name] is None:
                findings.append(self._missing(name, value, agent, 'a number'))
        last_error = self._read('last_error', data)
        if isinstance(last_error, dict):
            message = last_error.get('message')
            result['last_error'] = {'at': last_error.get('at'), 'status': last_error.get('status'),
                                    'message': mask(message)}
        elif isinstance(last_error, str):
            result['last_error'] = {'at': None, 'status': None, 'message': mask(last_error)}
        else:
            result['last_error'] = None

        if result['status'] == 'down':
            findings.append(finding('agent_down', 'critical', 'agent %s is down' % agent, agent,
                                    model=result['model'], last_error=result['last_error']))
        elif result['status'] == 'degraded':
            findings.append(finding('agent_degraded', 'warning', 'agent %s reports degraded' % agent, agent,
                                    error_rate=result['error_rate'], fallback_rate=result['fallback_rate']))
        # The thresholds are the runbook's alerts; a site may set stricter ones than the
        # service's own, so they can make an agent the service calls ok degraded.
        for rate, threshold, code in (('error_rate', self.error_rate_threshold, 'error_rate_high'),
                                      ('fallback_rate', self.fallback_rate_threshold, 'fallback_rate_high')):
            if result[rate] is not None and result[rate] > threshold:
                findings.append(finding(code, 'warning', 'agent %s: %s %s is above %s' % (agent, rate, result[rate], threshold),
                                        agent, **{rate: result[rate], 'threshold': threshold,
                                                  'requests': result['requests'], 'errors': result['errors'],
                                                  'fallbacks': result['fallbacks']}))
                if result['status'] == 'ok':
                    result['status'] = 'degraded'
        return result

    def _listed_agents(self, payload, findings):
        """The agents /health lists, as {name: object}: a dict by name, or a list of objects with agent/name."""
        value = self._read('agents', payload)
        if isinstance(value, dict):
            return value
        if isinstance(value, list):
            listed = {}
            for item in value:
                name = isinstance(item, dict) and (item.get('agent') or item.get('name'))
                if isinstance(name, str):
                    listed[name] = item
            if listed or not value:
                return listed
        findings.append(self._missing('agents', value, None, 'an object of agents by name'))
        return {}

    @staticmethod
    def _empty_agent(http_status=None):
        return {'status': 'unknown', 'http_status': http_status, 'model': None, 'finetuned_model': None,
                'baseline_model': None, 'requests': None, 'errors': None, 'fallbacks': None,
                'error_rate': None, 'fallback_rate': None, 'last_error': None}

    # -- one probe ------------------------------------------------------------

    def probe(self, base_url, deadline=None):
        """Probe one host, every request by deadline (a clock() time) if given; return its result
        (never raises for what the network or payload does)."""
        base_url = base_url.rstrip('/')
        findings = []
        result = {'url': mask(base_url), 'status': 'unknown', 'healthy': False, 'http_status': None, 'latency_ms': None,
                  'version': None, 'started_at': None, 'config': None, 'agents': {}, 'findings': findings}
        answer = self.fetch(base_url + '/health', deadline)
        result['http_status'], result['latency_ms'] = answer['http_status'], answer['latency_ms']
        payload, problem = self._payload(answer)
        if answer['error']:
            findings.append(problem)
            result['status'] = 'unreachable'
            result['agents'] = {name: self._empty_agent() for name in self.agents or ()}
            return result

        reported = None
        listed = {}
        if problem:
            findings.append(problem)
        else:
            reported = self._status('status', payload, None, findings)
            for name in ('version', 'started_at', 'config'):
                result[name] = self._read(name, payload)
            if self.agents is None:
                listed = self._listed_agents(payload, findings)
            else:
                # only a fallback for an agent whose own endpoint gives nothing usable
                listed = self._listed_agents(payload, [])

        if self.agents is None:
            for name, data in listed.items():
                result['agents'][name] = self.agent_result(data, name, None, findings)
        else:
            for name in self.agents:
                result['agents'][name] = self._probe_agent(base_url, name, listed.get(name), findings, deadline)

        agent_statuses = [agent['status'] for agent in result['agents'].values()]
        if problem:
            result['status'] = 'unknown'  # agents answering do not make a failing /health ok
        else:
            # The contract's service is the worst of its agents; a payload without a
            # status, or a site that reports otherwise, gets that verdict too.
            result['status'] = worst([reported] + agent_statuses) or 'unknown'
        if result['status'] == 'down':
            findings.append(finding('service_down', 'critical', '%s: the service is down' % result['url'],
                                    url=result['url'], http_status=result['http_status'], reported=reported,
                                    agents_down=sorted(name for name, agent in result['agents'].items()
                                                       if agent['status'] == 'down')))
        result['healthy'] = result['status'] == 'ok' and all(status == 'ok' for status in agent_statuses)
        return result

    def _probe_agent(self, base_url, name, listed, findings, deadline):
        answer = self.fetch('%s/health/%s' % (base_url, urllib.parse.quote(name, safe='')), deadline)
        payload, problem = self._payload(answer, name)
        if problem is None:
            return self.agent_result(payload, name, answer['http_status'], findings)
        findings.append(problem)
        if listed is not None and problem['code'] != 'unknown_agent':
            # /health still told us about the agent: better than nothing, and honest about its HTTP status
            return self.agent_result(listed, name, answer['http_status'], findings)
        return self._empty_agent(answer['http_status'])

    def wait_healthy(self, base_url, wait_timeout, wait_interval, baseline=None, sleep=time.sleep, elapsed=0,
                     report_every=None):
        """Probe until healthy (with a baseline: no worse, and no agent idle on a new model, see worse_than())
        or wait_timeout seconds have passed, probes included: a request still going at the deadline is cut
        short there (wait_timeout 0 is one probe, with its own timeout). Returns the last result with
        `attempts` (and `worse` and `idle` with a baseline).

        elapsed: seconds of the wait already spent by earlier calls (the deadline is that much nearer; none left:
        one probe, with its own timeout, judged as at the deadline). report_every: return after about that many
        seconds (whole probes and intervals) with `waiting` true, when the host is not there yet and the deadline
        is still ahead, so that the caller can say what it waits for and call again (the wait goes on, with elapsed)."""
        now = self.clock()
        remaining = wait_timeout - elapsed
        deadline = now + max(0, remaining)
        report_at = now + report_every if report_every else None
        attempts = 0
        while True:
            attempts += 1
            result = self.probe(base_url, deadline if remaining > 0 else None)
            if baseline is not None:
                result['worse'], result['idle'] = worse_than(result, baseline)
                done = not result['worse'] and not result['idle']
            else:
                done = result['healthy']
            if done or remaining <= 0 or self.clock() + wait_interval >= deadline:
                break
            sleep(wait_interval)
            if report_at is not None and self.clock() >= report_at:
                result['waiting'] = True  # the next call's first probe is this call's next one
                break
        result['attempts'] = attempts
        return result


def waiting_for(result, baseline=None):
    """What a wait still waits for, in words: the worse and idle agents against a baseline, else what is not ok."""
    if baseline is not None:
        return '; '.join((result.get('worse') or []) + (result.get('idle') or [])) or 'no worse than before'
    agents = result.get('agents') or {}
    pending = ['%s %s' % (name, agent.get('status')) for name, agent in sorted(agents.items()) if agent.get('status') != 'ok']
    return ', '.join(pending) or 'service %s' % result.get('status')


def configured_models(result, agent):
    """The models an agent may route to by the loaded config: its baseline, and its fine-tuned model unless the
    config turns fine-tuned models off or rolls out 0% (a per-agent switch is not in the payload). Empty when
    the payload names neither."""
    config = result.get('config') if isinstance(result.get('config'), dict) else {}
    finetuned_on = config.get('use_finetuned') is not False and config.get('rollout_percentage') != 0
    models = (agent.get('baseline_model'), agent.get('finetuned_model') if finetuned_on else None)
    return {model for model in models if model}


def worse_than(result, baseline):
    """(worse, idle) of a probe against a baseline (an earlier probe), each as sorted text.

    worse: the service not answering, or worse than it was and than its agents say; no agent reported; an agent
    of the baseline missing; an agent worse than it was (one the baseline lacks counts as ok before); an agent
    with no request since the restart that routes to a model its config does not name. An agent with no request
    is otherwise judged by its status alone: a quiet host is not put back for being quiet.
    idle: the agents with no request yet on a model other than the one they served before, which a caller may
    wait on for a while (their first request is the first evidence the new model works)."""
    if result['status'] not in _RANK:
        return ['service %s' % result['status']], []
    before = baseline.get('agents') or {}
    after = result.get('agents') or {}
    if not after:
        return ['no agent reported (%d before)' % len(before)], []
    worse = ['%s missing (was %s)' % (name, before[name].get('status')) for name in sorted(set(before) - set(after))]
    idle = []
    for name, agent in sorted(after.items()):
        was = before.get(name) or {}
        status, was_status = agent.get('status'), was.get('status') or 'ok'
        models = configured_models(result, agent)
        if _RANK.get(status, 3) > _RANK.get(was_status, 3):
            worse.append('%s %s (was %s)' % (name, status, was_status))
        elif agent.get('requests') != 0:
            continue
        elif models and agent.get('model') not in models:
            worse.append('%s has served no request and routes to %s, not its configured model' % (name, agent.get('model')))
        elif agent.get('model') != was.get('model'):
            idle.append('%s has served no request yet on %s (was on %s)' % (name, agent.get('model'), was.get('model')))
    service_worst = _RANK[result['status']]
    if service_worst > _RANK.get(baseline.get('status'), 0) and service_worst > max(
            _RANK.get(agent.get('status'), 0) for agent in after.values()):
        worse.append('service %s (was %s)' % (result['status'], baseline.get('status')))
    return worse, idle


def probe_targets(check, targets, concurrency):
    """Run check(url) for every {name, url} target in threads; return {name: result}."""
    if not targets:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(concurrency, len(targets))) as pool:
        results = list(pool.map(check, [target['url'] for target in targets]))
    return dict(zip([target['name'] for target in targets], results))


def summarize(hosts):
    """Counts over per-host results: by status, healthy, findings by code, and who is not healthy."""
    by_status = dict.fromkeys(STATUSES + ('unreachable', 'unknown'), 0)
    codes = {}
    for result in hosts.values():
        by_status[result['status']] += 1
        for item in result['findings']:
            codes[item['code']] = codes.get(item['code'], 0) + 1
    return {'hosts': len(hosts), 'healthy': sum(1 for result in hosts.values() if result['healthy']),
            'by_status': by_status, 'findings': codes,
            'unhealthy': sorted(name for name, result in hosts.items() if not result['healthy'])}


def fails(result, fail_on):
    """Whether a host result meets the fail_on condition (never, degraded, down)."""
    if fail_on == 'degraded':
        return not result['healthy']
    if fail_on == 'down':
        return (result['status'] in ('down', 'unreachable', 'unknown')
                or any(agent['status'] == 'down' for agent in result['agents'].values()))
    return False
