# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis: what the fleet's evidence says, in the runbook's four scenarios, and its report.

Pure functions (no I/O, no clock): the playbook gathers, this decides, the filters
``genesis.model_ops.verdict`` and ``genesis.model_ops.report_markdown`` expose it.

Choices the runbook and the host contract (section 8) leave open, made here:

- A host's own signals (an agent's ``last_error``, its log lines) count only for agents
  that are not ok (their status, or a rate above the thresholds). An ok agent whose window
  still holds an old 429 is no incident, and a diagnosis run after a fix must come out
  healthy. A failing agent's log lines count only when they are of the kind of its
  ``last_error`` (or it has none): a 401 ten minutes ago does not make today's 404 a
  credentials incident. With no health figures to judge by (no answer, no result), log
  lines count as they are.
- The Mistral checks count whatever the hosts' figures say: they are the API's state now,
  for the key the host uses (its env file's fingerprint, else the controller's for it).
- A 404, or a 400 ``invalid_model``, in ``last_error`` is put on the model its message
  names; on the fine-tuned model when it names none, unless Mistral says that one exists or
  the agent does not route to it.
- An agent not ok that no scenario explains makes the ``unknown`` scenario (last), with its
  figures and the command to look closer; so does a host not ok with no agent to blame.
"""

from __future__ import annotations

import posixpath
import re
import shlex

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask

# The order to handle them in; unknown comes last, after everything that has a fix.
ORDER = ('credentials', 'complete_failure', 'model_unavailable', 'rate_limit', 'unknown')
VERDICTS = ORDER + ('healthy',)
STATUSES = ('ok', 'degraded', 'down', 'unreachable', 'unknown')

RUNBOOK = 'docs/model-failure-runbook.md'
# scenario: (title, runbook section, playbook)
SCENARIOS = {
    'credentials': ('API credentials issue', 'Scenario 1: API Credentials Issue', 'remediate_credentials.yml'),
    'complete_failure': ('Complete system failure', 'Scenario 4: Complete System Failure', 'remediate_complete_failure.yml'),
    'model_unavailable': ('Model unavailable', 'Scenario 3: Model Unavailable', 'remediate_model_unavailable.yml'),
    'rate_limit': ('Rate limiting', 'Scenario 2: Rate Limiting', 'remediate_rate_limit.yml'),
    'unknown': ('No scenario fits: look closer', 'Diagnostic Steps', 'diagnose.yml'),
}
SUPPORTING = ('key_mismatch', 'key_missing', 'fallback_not_viable', 'model_unavailable_mitigated', 'model_archived',
              'model_deprecated', 'recent_config_change', 'service_restarted', 'mistral_check_failed', 'prometheus_unavailable')
DEFAULT_TARGET = 'genesis'

_LOG_LABELS = {'auth': 'auth (401/403/unauthorized)', 'rate_limit': 'rate-limit', 'model_not_found': 'model-not-found',
               'server_error': '5xx', 'errors': 'error'}
_RANK = {'ok': 0, 'degraded': 1, 'unknown': 2, 'down': 3, 'unreachable': 4}
_INVALID_MODEL = re.compile(r'invalid[ _]model', re.I)
_GONE_KINDS = ('not_found', 'invalid_model')


def _dict(value):
    return value if isinstance(value, dict) else {}


def _number(value):
    # bool is an int to Python, not a rate or a count to anyone else
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value):
    """A number given as a number or as text (a templated setting may be either); None otherwise."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return _number(value)


