# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 1: one host's evidence read once, its age, and the small readers every stage uses.

Controller-only (the verdict filter). Every evidence line carries its time (``at``) or its window
(``since`` to ``at``). Which evidence may decide a scenario (the README's verdict section says it
for people):

- Live evidence decides: the health endpoint's answer now (an agent's status, figures and
  ``last_error``), the Mistral checks of this run, Ansible reaching the host. The Mistral checks
  count whatever the host's figures say: they are the API's state now, for the key the host uses.
- Log lines are history. They decide only while fresh: newer than the service's current start
  and than the agent's last healthy report (now, for an agent ok now; else the time an earlier
  diagnosis last saw it ok). A service that does not answer has no fresh lines: it is a complete
  failure, whatever its logs say.
- A failing agent's log lines count only when they are of the kind of its live ``last_error``
  (or it has none): a 401 ten minutes ago does not make today's 404 a credentials incident.
- Live contradicting evidence wins: a key the API accepts now rules out credentials decided by
  log lines on the hosts holding it (an agent's live 401 still counts: its own calls are refused).
- Lines that may not decide stay in the report as context, "earlier in the window", each with
  why it did not count.

A 404, or a 400 ``invalid_model``, in ``last_error`` is put on the model its message names; on the
fine-tuned model when it names none, unless Mistral says that one exists or the agent does not
route to it.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask
from ansible_collections.genesis.model_ops.plugins.module_utils._logscan import parse_fields, parse_timestamp

STATUSES = ('ok', 'degraded', 'down', 'unreachable', 'unknown')

_LOG_LABELS = {'auth': 'auth (401/403/unauthorized)', 'rate_limit': 'rate-limit', 'model_not_found': 'model-not-found',
               'server_error': '5xx', 'errors': 'error'}
# The log categories a scenario reads, in the order the report lists them; 'errors' (any error line) is read
# only for agents nothing else explains, and is never context of its own.
LOG_CATEGORIES = ('auth', 'rate_limit', 'model_not_found', 'server_error', 'errors')
_RATE_HEADER = re.compile(r'^x-ratelimit-(limit|remaining)-(.+)$')
_INVALID_MODEL = re.compile(r'invalid[ _]model', re.I)
_GONE_KINDS = ('not_found', 'invalid_model')


def as_dict(value):
    return value if isinstance(value, dict) else {}


def number(value):
    # bool is an int to Python, not a rate or a count to anyone else
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def status_code(value):
    """An HTTP status as an int (the lab's health says 429, a log '429'); None for timeout, connect, nothing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def short_number(value):
    """A number as short text: 15.0 -> 15, 0.07500 -> 0.075."""
    return '%g' % value if isinstance(value, float) else str(value)


def parse_time(value):
    """An ISO-8601 time as an aware UTC datetime; None for anything else."""
    return parse_timestamp(value.strip()) if isinstance(value, str) else None


def iso(when):
    return when.strftime('%Y-%m-%dT%H:%M:%SZ') if when else None


def evidence_line(host, agent, source, detail, at=None, since=None):
    """One line of evidence: what, where, and when (at, or the window since..at; ISO-8601 UTC or null)."""
    # masked again: defence in depth, the inputs are masked already
    return {'host': host, 'agent': agent, 'source': source, 'detail': mask(detail), 'at': at, 'since': since}


def quota(headers):
    """The quota an answer's headers tell: {'req-minute': {'limit': 60000, 'remaining': 0}, ...} (numbers when they are)."""
    out = {}
    for name, value in sorted(as_dict(headers).items()):
        match = _RATE_HEADER.match(str(name).lower())
        if match:
            text = str(value).strip()
            out.setdefault(match.group(2), {'limit': None, 'remaining': None})[match.group(1)] = int(text) if text.isdigit() else text
    return out


def quota_text(figures):
    """'req-minute 0 of 60000 left, tokens-minute 0 of 5000000 left'."""
    return ', '.join('%s %s of %s left' % (name, _figure(item['remaining']), _figure(item['limit'])) for name, item in sorted(figures.items()))


def _figure(value):
    return short_number(value) if value is not None else '?'


def at_zero(figures):
    """The quota names with nothing left."""
    return sorted(name for name, item in figures.items() if item['remaining'] == 0)


def add_once(lines, line):
    if line not in lines:
        lines.append(line)


def last_error_text(error):
    parts = ['last_error', str(error.get('status')) if error.get('status') is not None else '']
    if error.get('message'):
        parts.append(str(error['message']))
    if error.get('at'):
        parts.append('at %s' % error['at'])
    return ' '.join(part for part in parts if part)


def is_gone(entry):
    """Whether a mistral_check model entry says the model cannot be called."""
    return bool(entry) and (entry.get('exists') is False or bool(entry.get('retired'))
                            or entry.get('error_kind') in _GONE_KINDS)


def model_text(model_id, entry):
    """What Mistral said of a model that is gone, in one line."""
    status = entry.get('http_status')
    code = ' (%s)' % status if status is not None else ''
    if entry.get('retired'):
        return '%s retired on %s%s%s' % (model_id, entry.get('retired_on'), code,
                                         '; replacement %s' % entry['replacement'] if entry.get('replacement') else '')
    if entry.get('error_kind') == 'invalid_model':
        return '%s invalid_model%s' % (model_id, code)
    return '%s not found%s' % (model_id, code)


class HostEvidence:
    """One host's evidence, read once: its agents in config order, which are not ok, its Mistral check,
    the age of each kind of log line and whether it may decide (see the module docstring).

    now: when the evidence was gathered (the report's generated_at); previous: an earlier report, for the
    time each agent was last seen ok."""

    def __init__(self, name, data, mistral, thresholds, now=None, previous=None):
        self.name = name
        self.now = parse_time(now)
        self.data = data
        self.reachable = data.get('reachable', True) is not False
        self.health = data.get('health') if isinstance(data.get('health'), dict) else None
        self.logs = data.get('logs') if isinstance(data.get('logs'), dict) else None
        self.config = as_dict(data.get('config'))
        self.config_agents = dict((agent, as_dict(conf)) for agent, conf in as_dict(self.config.get('agents')).items())
        self.figures = dict((agent, as_dict(figures)) for agent, figures in as_dict((self.health or {}).get('agents')).items())
        self.agents = list(self.config_agents) + [agent for agent in self.figures if agent not in self.config_agents]
        # Health figures tell which agents fail; without them nothing can be ruled out.
        self.judged = bool(self.figures)
        self.not_ok = [agent for agent in self.agents if agent in self.figures and not self._ok(self.figures[agent], thresholds)]

        self.env_fingerprint = as_dict(data.get('key')).get('fingerprint')
        self.controller_fingerprint = data.get('api_key_fingerprint')
        key_fp = self.env_fingerprint or self.controller_fingerprint
        if key_fp:
            self.check = as_dict(mistral.get(key_fp)) or None
        else:
            # no fingerprint to go by: a run with one key has only one check to mean
            self.check = as_dict(next(iter(mistral.values()))) if len(mistral) == 1 else None
        self.key_fingerprint = key_fp or as_dict((self.check or {}).get('key')).get('fingerprint')
        # A model's existence is the same for the controller's key when the host's was not checked.
        self.model_check = self.check or as_dict(mistral.get(self.controller_fingerprint)) or None

        status = (self.health or {}).get('status')
        if status not in STATUSES:
            status = 'unknown' if self.reachable or self.health else 'unreachable'
        if status == 'ok' and self.not_ok:  # the run's thresholds may be stricter than the service's
            status = 'degraded'
        self.status = status

        self.service = as_dict(data.get('service'))
        # The service does not answer now: its health endpoint says so, or (no health read) its pid is not running.
        self.silent = status == 'unreachable' or (self.health is None and self.service.get('running') is False)
        # The start of the service's current run (of its last one, when it died): what it logged before is history.
        self.started_at = parse_time((self.health or {}).get('started_at') if not self.silent else None) \
            or parse_time(self.service.get('started_at'))
        self.checked_at = parse_time((self.check or {}).get('checked_at')) or self.now
        previous_agents = as_dict(as_dict(as_dict(as_dict(previous).get('hosts')).get(name)).get('agents'))
        self.last_ok = dict((agent, self.now if agent in self.figures and agent not in self.not_ok
                             else parse_time(as_dict(previous_agents.get(agent)).get('last_ok_at'))) for agent in self.agents)
        self.entries = self._log_entries()

    @staticmethod
    def _ok(figures, thresholds):
        if figures.get('status') != 'ok':
            return False
        return all(number(figures.get(rate)) is None or figures[rate] <= threshold
                   for rate, threshold in thresholds.items())

    def ok(self):
        return self.reachable and self.status == 'ok'

    def line(self, agent, source, detail, at=None, since=None):
        """An evidence line of this host; live sources default to the time they were read."""
        if at is None and since is None:
            at = self.checked_at if source == 'mistral' else self.now
        return evidence_line(self.name, agent, source, detail, iso(at) if isinstance(at, datetime.datetime) else at,
                             iso(since) if isinstance(since, datetime.datetime) else since)

    def key_accepted(self):
        """Whether the API accepted the key this host holds, in this run's check of it."""
        return as_dict((self.check or {}).get('key')).get('authenticated') is True

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
        models = self.config if self.config_agents else as_dict((self.health or {}).get('config'))
        rollout = number(models.get('rollout_percentage'))
        return (models.get('use_finetuned') is not False and self.config_agents.get(agent, {}).get('use_finetuned') is not False
                and (rollout is None or rollout > 0))

    def model_entry(self, model_id):
        return as_dict(as_dict((self.model_check or {}).get('models')).get(model_id)) if model_id else {}

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
        status = status_code(error.get('status'))
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
        status, message = status_code(error.get('status')), str(error.get('message') or '')
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

    def _cutoff(self, agent):
        """(time, why): log lines of the agent older than this are history (see the module docstring)."""
        cutoffs = [(self.started_at, 'before the service started at %s' % iso(self.started_at))]
        # an agent ok now is said to be so instead (see _why_not)
        if self.last_ok.get(agent) and (agent in self.not_ok or agent not in self.figures):
            cutoffs.append((self.last_ok[agent], 'before %s was last reported ok at %s' % (agent, iso(self.last_ok[agent]))))
        known = [item for item in cutoffs if item[0]]
        return max(known, key=lambda item: item[0]) if known else (None, None)

    def _failing_of_kind(self, category):
        """The failing agents whose live last_error allows log lines of this category to count for them."""
        return [agent for agent in self.not_ok if category == 'errors' or self.error_category(agent) in (None, category)]

    def _why_not(self, category, agent, last):
        """Why log lines of this category (of this agent, or of no known agent) may not decide; None when they may."""
        if self.silent:
            return 'the service does not answer now: its lines are from before it stopped'
        cutoff, why = self._cutoff(agent)
        if cutoff and last and last < cutoff:
            return why
        if agent is not None and self.judged:
            if agent not in self.figures:
                return '%s is not among the agents the service reports now' % agent
            if agent not in self.not_ok:
                return '%s is ok now' % agent
            if agent not in self._failing_of_kind(category):
                return "%s's last error now is %s" % (agent, last_error_text(self.last_error(agent)))
        elif agent is None and self.judged and not self._failing_of_kind(category):
            return 'no agent fails now with an error of this kind'
        return None

    def _log_entries(self):
        """Every (category, agent) the log has lines of: count, first and last time, its line, and why it may not decide."""
        logs = self.logs or {}
        window = as_dict(logs.get('window'))
        if window.get('minutes'):
            where = 'in %s min' % short_number(window['minutes'])
        elif window.get('lines'):
            where = 'in the last %s lines of each file' % window['lines']
        else:
            where = 'in the log'
        counts, by_agent, seen = as_dict(logs.get('counts')), as_dict(logs.get('by_agent')), as_dict(logs.get('by_agent_seen'))
        entries = []
        for category in LOG_CATEGORIES:
            total = number(counts.get(category)) or 0
            if not total:
                continue
            per_agent = dict((agent, number(as_dict(counted).get(category)) or 0) for agent, counted in by_agent.items())
            named = [agent for agent in self.agents + sorted(set(per_agent) - set(self.agents)) if per_agent.get(agent)]
            if named:
                parts = [(agent, per_agent[agent], as_dict(as_dict(seen.get(agent)).get(category))) for agent in named]
            elif not by_agent:
                # lines not in the contract's format name no agent
                parts = [(None, total, {'first': as_dict(logs.get('first_seen')).get(category),
                                        'last': as_dict(logs.get('last_seen')).get(category)})]
            else:
                parts = []
            for agent, count, times in parts:
                first, last = parse_time(times.get('first')), parse_time(times.get('last'))
                entries.append({'category': category, 'agent': agent, 'why': self._why_not(category, agent, last),
                                'line': self.line(agent, 'log', 'log: %s %s lines %s' % (count, _LOG_LABELS[category], where),
                                                  at=iso(last), since=iso(first) if first != last else None)})
        return entries

    def rule_out(self, category, why):
        """Live evidence contradicts these lines: they may not decide (see the module docstring)."""
        for entry in self.entries:
            if entry['category'] == category and entry['why'] is None:
                entry['why'] = why

    def earlier(self, used):
        """The log lines that decided nothing (not in used), as context: each with why, newest first per category."""
        return [dict(entry['line'], why=entry['why']) for entry in self.entries
                if entry['category'] != 'errors' and entry['why'] and entry['line'] not in used]

    def _sample(self, category, agents):
        """The newest sample line of the category from one of the agents (any, for lines that name none)."""
        samples = as_dict((self.logs or {}).get('samples')).get(category)
        for sample in reversed(samples if isinstance(samples, list) else []):
            text = as_dict(sample).get('line')
            fields = parse_fields(text) if isinstance(text, str) else None
            if text and (not agents or fields is None or fields.get('agent') in agents):
                return self.line(None, 'log', 'log sample: %s' % text, at=iso(parse_timestamp(text)))
        return None

    def log_lines(self, category, only=None, attributed=False):
        """(agents, evidence lines) of the log lines of a category that may decide (see the module docstring).

        only: the agents to look at; attributed: only lines whose agent= is known count.
        """
        entries = [entry for entry in self.entries if entry['category'] == category and entry['why'] is None]
        if not entries:
            return [], []
        if entries[0]['agent'] is not None or attributed:
            entries = [entry for entry in entries if entry['agent'] is not None and (only is None or entry['agent'] in only)]
            agents = [entry['agent'] for entry in entries]
        else:
            # lines that name no agent: blame the agents failing with errors of this kind, if any
            candidates = self._failing_of_kind(category) if self.judged else self.agents
            agents = [agent for agent in candidates if only is None or agent in only]
            if self.judged and not agents:
                return [], []
        if not entries:
            return [], []
        lines = [entry['line'] for entry in entries]
        sample = self._sample(category, [entry['agent'] for entry in entries if entry['agent']])
        if sample:
            lines.append(sample)
        return agents, lines
