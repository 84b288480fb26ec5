# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis, stage 2: which of the runbook's scenarios hold on one host, and the evidence of each.

Controller-only (the verdict filter). Each finder takes a HostEvidence and returns (agents,
evidence lines), or None when its scenario does not hold there. The Mistral checks count
whatever the hosts' figures say: they are the API's state now, for the key the host uses. An
agent not ok that no scenario explains makes the ``unknown`` scenario (last), with its figures
and the command to look closer; so does a host not ok with no agent to blame.
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import (
    add_once, as_dict, evidence_line, is_gone, last_error_text, model_text, number, short_number, status_code)
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


def find_credentials(host):
    lines = []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and status_code(error.get('status')) in (401, 403):
            lines.append(evidence_line(host.name, agent, 'health', last_error_text(error)))
    lines.extend(host.log_lines('auth')[1])
    key = as_dict((host.check or {}).get('key'))
    if key.get('authenticated') is False:
        lines.append(evidence_line(host.name, None, 'mistral', 'mistral: key fingerprint %s rejected (%s)'
                                   % (key.get('fingerprint') or host.key_fingerprint, key.get('status'))))
    return (list(host.agents), lines) if lines else None


def find_complete_failure(host, credentials):
    lines = []
    if not host.reachable:
        lines.append(evidence_line(host.name, None, 'ansible', 'ansible: host unreachable'))
    health = host.health or {}
    if health and host.status == 'unreachable':
        answers = [item.get('message') for item in health.get('findings') or () if as_dict(item).get('code') in ('unreachable', 'timeout')]
        for message in answers or ['no answer from the health endpoint']:
            lines.append(evidence_line(host.name, None, 'health', 'health: %s' % message))
    elif host.judged and not credentials:
        # every agent down, fallback included; a 401/403 explains that better (credentials)
        down = [agent for agent in host.agents if host.figures.get(agent, {}).get('status') == 'down'
                or (number(host.figures.get(agent, {}).get('error_rate')) or 0) >= 1]
        if len(down) == len(host.figures):
            for agent in down:
                figures = host.figures[agent]
                detail = '%s down: error_rate %s, fallback_rate %s' % (agent, figures.get('error_rate'), figures.get('fallback_rate'))
                error = figures.get('last_error')
                if isinstance(error, dict):
                    detail += '; ' + last_error_text(error)
                    if host.names_baseline(agent, error.get('message')):
                        detail += ' (on the baseline %s)' % host.ids(agent)[1]
                lines.append(evidence_line(host.name, agent, 'health', detail))
    elif health.get('status') == 'down' and not host.figures and not credentials:
        lines.append(evidence_line(host.name, None, 'health', 'health: service down (HTTP %s), no agent reported' % health.get('http_status')))
    if not lines:
        return None
    key = as_dict((host.check or {}).get('key'))
    if key.get('error_kind') in ('connect', 'timeout'):
        lines.append(evidence_line(host.name, None, 'mistral', 'mistral: API unreachable from the controller (%s)' % key['error_kind']))
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
                found.append(evidence_line(host.name, agent, 'mistral', 'mistral: %s' % model_text(finetuned, entry)))
            else:
                supporting.add('model_unavailable_mitigated', host.name, agent,
                               'mistral: %s; the agent already runs on its baseline (use_finetuned false or rollout 0)'
                               % model_text(finetuned, entry))
        error = host.last_error(agent)
        if error and host.failed_model(agent, error) == 'finetuned':
            found.append(evidence_line(host.name, agent, 'health', last_error_text(error)))
        if entry.get('exists') is not True:
            found.extend(host.log_lines('model_not_found', only=[agent], attributed=True)[1])
        if found:
            agents.append(agent)
            for line in found:
                add_once(lines, line)
    return (agents, lines) if agents else None


def find_rate_limit(host):
    agents, lines = [], []
    for agent in host.agents:
        error = host.last_error(agent)
        if error and status_code(error.get('status')) == 429:
            agents.append(agent)
            lines.append(evidence_line(host.name, agent, 'health', last_error_text(error)))
    log_agents, log_lines = host.log_lines('rate_limit')
    agents.extend(agent for agent in log_agents if agent not in agents)
    lines.extend(log_lines)
    check = host.check or {}
    limits = as_dict(check.get('rate_limit'))
    kinds = [as_dict(check.get('key')).get('error_kind')] + [as_dict(entry).get('error_kind') for entry in as_dict(check.get('models')).values()]
    limited = number(limits.get('limited')) or 0
    at_zero = sorted(name for name, value in as_dict(limits.get('headers')).items()
                     if str(name).lower().startswith('x-ratelimit-remaining') and str(value).strip() == '0')
    if limited or 'rate_limited' in kinds or at_zero:
        parts = []
        if limited or 'rate_limited' in kinds:
            parts.append('%s answer(s) 429 for key fingerprint %s' % (limited or 1, host.key_fingerprint))
        if number(limits.get('retry_after')) is not None:
            parts.append('Retry-After %ss' % short_number(limits['retry_after']))
        parts.extend('%s 0' % name for name in at_zero)
        lines.append(evidence_line(host.name, None, 'mistral', 'mistral: ' + '; '.join(parts)))
        agents = list(host.agents)  # the key's limit is every agent's
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
        lines.append(evidence_line(host.name, agent, 'health', 'health: ' + detail))
        rate = number(as_dict(prometheus).get(agent))
        if rate is not None:
            lines.append(evidence_line(host.name, agent, 'prometheus', 'prometheus: %s model errors/s over 5m' % short_number(rate)))
    for category in ('server_error', 'errors'):
        lines.extend(host.log_lines(category, only=agents)[1])
    if not agents and not covered and not host.ok():
        if not host.health:
            lines.append(evidence_line(host.name, None, 'health', 'health: no result (status %s)' % host.status))
        for item in (host.health or {}).get('findings') or ():
            if as_dict(item).get('severity') in ('critical', 'warning'):
                lines.append(evidence_line(host.name, item.get('agent'), 'health', 'health: %s' % item.get('message')))
        if not lines:
            lines.append(evidence_line(host.name, None, 'health', 'health: service %s' % host.status))
    return (agents, lines) if agents or (lines and not covered) else None