def _status_code(value):
    """An HTTP status as an int (the lab's health says 429, a log '429'); None for timeout, connect, nothing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _num(value):
    """A number as short text: 15.0 -> 15, 0.07500 -> 0.075."""
    return '%g' % value if isinstance(value, float) else str(value)


def _line(host, agent, source, detail):
    # redact: defence in depth, the inputs are redacted already
    return {'host': host, 'agent': agent, 'source': source, 'detail': mask(detail)}


def _add(lines, line):
    if line not in lines:
        lines.append(line)


def _last_error_text(error):
    parts = ['last_error', str(error.get('status')) if error.get('status') is not None else '']
    if error.get('message'):
        parts.append(str(error['message']))
    if error.get('at'):
        parts.append('at %s' % error['at'])
    return ' '.join(part for part in parts if part)


def _gone(entry):
    """Whether a mistral_check model entry says the model cannot be called."""
    return bool(entry) and (entry.get('exists') is False or bool(entry.get('retired'))
                            or entry.get('error_kind') in _GONE_KINDS)


def _model_text(model_id, entry):
    """What Mistral said of a model that is gone, in one line."""
    status = entry.get('http_status')
    code = ' (%s)' % status if status is not None else ''
    if entry.get('retired'):
        return '%s retired on %s%s%s' % (model_id, entry.get('retired_on'), code,
                                         '; replacement %s' % entry['replacement'] if entry.get('replacement') else '')
    if entry.get('error_kind') == 'invalid_model':
        return '%s invalid_model%s' % (model_id, code)
    return '%s not found%s' % (model_id, code)


def _anchor(section):
    """The GitHub anchor of a Markdown heading."""
    return re.sub(r'[^a-z0-9 -]', '', section.lower()).replace(' ', '-')


class _Host:
    """One host's evidence, read once: its agents in config order, which are not ok, its Mistral check."""

    def __init__(self, name, data, mistral, thresholds):
        self.name = name
        self.data = data
        self.reachable = data.get('reachable', True) is not False
        self.health = data.get('health') if isinstance(data.get('health'), dict) else None
        self.logs = data.get('logs') if isinstance(data.get('logs'), dict) else None
        self.config = _dict(data.get('config'))
        self.config_agents = dict((agent, _dict(conf)) for agent, conf in _dict(self.config.get('agents')).items())
        self.figures = dict((agent, _dict(figures)) for agent, figures in _dict((self.health or {}).get('agents')).items())
        self.agents = list(self.config_agents) + [agent for agent in self.figures if agent not in self.config_agents]
        # Health figures tell which agents fail; without them nothing can be ruled out.
        self.judged = bool(self.figures)
        self.not_ok = [agent for agent in self.agents if agent in self.figures and not self._ok(self.figures[agent], thresholds)]

        self.env_fingerprint = _dict(data.get('key')).get('fingerprint')
        self.controller_fingerprint = data.get('api_key_fingerprint')
        key_fp = self.env_fingerprint or self.controller_fingerprint
        if key_fp:
            self.check = _dict(mistral.get(key_fp)) or None
        else:
            # no fingerprint to go by: a run with one key has only one check to mean
            self.check = _dict(next(iter(mistral.values()))) if len(mistral) == 1 else None
        self.key_fingerprint = key_fp or _dict((self.check or {}).get('key')).get('fingerprint')
        # A model's existence is the same for the controller's key when the host's was not checked.
        self.model_check = self.check or _dict(mistral.get(self.controller_fingerprint)) or None

        status = (self.health or {}).get('status')
        if status not in STATUSES:
            status = 'unknown' if self.reachable or self.health else 'unreachable'
        if status == 'ok' and self.not_ok:  # the run's thresholds may be stricter than the service's
            status = 'degraded'
        self.status = status

    @staticmethod
    def _ok(figures, thresholds):
        if figures.get('status') != 'ok':
            return False
        return all(_number(figures.get(rate)) is None or figures[rate] <= threshold
                   for rate, threshold in thresholds.items())

    def ok(self):
        return self.reachable and self.status == 'ok'

    def ids(self, agent):
        """(fine-tuned id, baseline id) of an agent: the config on disk, else what the service reports."""
        conf, figures = self.config_agents.get(agent, {}), self.figures.get(agent, {})
        return (conf.get('finetuned') or figures.get('finetuned_model'), conf.get('baseline') or figures.get('baseline_model'))

    def routes_to_finetuned(self, agent):
        """Whether the config sends any of the agent's requests to its fine-tuned model (contract section 3)."""
        if not self.config_agents:
            # no config read (controller mode): the health payload's model in use says it, when it is the baseline
            finetuned, baseline = self.ids(agent)
            if self.figures.get(agent, {}).get('model') and self.figures[agent]['model'] == baseline != finetuned:
                return False
        models = self.config if self.config_agents else _dict((self.health or {}).get('config'))
        rollout = _number(models.get('rollout_percentage'))
        return (models.get('use_finetuned') is not False and self.config_agents.get(agent, {}).get('use_finetuned') is not False
                and (rollout is None or rollout > 0))

    def model_entry(self, model_id):
        return _dict(_dict((self.model_check or {}).get('models')).get(model_id)) if model_id else {}

    def last_error(self, agent):
        """The agent's last_error, only when the agent is not ok (see the module docstring)."""
        if agent not in self.not_ok:
            return None
        error = self.figures[agent].get('last_error')
        return error if isinstance(error, dict) else None

    def error_category(self, agent):
        """The log category of a failing agent's last_error ('auth', 'rate_limit', ...); None without one."""
        error = self.last_error(agent)
        if not error:
            return None
        status = _status_code(error.get('status'))
        if status in (401, 403):
            return 'auth'
        if status == 429:
            return 'rate_limit'
        if status == 404 or (status == 400 and _INVALID_MODEL.search(str(error.get('message') or ''))):
            return 'model_not_found'
        if status is not None and status >= 500:
            return 'server_error'
        return 'errors'

    def names_baseline(self, agent, message):
        """Whether a message names the agent's baseline on its own, not as the base inside a fine-tuned id."""
        baseline = self.ids(agent)[1]
        return bool(baseline and re.search(r'(?<![\w:.-])%s(?![\w.-])' % re.escape(baseline), str(message or '')))

    def failed_model(self, agent, error):
        """'finetuned' or 'baseline': which model a 404 / 400 invalid_model last_error is about; None otherwise."""
        status, message = _status_code(error.get('status')), str(error.get('message') or '')
        if not (status == 404 or (status == 400 and _INVALID_MODEL.search(message))):
            return None
        finetuned = self.ids(agent)[0]
        if finetuned and finetuned in message:
            return 'finetuned'
        if self.names_baseline(agent, message):
            return 'baseline'
        if finetuned and self.routes_to_finetuned(agent) and self.model_entry(finetuned).get('exists') is not True:
            return 'finetuned'
        return 'baseline'

    def log_lines(self, category, only=None, attributed=False):
        """(agents, evidence lines) for a log category; see the module docstring for which lines count.

        only: the agents to look at; attributed: only lines whose agent= is known count.
        """
        logs = self.logs or {}
        count = _number(_dict(logs.get('counts')).get(category)) or 0
        if not count:
            return [], []
        window = _dict(logs.get('window'))
        if window.get('minutes'):
            where = 'in %s min' % _num(window['minutes'])
        elif window.get('lines'):
            where = 'in the last %s lines of each file' % window['lines']
        else:
            where = 'in the log'
        by_agent = dict((agent, _number(_dict(counts).get(category)) or 0) for agent, counts in _dict(logs.get('by_agent')).items())
        if self.judged:
            # a failing agent's own last_error says what fails it now; older lines of another kind are history
            candidates = [agent for agent in self.not_ok if self.error_category(agent) in (None, category) or category == 'errors']
        else:
            candidates = self.agents + sorted(set(by_agent) - set(self.agents))
        if only is not None:
            candidates = [agent for agent in candidates if agent in only]
        lines = []
        if by_agent or attributed:
            agents = [agent for agent in candidates if by_agent.get(agent)]
            for agent in agents:
                lines.append(_line(self.name, agent, 'log', 'log: %s %s lines %s' % (by_agent[agent], _LOG_LABELS[category], where)))
        else:
            # lines not in the contract's format name no agent: blame the agents failing, if any
            agents = list(candidates)
            if agents or not self.judged:
                lines.append(_line(self.name, None, 'log', 'log: %s %s lines %s' % (count, _LOG_LABELS[category], where)))
        if not lines:
            return [], []
        samples = _dict(logs.get('samples')).get(category)
        if isinstance(samples, list) and samples and isinstance(samples[-1], dict) and samples[-1].get('line'):
            lines.append(_line(self.name, None, 'log', 'log sample: %s' % samples[-1]['line']))
        return agents, lines


