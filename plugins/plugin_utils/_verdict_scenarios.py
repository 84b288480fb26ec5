# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 2: which of the runbook's scenarios hold on one host, and the evidence of each.

Controller-only (the verdict filter). Each finder takes a HostEvidence and returns (agents,
evidence lines), or None when its scenario does not hold there; which evidence may decide is
_verdict_evidence's rule. A scenario's agents are those with evidence of it on that host (their
health, their log lines, their own model's answer); a limit of the whole key is evidence for
the host, not a claim that every agent fails. An agent not ok that no scenario explains makes
the ``unknown`` scenario (last), with its figures and the command to look closer; so does a
host not ok with no agent to blame.
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import (
    add_once, as_dict, at_zero, is_gone, last_error_text, model_text, number, quota, quota_text, short_number, status_code)
from ansible_collections.genesis.model_ops.plugins.plugin_utils._scenarios import ORDER as FIXABLE, PLAYBOOKS

# The order to handle them in (defined once, in _scenarios); unknown comes last, after everything that has a fix.
ORDER = FIXABLE + ('unknown',)
VERDICTS = ORDER + ('healthy',)

# scenario: (title, runbook section, playbook)
SCENARIOS = {
    'credentials': ('API credentials issue', 'Scenario 1: API Credentials Issue', PLAYBOOKS['credentials']),
    'complete_failure': ('Complete system failure', 'Scenario 4: Complete System Failure', PLAYBOOKS['complete_failure']),
    'model_unavailable': ('Model unavailable', 'Scenario 3: Model Unavailable', PLAYBOOKS['model_unavailable']),
    'rate_limit': ('Rate limiting', 'Scenario 2: Rate Limiting', PLAYBOOKS['rate_limit']),
    'unknown': ('No scenario fits: look closer', 'Diagnostic Steps', 'diagnose.yml'),
}


def _error_line(host, agent, error, detail=None):
    """A health line on an agent's last_error, at the time of that error."""
    return host.line(agent, 'health', detail or last_error_text(error), at=error.get('at') or None)


def find_credentials(host):
    lines = []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and status_code(error.get('status')) in (401, 403):
            lines.append(_error_line(host, agent, error))
    key = as_dict((host.check or {}).get('key'))
    if host.key_accepted():
        host.rule_out('auth', 'key fingerprint %s is accepted by the API now' % (key.get('fingerprint') or host.key_fingerprint))
    lines.extend(host.log_lines('auth')[1])
    if key.get('authenticated') is False:
        lines.append(host.line(None, 'mistral', 'mistral: key fingerprint %s rejected (%s)'
                               % (key.get('fingerprint') or host.key_fingerprint, key.get('status'))))
    return (list(host.agents), lines) if lines else None


def find_complete_failure(host, credentials):
    lines = []
    if not host.reachable:
        lines.append(host.line(None, 'ansible', 'ansible: host unreachable'))
    health = host.health or {}
    if host.silent:
        answers = [item.get('message') for item in health.get('findings') or () if as_dict(item).get('code') in ('unreachable', 'timeout')]
        for message in answers or (['no answer from the health endpoint'] if health else []):
            lines.append(host.line(None, 'health', 'health: %s' % message))
        if host.service.get('running') is False:
            lines.append(host.line(None, 'host', 'service: %s names pid %s, which is not running (started at %s)' % (
                host.service.get('pid_file'), host.service.get('pid'), host.service.get('started_at'))))
    elif host.judged and not credentials:
        # every agent down, fallback included; a 401/403 (credentials) or a 429 (rate_limit) explains that better
        down = [agent for agent in host.agents if host.figures.get(agent, {}).get('status') == 'down'
                or (number(host.figures.get(agent, {}).get('error_rate')) or 0) >= 1]
        limited = [agent for agent in down if status_code(as_dict(host.figures[agent].get('last_error')).get('status')) == 429]
        if len(down) == len(host.figures) and len(limited) < len(down):
            for agent in down:
                figures = host.figures[agent]
                detail = '%s down: error_rate %s, fallback_rate %s' % (agent, figures.get('error_rate'), figures.get('fallback_rate'))
                error = figures.get('last_error')
                if isinstance(error, dict):
                    detail += '; ' + last_error_text(error)
                    if host.names_baseline(agent, error.get('message')):
                        detail += ' (on the baseline %s)' % host.ids(agent)[1]
                lines.append(host.line(agent, 'health', detail))
    elif health.get('status') == 'down' and not host.figures and not credentials:
        lines.append(host.line(None, 'health', 'health: service down (HTTP %s), no agent reported' % health.get('http_status')))
    if not lines:
        return None
    key = as_dict((host.check or {}).get('key'))
    if key.get('error_kind') in ('connect', 'timeout'):
        lines.append(host.line(None, 'mistral', 'mistral: API unreachable from the controller (%s)' % key['error_kind']))
    elif key.get('error_kind') == 'server_error':
        lines.append(host.line(None, 'mistral', 'mistral: API failing from the controller (HTTP %s)' % key.get('status')))
    return list(host.agents), lines


def find_model_unavailable(host, supporting):
    agents, lines = [], []
    for agent in host.agents:
        finetuned = host.ids(agent)[0]
        if not finetuned:
            continue
        found = []
        entry = host.model_entry(finetuned)
        if is_gone(entry):
            if host.routes_to_finetuned(agent):
                found.append(host.line(agent, 'mistral', 'mistral: %s' % model_text(finetuned, entry)))
            else:
                supporting.add('model_unavailable_mitigated', host.name, agent,
                               'mistral: %s; the agent already runs on its baseline (use_finetuned false or rollout 0)'
                               % model_text(finetuned, entry))
        error = host.last_error(agent)
        if error and host.failed_model(agent, error) == 'finetuned':
            found.append(_error_line(host, agent, error))
        if entry.get('exists') is not True:
            found.extend(host.log_lines('model_not_found', only=[agent], attributed=True)[1])
        if found:
            agents.append(agent)
            for line in found:
                add_once(lines, line)
    return (agents, lines) if agents else None


def key_limit(check):
    """What the key check says of the key's own limit: (429 or not, quota figures, names at zero)."""
    key = as_dict(as_dict(check).get('key'))
    figures = quota(key.get('headers'))
    return key.get('error_kind') == 'rate_limited', figures, at_zero(figures)


def _limit_text(what, entry):
    """'<what> answered 429; Retry-After 5 s; req-minute 0 of 60000 left' from an entry's status and headers."""
    headers = as_dict(entry.get('headers'))
    parts = [what]
    if headers.get('retry-after') is not None:
        parts.append('Retry-After %s s' % headers['retry-after'])
    figures = quota(headers)
    if figures:
        parts.append(quota_text(figures))
    return '; '.join(parts)


def find_rate_limit(host):
    agents, lines = [], []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and status_code(error.get('status')) == 429:
            agents.append(agent)
            lines.append(_error_line(host, agent, error))
    log_agents, log_lines = host.log_lines('rate_limit')
    agents.extend(agent for agent in log_agents if agent not in agents)
    lines.extend(log_lines)
    # The agent's own model at its limit for the key the host uses (rate limits are per key: only this host's check).
    models = as_dict((host.check or {}).get('models'))
    for agent in host.agents:
        finetuned, baseline = host.ids(agent)
        model = finetuned if finetuned and host.routes_to_finetuned(agent) else baseline
        entry = as_dict(models.get(model))
        if entry.get('checked') is not False and entry.get('error_kind') == 'rate_limited':  # not merely left unchecked
            add_once(agents, agent)
            what = '%s answered 429 for key fingerprint %s' % (model, host.key_fingerprint)
            add_once(lines, host.line(agent, 'mistral', 'mistral: ' + _limit_text(what, entry)))
    limited, _figures, zero = key_limit(host.check)
    if limited or zero:
        # the key's own limit: evidence for the host, not for any one agent
        what = 'key fingerprint %s at its rate limit: %s' % (
            host.key_fingerprint, 'the key check answered 429' if limited else ', '.join('%s at 0' % name for name in zero))
        lines.append(host.line(None, 'mistral', 'mistral: ' + _limit_text(what, as_dict(host.check['key']))))
    if not lines:
        return None
    return [agent for agent in host.agents if agent in agents] + [agent for agent in agents if agent not in host.agents], lines


def find_unknown(host, explained, covered, prometheus):
    """Evidence of what no scenario explains on a host: its failing agents, else the host itself when no scenario covers it."""
    agents = [agent for agent in host.not_ok if agent not in explained]
    lines = []
    for agent in agents:
        figures = host.figures[agent]
        detail = '%s %s: error_rate %s, fallback_rate %s' % (
            agent, figures.get('status'), figures.get('error_rate'), figures.get('fallback_rate'))
        if isinstance(figures.get('last_error'), dict):
            detail += '; ' + last_error_text(figures['last_error'])
        lines.append(host.line(agent, 'health', 'health: ' + detail))
        rate = number(as_dict(prometheus).get(agent))
        if rate is not None:
            lines.append(host.line(agent, 'prometheus', 'prometheus: %s model errors/s over 5m' % short_number(rate)))
    for category in ('server_error', 'errors'):
        lines.extend(host.log_lines(category, only=agents)[1])
    if not agents and not covered and not host.ok():
        if not host.health:
            lines.append(host.line(None, 'health', 'health: no result (status %s)' % host.status))
        for item in (host.health or {}).get('findings') or ():
            if as_dict(item).get('severity') in ('critical', 'warning'):
                lines.append(host.line(item.get('agent'), 'health', 'health: %s' % item.get('message')))
        if not lines:
            lines.append(host.line(None, 'health', 'health: service %s' % host.status))
    return (agents, lines) if agents or (lines and not covered) else None
