# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What a task that runs once for the whole fleet reads of every host: its contract variables, the health
endpoint to probe, the API key the controller holds for it, the evidence for the verdict.

A play's variables include the genesis role's defaults; hostvars (another host's variables) hold only what
the inventory, -e and the host's own tasks set. A variable the inventory leaves unset therefore falls back
here on the same defaults, read from the role's file, which stays the one place they are written.
"""

from __future__ import annotations

import hashlib
import os

import yaml

DEFAULTS_FILE = os.path.join(os.path.dirname(__file__), '..', '..', 'roles', 'genesis', 'defaults', 'main.yml')
_DEFAULTS = {}


def contract_defaults():
    """The genesis role's defaults, as written (templates are left as they are)."""
    if not _DEFAULTS:
        with open(DEFAULTS_FILE, encoding='utf-8') as handle:
            _DEFAULTS.update(yaml.safe_load(handle))
    return _DEFAULTS


def host_var(hostvars, host, name):
    """A host's variable as its own play sees it: its value in hostvars, else the genesis role's default."""
    value = hostvars[host].get(name)
    if value is not None:
        return value
    default = contract_defaults()[name]
    if isinstance(default, str) and '{{' in default:
        raise ValueError('%s has no plain default to fall back on for %s' % (name, host))
    return default


def api_key(hostvars, host):
    """The key the controller holds for a host (the genesis role's genesis_api_key): its mistral_api_key
    (Ansible Vault, AWX), else the controller's MISTRAL_API_KEY; None when there is neither."""
    return hostvars[host].get('mistral_api_key') or os.environ.get('MISTRAL_API_KEY') or None


def fingerprint(key):
    """How a key is named wherever it shows: the first 8 hex digits of its SHA-256, never a part of it."""
    return hashlib.sha256(key.encode('utf-8')).hexdigest()[:8] if key else None


def registered(hostvars, host, name):
    """What a task registered on a host as name ({} when it did not)."""
    return _dict(hostvars[host].get(name))


def configured_agents(hostvars, host, name):
    """The agents of the production.yaml a host_evidence result registered as name read ({} when none)."""
    return _dict(_dict(registered(hostvars, host, name).get('config')).get('agents'))


def health_targets(hosts, hostvars, skip=None):
    """genesis.model_ops.model_health's targets: each host with its genesis_health_url, but those whose
    variable skip (a name) is set and not empty."""
    return [{'name': host, 'url': host_var(hostvars, host, 'genesis_health_url')} for host in hosts
            if not (skip and hostvars[host].get(skip))]


def models_by_key(hosts, hostvars, probe='host', fleet_health=None, evidence='genesis_evidence', live_check=False):
    """Per fingerprint of the keys the controller holds for the hosts: the key, the API server of the first
    host that uses it, and every model id (fine-tuned ids first, then baselines) its hosts are configured
    with: host_evidence results registered as evidence (probe host), or each host's health as
    model_health's fleet probe saw it (probe controller). The API is asked once per key and id.
    chat_models: the ids to check with a real one-token chat, the runbook's fallback test: the key's
    distinct baselines when live_check is true, else none (no token spent)."""
    out = {}
    for host in hosts:
        key = api_key(hostvars, host)
        if not key:
            continue
        if probe == 'host':
            agents, fields = configured_agents(hostvars, host, evidence), ('finetuned', 'baseline')
        else:
            agents, fields = _dict(_fleet_host(fleet_health, host).get('agents')), ('finetuned_model', 'baseline_model')
        group = out.setdefault(fingerprint(key), {'key': key, 'server_url': host_var(hostvars, host, 'mistral_server_url'),
                                                  'models': [], 'chat_models': []})
        for model in [_dict(agent).get(field) for field in fields for agent in agents.values()]:
            if model and model not in group['models']:
                group['models'].append(model)
        if live_check:
            for model in [_dict(agent).get(fields[1]) for agent in agents.values()]:
                if model and model not in group['chat_models']:
                    group['chat_models'].append(model)
    return out


def fleet_evidence(hosts, hostvars, probe='host', fleet_health=None, prometheus=None, evidence='genesis_evidence'):
    """The verdict's evidence per host: what host_evidence found there (registered as evidence), its health
    (from the host, or from the controller's fleet probe), Prometheus' rates for it (and its agents' errors and
    fallbacks per minute, for the report's charts), and the fingerprint of
    the key the controller holds for it."""
    by_label = _dict(_dict(prometheus).get('by_label'))
    chart = _dict(_dict(prometheus).get('chart'))
    out = {}
    for host in hosts:
        found = registered(hostvars, host, evidence)
        out[host] = {'reachable': not found.get('unreachable'),
                     'health': found.get('health') if probe == 'host' else (_fleet_host(fleet_health, host) or None),
                     'logs': found.get('logs'), 'config': found.get('config'), 'service': found.get('service'),
                     'key': found.get('key'), 'recent_changes': found.get('recent_changes') or [],
                     'prometheus': by_label.get(host), 'prometheus_chart': chart.get(host),
                     'api_key_fingerprint': fingerprint(api_key(hostvars, host))}
    return out


def _fleet_host(fleet_health, host):
    return _dict(_dict(_dict(fleet_health).get('hosts')).get(host))


def _dict(value):
    return value if hasattr(value, 'get') else {}