# -- the four scenarios, one host at a time --------------------------------------------------


def _credentials(host):
    lines = []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and _status_code(error.get('status')) in (401, 403):
            lines.append(_line(host.name, agent, 'health', _last_error_text(error)))
    lines.extend(host.log_lines('auth')[1])
    key = _dict((host.check or {}).get('key'))
    if key.get('authenticated') is False:
        lines.append(_line(host.name, None, 'mistral', 'mistral: key fingerprint %s rejected (%s)'
                           % (key.get('fingerprint') or host.key_fingerprint, key.get('status'))))
    return (list(host.agents), lines) if lines else None


def _complete_failure(host, credentials):
    lines = []
    if not host.reachable:
        lines.append(_line(host.name, None, 'ansible', 'ansible: host unreachable'))
    health = host.health or {}
    if health and host.status == 'unreachable':
        answers = [item.get('message') for item in health.get('findings') or () if _dict(item).get('code') in ('unreachable', 'timeout')]
        for message in answers or ['no answer from the health endpoint']:
            lines.append(_line(host.name, None, 'health', 'health: %s' % message))
    elif host.judged and not credentials:
        # every agent down, fallback included; a 401/403 explains that better (credentials)
        down = [agent for agent in host.agents if host.figures.get(agent, {}).get('status') == 'down'
                or (_number(host.figures.get(agent, {}).get('error_rate')) or 0) >= 1]
        if len(down) == len(host.figures):
            for agent in down:
                figures = host.figures[agent]
                detail = '%s down: error_rate %s, fallback_rate %s' % (agent, figures.get('error_rate'), figures.get('fallback_rate'))
                error = figures.get('last_error')
                if isinstance(error, dict):
                    detail += '; ' + _last_error_text(error)
                    if host.names_baseline(agent, error.get('message')):
                        detail += ' (on the baseline %s)' % host.ids(agent)[1]
                lines.append(_line(host.name, agent, 'health', detail))
    elif health.get('status') == 'down' and not host.figures and not credentials:
        lines.append(_line(host.name, None, 'health', 'health: service down (HTTP %s), no agent reported' % health.get('http_status')))
    if not lines:
        return None
    key = _dict((host.check or {}).get('key'))
    if key.get('error_kind') in ('connect', 'timeout'):
        lines.append(_line(host.name, None, 'mistral', 'mistral: API unreachable from the controller (%s)' % key['error_kind']))
    return list(host.agents), lines


