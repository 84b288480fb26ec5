# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 1: one host's evidence read once, and the small readers every stage uses.

Controller-only (the verdict filter). A host's own signals (an agent's ``last_error``, its log
lines) count only for agents that are not ok (their status, or a rate above the thresholds): an
ok agent whose window still holds an old 429 is no incident, and a diagnosis run after a fix
must come out healthy. A failing agent's log lines count only when they are of the kind of its
``last_error`` (or it has none): a 401 ten minutes ago does not make today's 404 a credentials
incident. With no health figures to judge by (no answer, no result), log lines count as they
are. A 404, or a 400 ``invalid_model``, in ``last_error`` is put on the model its message names;
on the fine-tuned model when it names none, unless Mistral says that one exists or the agent
does not route to it.
"""

from __future__ import annotations

import re

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask

STATUSES = ('ok', 'degraded', 'down', 'unreachable', 'unknown')

_LOG_LABELS = {'auth': 'auth (401/403/unauthorized)', 'rate_limit': 'rate-limit', 'model_not_found': 'model-not-found',
               'server_error': '5xx', 'errors': 'error'}
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


def evidence_line(host, agent, source, detail):
    # masked again: defence in depth, the inputs are masked already
    return {'host': host, 'agent': agent, 'source': source, 'detail': mask(detail)}


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
    """One host's evidence, read once: its agents in config order, which are not ok, its Mistral check."""

    def __init__(self, name, data, mistral, thresholds):
        self.name = name
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

    @staticmethod
    def _ok(figures, thresholds):
        if figures.get('status') != 'ok':
            return False
        return all(number(figures.get(rate)) is None or figures[rate] <= threshold
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

    def log_lines(self, category, only=None, attributed=False):
        """(agents, evidence lines) for a log category; see the module docstring for which lines count.

        only: the agents to look at; attributed: only lines whose agent= is known count.
        """
        logs = self.logs or {}
        count = number(as_dict(logs.get('counts')).get(category)) or 0
        if not count:
            return [], []
        window = as_dict(logs.get('window'))
        if window.get('minutes'):
            where = 'in %s min' % short_number(window['minutes'])
        elif window.get('lines'):
            where = 'in the last %s lines of each file' % window['lines']
        else:
            where = 'in the log'
        by_agent = dict((agent, number(as_dict(counts).get(category)) or 0) for agent, counts in as_dict(logs.get('by_agent')).items())
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
                lines.append(evidence_line(self.name, agent, 'log', 'log: %s %s lines %s' % (by_agent[agent], _LOG_LABELS[category], where)))
        else:
            # lines not in the contract's format name no agent: blame the agents failing, if any
            agents = list(candidates)
            if agents or not self.judged:
                lines.append(evidence_line(self.name, None, 'log', 'log: %s %s lines %s' % (count, _LOG_LABELS[category], where)))
        if not lines:
            return [], []
        samples = as_dict(logs.get('samples')).get(category)
        if isinstance(samples, list) and samples and isinstance(samples[-1], dict) and samples[-1].get('line'):
            lines.append(evidence_line(self.name, None, 'log', 'log sample: %s' % samples[-1]['line']))
        return agents, lines