def _model_unavailable(host, supporting):
    agents, lines = [], []
    for agent in host.agents:
        finetuned = host.ids(agent)[0]
        if not finetuned:
            continue
        found = []
        entry = host.model_entry(finetuned)
        if _gone(entry):
            if host.routes_to_finetuned(agent):
                found.append(_line(host.name, agent, 'mistral', 'mistral: %s' % _model_text(finetuned, entry)))
            else:
                supporting.add('model_unavailable_mitigated', host.name, agent,
                               'mistral: %s; the agent already runs on its baseline (use_finetuned false or rollout 0)'
                               % _model_text(finetuned, entry))
        error = host.last_error(agent)
        if error and host.failed_model(agent, error) == 'finetuned':
            found.append(_line(host.name, agent, 'health', _last_error_text(error)))
        if entry.get('exists') is not True:
            found.extend(host.log_lines('model_not_found', only=[agent], attributed=True)[1])
        if found:
            agents.append(agent)
            for line in found:
                _add(lines, line)
    return (agents, lines) if agents else None


def _rate_limit(host):
    agents, lines = [], []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and _status_code(error.get('status')) == 429:
            agents.append(agent)
            lines.append(_line(host.name, agent, 'health', _last_error_text(error)))
    log_agents, log_lines = host.log_lines('rate_limit')
    agents.extend(agent for agent in log_agents if agent not in agents)
    lines.extend(log_lines)
    check = host.check or {}
    limits = _dict(check.get('rate_limit'))
    kinds = [_dict(check.get('key')).get('error_kind')] + [_dict(entry).get('error_kind') for entry in _dict(check.get('models')).values()]
    limited = _number(limits.get('limited')) or 0
    at_zero = sorted(name for name, value in _dict(limits.get('headers')).items()
                     if str(name).lower().startswith('x-ratelimit-remaining') and str(value).strip() == '0')
    if limited or 'rate_limited' in kinds or at_zero:
        parts = []
        if limited or 'rate_limited' in kinds:
            parts.append('%s answer(s) 429 for key fingerprint %s' % (limited or 1, host.key_fingerprint))
        if _number(limits.get('retry_after')) is not None:
            parts.append('Retry-After %ss' % _num(limits['retry_after']))
        parts.extend('%s 0' % name for name in at_zero)
        lines.append(_line(host.name, None, 'mistral', 'mistral: ' + '; '.join(parts)))
        agents = list(host.agents)  # the key's limit is every agent's
    if not lines:
        return None
    return [agent for agent in host.agents if agent in agents] + [agent for agent in agents if agent not in host.agents], lines


def _unknown(host, explained, covered, prometheus):
    """Evidence of what no scenario explains on a host: its failing agents, else the host itself when no scenario covers it."""
    agents = [agent for agent in host.not_ok if agent not in explained]
    lines = []
    for agent in agents:
        figures = host.figures[agent]
        detail = '%s %s: error_rate %s, fallback_rate %s' % (
            agent, figures.get('status'), figures.get('error_rate'), figures.get('fallback_rate'))
        if isinstance(figures.get('last_error'), dict):
            detail += '; ' + _last_error_text(figures['last_error'])
        lines.append(_line(host.name, agent, 'health', 'health: ' + detail))
        rate = _number(_dict(prometheus).get(agent))
        if rate is not None:
            lines.append(_line(host.name, agent, 'prometheus', 'prometheus: %s model errors/s over 5m' % _num(rate)))
    for category in ('server_error', 'errors'):
        lines.extend(host.log_lines(category, only=agents)[1])
    if not agents and not covered and not host.ok():
        if not host.health:
            lines.append(_line(host.name, None, 'health', 'health: no result (status %s)' % host.status))
        for item in (host.health or {}).get('findings') or ():
            if _dict(item).get('severity') in ('critical', 'warning'):
                lines.append(_line(host.name, item.get('agent'), 'health', 'health: %s' % item.get('message')))
        if not lines:
            lines.append(_line(host.name, None, 'health', 'health: service %s' % host.status))
    return (agents, lines) if agents or (lines and not covered) else None


# -- supporting findings ------------------------------------------------------------------------


class _Supporting:
    """Supporting findings gathered by (code, subject), in the order hosts and agents come."""

    def __init__(self):
        self.items = {}

    def add(self, code, host=None, agent=None, detail='', subject=None):
        item = self.items.setdefault((code, subject if subject is not None else detail),
                                     {'code': code, 'hosts': [], 'agents': {}, 'details': []})
        if host is not None and host not in item['hosts']:
            item['hosts'].append(host)
        if agent is not None and agent not in item['agents'].setdefault(host, []):
            item['agents'][host].append(agent)
        if detail and detail not in item['details']:
            item['details'].append(detail)

    def result(self):
        def rank(item):
            known = item['code'] in SUPPORTING
            return (SUPPORTING.index(item['code']) if known else SUPPORTING.index('service_restarted') + 0.5, item['code'])
        out = []
        for item in sorted(self.items.values(), key=rank):  # sorted() is stable: first seen first within a code
            details = item['details']
            detail = '; '.join(details[:5]) + ('; and %s more' % (len(details) - 5) if len(details) > 5 else '')
            out.append({'code': item['code'], 'hosts': sorted(item['hosts']),
                        'agents': dict((host, item['agents'][host]) for host in sorted(item['agents'])),
                        'detail': mask(detail)})
        return out


def _change_code(code):
    """host_evidence's recent-change codes as supporting codes: any config change, any restart."""
    code = str(code or 'recent_change').lower()
    if 'config' in code:
        return 'recent_config_change'
    if 'restart' in code or 'service' in code:
        return 'service_restarted'
    return code


def _host_supporting(host, supporting):
    if host.env_fingerprint and host.controller_fingerprint and host.env_fingerprint != host.controller_fingerprint:
        supporting.add('key_mismatch', host.name, None, '%s: env file key %s, controller key %s'
                       % (host.name, host.env_fingerprint, host.controller_fingerprint), subject='')
    if _dict(host.data.get('key')).get('present') is False:
        supporting.add('key_missing', host.name, None, '%s: no MISTRAL_API_KEY in the env file' % host.name, subject='')
    for agent in host.agents:
        finetuned, baseline = host.ids(agent)
        entry = host.model_entry(baseline)
        error = host.last_error(agent)
        if _gone(entry):
            supporting.add('fallback_not_viable', host.name, agent, 'baseline %s: a failing call has no working fallback'
                           % _model_text(baseline, entry), subject=baseline)
        elif baseline and error and host.failed_model(agent, error) == 'baseline':
            supporting.add('fallback_not_viable', host.name, agent, 'baseline %s answered %s: a failing call has no working fallback'
                           % (baseline, _last_error_text(error)), subject=baseline)
        for model_id in (finetuned, baseline):
            entry = host.model_entry(model_id)
            if entry.get('archived'):
                supporting.add('model_archived', host.name, agent, 'mistral: %s is archived: unarchive it before use' % model_id,
                               subject=model_id)
            if entry.get('deprecated'):
                supporting.add('model_deprecated', host.name, agent, 'mistral: %s deprecated, removal on %s%s' % (
                    model_id, entry.get('deprecation'), '; replacement %s' % entry['replacement'] if entry.get('replacement') else ''),
                    subject=model_id)
    for change in host.data.get('recent_changes') or ():
        change = _dict(change)
        detail = change.get('detail')
        if isinstance(detail, dict):  # host_evidence gives {path: ...}, {pid: ..., running: ...}, an audit entry
            detail = ', '.join('%s=%s' % (key, detail[key]) for key in sorted(detail))
        supporting.add(_change_code(change.get('code')), host.name, None, '%s at %s: %s' % (host.name, change.get('at'), detail),
                       subject='')


# -- the report ------------------------------------------------------------------------------------


def _command(playbook, hosts, all_hosts, settings, verbose=False):
    """The exact next command: --limit when not every host of the run is concerned, or the run was limited."""
    if settings.get('playbook_dir'):
        playbook = posixpath.join(str(settings['playbook_dir']), playbook)
    args = ['ansible-playbook', playbook]
    target = settings.get('target')
    if target and target != DEFAULT_TARGET:  # the playbooks act on the group genesis unless told
        args += ['-e', 'target=%s' % target]
    if set(hosts) != set(all_hosts) or settings.get('limit'):
        # a run that was limited names its hosts even when all of them are concerned: the group is wider
        args += ['--limit', ','.join(hosts)]
    if verbose:
        args.append('-v')
    return ' '.join(shlex.quote(arg) for arg in args)


def _scrubbed(value):
    """A finding's evidence with every string redacted: it may quote a last_error or a body."""
    if isinstance(value, dict):
        return dict((key, _scrubbed(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_scrubbed(item) for item in value]
    return mask(value) if isinstance(value, str) else value


def _findings(host):
    out = []
    for source, items in (('health', (host.health or {}).get('findings')), ('log', (host.logs or {}).get('findings')),
                          ('host', host.data.get('findings'))):
        for item in items or ():
            item = _dict(item)
            out.append({'source': source, 'code': item.get('code'), 'severity': item.get('severity'), 'agent': item.get('agent'),
                        'message': mask(str(item.get('message') or '')), 'evidence': _scrubbed(_dict(item.get('evidence')))})
    return out


def _host_report(host, scenarios):
    agents = {}
    for agent in host.agents:
        figures = host.figures.get(agent, {})
        error = figures.get('last_error')
        agents[agent] = {
            'status': figures.get('status') if agent in host.figures else 'unknown',
            'model': figures.get('model'),
            'error_rate': _number(figures.get('error_rate')),
            'fallback_rate': _number(figures.get('fallback_rate')),
            'last_error': {'at': error.get('at'), 'status': error.get('status'), 'message': mask(str(error.get('message') or ''))}
            if isinstance(error, dict) else None,
        }
    return {'status': host.status, 'reachable': host.reachable, 'scenarios': scenarios, 'agents': agents, 'findings': _findings(host)}


def _mistral_report(mistral):
    keys, models = {}, {}
    for fingerprint in sorted(mistral):
        check = _dict(mistral[fingerprint])
        key, limits = _dict(check.get('key')), _dict(check.get('rate_limit'))
        keys[fingerprint] = {'authenticated': key.get('authenticated'), 'status': key.get('status'), 'error_kind': key.get('error_kind'),
                             'message': mask(str(key['message'])) if key.get('message') else None,
                             'rate_limited': bool(_number(limits.get('limited'))) or key.get('error_kind') == 'rate_limited',
                             'retry_after': _number(limits.get('retry_after'))}
        for model_id, entry in _dict(check.get('models')).items():
            entry = _dict(entry)
            # one line per id: the first key that got an answer about it
            if model_id in models and (models[model_id]['exists'] is not None or entry.get('exists') is None):
                continue
            models[model_id] = dict((name, entry.get(name)) for name in (
                'exists', 'type', 'retired', 'retired_on', 'replacement', 'deprecated', 'deprecation', 'archived',
                'http_status', 'error_kind'))
            models[model_id]['message'] = mask(str(entry['message'])) if entry.get('message') else None
            models[model_id]['fingerprint'] = fingerprint
    return {'keys': keys, 'models': models}


def _validate(evidence):
    if not isinstance(evidence, dict):
        raise ValueError('evidence must be a dict with hosts, mistral, prometheus and settings, got %s' % type(evidence).__name__)
    hosts = evidence.get('hosts')
    if not isinstance(hosts, dict) or not hosts:
        raise ValueError('evidence.hosts must be a non-empty dict of host results by inventory name, got %r' % (hosts,))
    for name, data in hosts.items():
        if not isinstance(data, dict):
            raise ValueError('evidence.hosts[%s] must be a dict, got %s' % (name, type(data).__name__))
    for name in ('mistral', 'prometheus', 'settings'):
        if evidence.get(name) is not None and not isinstance(evidence[name], dict):
            raise ValueError('evidence.%s must be a dict or null, got %s' % (name, type(evidence[name]).__name__))


def diagnose(evidence):
    """The diagnosis of a run's evidence (see the module docstring and the filter's docs): the report, a dict."""
    _validate(evidence)
    settings = evidence.get('settings') or {}
    mistral = evidence.get('mistral') or {}
    thresholds = {}
    for name, default in (('error_rate', 0.05), ('fallback_rate', 0.10)):
        value = settings.get('%s_threshold' % name)
        thresholds[name] = default if value is None else _float(value)
        if thresholds[name] is None or not 0 <= thresholds[name] <= 1:
            raise ValueError('settings.%s_threshold must be a number from 0 to 1, got %r' % (name, value))

    all_hosts = sorted(evidence['hosts'])
    found = dict((scenario, {}) for scenario in ORDER)
    supporting = _Supporting()
    views = {}
    for name in all_hosts:
        data = evidence['hosts'][name]
        host = views[name] = _Host(name, data, mistral, thresholds)
        credentials = _credentials(host)
        held = {'credentials': credentials, 'complete_failure': _complete_failure(host, credentials),
                'model_unavailable': _model_unavailable(host, supporting), 'rate_limit': _rate_limit(host)}
        explained = set()
        for scenario, result in held.items():
            if result:
                found[scenario][name] = {'agents': result[0], 'evidence': result[1]}
                explained.update(result[0])
        if held['credentials'] or held['complete_failure']:
            explained.update(host.agents)  # every agent of the host is in it
        unknown = _unknown(host, explained, any(held.values()), data.get('prometheus'))
        if unknown:
            found['unknown'][name] = {'agents': unknown[0], 'evidence': unknown[1]}
        _host_supporting(host, supporting)

    for fingerprint in sorted(mistral):
        check = _dict(mistral[fingerprint])
        if not isinstance(check.get('key'), dict):  # the task failed or was skipped: no word from Mistral on this key
            supporting.add('mistral_check_failed', detail='key %s: %s' % (fingerprint, check.get('msg') or 'no result'),
                           subject=fingerprint)

    prometheus = evidence.get('prometheus')
    if not prometheus:
        supporting.add('prometheus_unavailable', detail='Prometheus was not queried: error rates come from /health only')
    elif not prometheus.get('available'):
        why = '; '.join(_dict(item).get('message') for item in prometheus.get('findings') or () if _dict(item).get('message'))
        supporting.add('prometheus_unavailable', detail='Prometheus not available%s: error rates come from /health only'
                       % (' (%s)' % why if why else ''))

    scenarios = []
    for scenario in ORDER:
        per_host = found[scenario]
        if not per_host:
            continue
        title, section, playbook = SCENARIOS[scenario]
        hosts = sorted(per_host)
        scenarios.append({
            'scenario': scenario, 'title': title, 'hosts': hosts,
            'agents': dict((host, per_host[host]['agents']) for host in hosts),
            'evidence': [line for host in hosts for line in per_host[host]['evidence']],
            'command': _command(playbook, hosts, all_hosts, settings, verbose=scenario == 'unknown'),
            'runbook': section, 'runbook_link': '%s#%s' % (RUNBOOK, _anchor(section)),
        })

    host_reports = dict((name, _host_report(views[name], [scenario for scenario in ORDER if name in found[scenario]]))
                        for name in all_hosts)
    by_status = dict((status, 0) for status in STATUSES)
    for report in host_reports.values():
        by_status[report['status']] += 1
    checks = [_dict(check) for _fp, check in sorted(mistral.items())]
    return {
        'verdict': scenarios[0]['scenario'] if scenarios else 'healthy',
        'scenarios': scenarios,
        'supporting': supporting.result(),
        'hosts': host_reports,
        'mistral': _mistral_report(mistral),
        'api_calls': sum(_number(check.get('api_calls')) or 0 for check in checks),
        'tokens_spent': sum(_number(check.get('tokens_spent')) or 0 for check in checks),
        'generated_at': settings.get('generated_at'),
        'duration_s': _float(settings.get('duration_s')),
        'target': settings.get('target') or DEFAULT_TARGET,
        'thresholds': {'error_rate': thresholds['error_rate'], 'fallback_rate': thresholds['fallback_rate']},
        'summary': {
            'hosts': len(all_hosts),
            'healthy': sum(1 for name in all_hosts if views[name].ok() and not host_reports[name]['scenarios']),
            'by_status': by_status,
            'by_scenario': dict((scenario, len(found[scenario])) for scenario in ORDER if found[scenario]),
        },
    }


# -- Markdown ------------------------------------------------------------------------------------------


def _cell(value):
    return str(value if value not in (None, '') else '-').replace('|', '\\|').replace('\n', ' ')


def _percent(value):
    return '%s%%' % _num(round(value * 100, 1)) if _number(value) is not None else '-'


def _worst_agent(agents):
    if not agents:
        return '-'
    order = list(agents)
    name = max(order, key=lambda agent: (_RANK.get(agents[agent]['status'], 2), _number(agents[agent]['error_rate']) or 0,
                                         -order.index(agent)))
    agent = agents[name]
    text = '%s %s (errors %s, fallbacks %s' % (name, agent['status'], _percent(agent['error_rate']), _percent(agent['fallback_rate']))
    if agent['last_error']:
        text += ', last error %s' % (agent['last_error'].get('status') or agent['last_error'].get('message'))
    return text + ')'


def report_markdown(report):
    """A report from diagnose() as Markdown, for a human on call."""
    if not isinstance(report, dict) or report.get('verdict') not in VERDICTS:
        raise ValueError('report_markdown takes the report the verdict filter returns, got %s' % repr(report)[:200])
    out = ['# Model failure diagnosis: %s' % report['verdict'], '']
    summary = _dict(report.get('summary'))
    out.append('Generated %s in %ss for `%s`: %s hosts, %s healthy.' % (
        report.get('generated_at') or '-', _num(report.get('duration_s')) if report.get('duration_s') is not None else '-',
        report.get('target') or DEFAULT_TARGET, summary.get('hosts', len(report.get('hosts') or {})), summary.get('healthy', '-')))
    out.append('')
    if not report.get('scenarios'):
        out += ['No scenario holds: every host is ok.', '']
    else:
        out += ['Handle in this order: %s.' % ', '.join(item['scenario'] for item in report['scenarios']), '']

    out += ['## Hosts', '', '| host | status | scenarios | worst agent |', '| --- | --- | --- | --- |']
    for name, host in sorted(_dict(report.get('hosts')).items()):
        out.append('| %s | %s | %s | %s |' % (_cell(name), _cell(host.get('status')), _cell(', '.join(host.get('scenarios') or ())),
                                              _cell(_worst_agent(_dict(host.get('agents'))))))
    out.append('')

    for number, item in enumerate(report.get('scenarios') or (), 1):
        out += ['## %s. %s: %s' % (number, item['scenario'], item.get('title', '')), '',
                'Runbook: %s (`%s`)' % (item.get('runbook'), item.get('runbook_link')), '',
                'Hosts: %s' % ', '.join(item['hosts']), '']
        for host in item['hosts']:
            agents = item['agents'].get(host) or []
            out.append('- %s: %s' % (host, ', '.join(agents) if agents else 'the host as a whole'))
        out += ['', 'Evidence:', '']
        for line in item['evidence']:
            out.append('- %s%s: %s' % (line['host'], ' %s' % line['agent'] if line.get('agent') else '', line['detail']))
        out += ['', 'Next:', '', '```bash', item['command'], '```', '']

    if report.get('supporting'):
        out += ['## Supporting findings', '']
        for item in report['supporting']:
            where = ', '.join('%s (%s)' % (host, ', '.join(item['agents'][host])) if item['agents'].get(host) else host
                              for host in item['hosts'])
            out.append('- **%s**%s: %s' % (item['code'], ' on %s' % where if where else '', item['detail']))
        out.append('')

    mistral = _dict(report.get('mistral'))
    out += ['## Mistral', '']
    if mistral.get('keys'):
        out += ['| key fingerprint | authenticated | status | error | rate limited |', '| --- | --- | --- | --- | --- |']
        for fingerprint, key in mistral['keys'].items():
            out.append('| %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                fingerprint, key.get('authenticated'), key.get('status'), key.get('error_kind'), key.get('rate_limited'))))
        out.append('')
    else:
        out += ['No key was checked.', '']
    if mistral.get('models'):
        out += ['| model | exists | retired | replacement | status | note |', '| --- | --- | --- | --- | --- | --- |']
        for model_id, entry in mistral['models'].items():
            out.append('| %s | %s | %s | %s | %s | %s |' % tuple(_cell(value) for value in (
                model_id, entry.get('exists'), entry.get('retired_on') if entry.get('retired') else entry.get('retired'),
                entry.get('replacement'), entry.get('http_status'), entry.get('message'))))
        out.append('')
    out.append('API calls: %s, tokens spent: %s.' % (report.get('api_calls', 0), report.get('tokens_spent', 0)))
    return '\n'.join(out) + '\n'
