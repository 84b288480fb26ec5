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
SPEC_FILE = os.path.join(os.path.dirname(__file__), '..', '..', 'roles', 'genesis', 'meta', 'argument_specs.yml')
_DEFAULTS = {}
_SPEC = {}


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


def contract_spec():
    """The genesis role's argument spec: {variable: its type, choices, ...}."""
    if not _SPEC:
        with open(SPEC_FILE, encoding='utf-8') as handle:
            _SPEC.update(yaml.safe_load(handle)['argument_specs']['main']['options'])
    return _SPEC


class _OncePerHost:
    """hostvars, each host's variables gathered once: hostvars[host] gathers them all (its groups', the inventory's,
    -e) at every use, a few milliseconds a host, which a filter that reads several variables of 1,000 hosts pays
    several times over."""

    def __init__(self, hostvars):
        self._hostvars, self._seen, self._shared = hostvars, {}, {}

    def __getitem__(self, host):
        if host not in self._seen:
            self._seen[host] = self._hostvars[host]
        return self._seen[host]

    def get(self, host, name):
        """A host's variable; one that is set for many hosts as the same template that reads no variable (a
        group's C(lookup('file', ...)) or C(lookup('env', ...)) for the key) is templated once, not once per host."""
        seen = self[host]
        raw = getattr(seen, '_vars', {}).get(name)
        if not (isinstance(raw, str) and _reads_no_variable(raw)):
            return seen.get(name)
        if raw not in self._shared:
            self._shared[raw] = seen.get(name)
        return self._shared[raw]


_LOOKUPS = frozenset(('lookup', 'query', 'q'))


def _reads_no_variable(text):
    """Whether a template reads no variable, so that it gives every host the same value."""
    if '{{' not in text and '{%' not in text:
        return False  # not a template: nothing to save
    import jinja2
    from jinja2 import nodes
    try:
        names = jinja2.Environment().parse(text).find_all(nodes.Name)
    except jinja2.TemplateError:
        return False
    return all(name.name in _LOOKUPS for name in names)  # a {% set %} name counts too: such a template is not cached


def once_per_host(hostvars):
    """hostvars wrapped so that each host's variables are gathered once (an already wrapped one as it is)."""
    return hostvars if isinstance(hostvars, _OncePerHost) else _OncePerHost(hostvars)


def contract_errors(hosts, hostvars):
    """What the genesis role's argument check would say of each host, checked once for the fleet: every
    contract variable a host's inventory or -e sets (hostvars holds no role defaults, which are known good),
    against the role's spec. One line per distinct problem, naming its hosts (the first three, and how many
    more). A value that cannot be templated outside its play (a template of a role default) is left to the
    play that uses it. A no_log variable's value never shows. A string without choices takes any value, so it is
    not read (reading the key would run its lookup once per host)."""
    hostvars = once_per_host(hostvars)
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    spec = contract_spec()
    # a string with no choices takes any value (it is converted): only the others are worth templating
    names = [name for name, option in spec.items() if option.get('type', 'str') != 'str' or option.get('choices')]
    checked, problems = {}, {}
    for host in hosts:
        seen = hostvars[host]
        for name in [name for name in names if name in seen]:
            try:
                value = seen[name]
            except Exception:  # pylint: disable=broad-except
                continue
            memo = (name, value if isinstance(value, (str, int, float, bool, type(None))) else repr(value))
            if memo not in checked:
                result = ArgumentSpecValidator({name: spec[name]}).validate({name: value})
                errors = [str(error) for error in result.errors]
                if spec[name].get('no_log') and isinstance(value, str) and value:
                    errors = [error.replace(value, '********') for error in errors]
                checked[memo] = errors
            for error in checked[memo]:
                problems.setdefault(error, []).append(host)
    return ['%s (%s)' % (error, _some(where)) for error, where in problems.items()]


def _some(names, shown=3):
    more = len(names) - shown
    return ', '.join(names[:shown]) + (' and %d more' % more if more > 0 else '')


def api_key(hostvars, host):
    """The key the controller holds for a host (the genesis role's genesis_api_key): its mistral_api_key
    (Ansible Vault, AWX), else the controller's MISTRAL_API_KEY; None when there is neither."""
    return once_per_host(hostvars).get(host, 'mistral_api_key') or os.environ.get('MISTRAL_API_KEY') or None


def fingerprint(key):
    """How a key is named wherever it shows: the first 8 hex digits of its SHA-256, never a part of it."""
    return hashlib.sha256(key.encode('utf-8')).hexdigest()[:8] if key else None


def registered(hostvars, host, name):
    """What a task registered on a host as name ({} when it did not); name may also be the results themselves,
    {host: result}, as slices of a run gathered them (merge_slices)."""
    if hasattr(name, 'get'):
        return _dict(name.get(host))
    return _dict(hostvars[host].get(name))


def configured_agents(hostvars, host, name):
    """The agents of the production.yaml a host_evidence result registered as name read ({} when none)."""
    return _dict(_dict(registered(hostvars, host, name).get('config')).get('agents'))


def health_targets(hosts, hostvars, skip=None):
    """genesis.model_ops.model_health's targets: each host with its genesis_health_url, but those whose
    variable skip (a name) is set and not empty."""
    hostvars = once_per_host(hostvars)
    return [{'name': host, 'url': host_var(hostvars, host, 'genesis_health_url')} for host in hosts
            if not (skip and hostvars[host].get(skip))]


def models_by_key(hosts, hostvars, probe='host', fleet_health=None, evidence='genesis_evidence', live_check=False):
    """Per fingerprint of the keys the controller holds for the hosts: the key, the API server of the first
    host that uses it, and every model id (fine-tuned ids first, then baselines) its hosts are configured
    with: host_evidence results registered as evidence (probe host), or each host's health as
    model_health's fleet probe saw it (probe controller). The API is asked once per key and id.
    chat_models: the ids to check with a real one-token chat, the runbook's fallback test: the key's
    distinct baselines when live_check is true, else none (no token spent). hosts: the hosts that use the key."""
    hostvars = once_per_host(hostvars)
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
                                                  'models': [], 'chat_models': [], 'hosts': []})
        group['hosts'].append(host)
        for model in [_dict(agent).get(field) for field in fields for agent in agents.values()]:
            if model and model not in group['models']:
                group['models'].append(model)
        if live_check:
            for model in [_dict(agent).get(fields[1]) for agent in agents.values()]:
                if model and model not in group['chat_models']:
                    group['chat_models'].append(model)
    return out


def fleet_evidence(hosts, hostvars, probe='host', fleet_health=None, prometheus=None, evidence='genesis_evidence', keys=None):
    """The verdict's evidence per host: what host_evidence found there (registered as evidence), its health
    (from the host, or from the controller's fleet probe), Prometheus' rates for it (and its agents' errors and
    fallbacks per minute, for the report's charts), and the fingerprint of
    the key the controller holds for it: from keys (models_by_key's result) when given, which saves reading
    every host's key again."""
    hostvars = once_per_host(hostvars)
    by_label = _dict(_dict(prometheus).get('by_label'))
    key_of = None if keys is None else dict((host, print_) for print_, group in _dict(keys).items()
                                            for host in _dict(group).get('hosts') or [])
    chart = _dict(_dict(prometheus).get('chart'))
    out = {}
    for host in hosts:
        found = registered(hostvars, host, evidence)
        out[host] = {'reachable': not found.get('unreachable'),
                     'health': found.get('health') if probe == 'host' else (_fleet_host(fleet_health, host) or None),
                     'logs': found.get('logs'), 'config': found.get('config'), 'service': found.get('service'),
                     'key': found.get('key'), 'recent_changes': found.get('recent_changes') or [],
                     'prometheus': by_label.get(host), 'prometheus_chart': chart.get(host),
                     'api_key_fingerprint': fingerprint(api_key(hostvars, host)) if key_of is None else key_of.get(host)}
    return out


# What a slice hands on of a host's evidence: what fleet_evidence and models_by_key read of a host_evidence result.
SLICE_FIELDS = ('unreachable', 'msg', 'health', 'logs', 'config', 'service', 'key', 'recent_changes')


def slice_evidence(hosts, hostvars, probe='host', fleet_health=None, evidence='genesis_evidence'):
    """A slice's evidence of its hosts, for the run that merges the slices (AWX job slicing): per host what
    host_evidence found (registered as evidence; probe host) or what the controller's probe saw (probe controller).
    No key is in it: each host's key is read again where the slices are merged."""
    hostvars = once_per_host(hostvars)
    if probe == 'host':
        found = dict((host, dict((k, v) for k, v in registered(hostvars, host, evidence).items() if k in SLICE_FIELDS))
                     for host in hosts)
    else:
        found = dict((host, _fleet_host(fleet_health, host)) for host in hosts)
    return {'probe': probe, 'hosts': found}


def merge_slices(slices, run_hosts, probe):
    """The slices' evidence as one: {host: evidence}. Every host of the run in exactly one slice, every slice
    gathered with the same probe; anything else is a ValueError that says which hosts or slices. A slice that is
    None was merged before (a merge hands each slice it read on as None, so that a later merge of the same AWX
    workflow, which gets every earlier node's artifacts, reads only the slices after it)."""
    merged, twice, probes = {}, [], set()
    slices = [piece for piece in slices if piece is not None]  # consumed by an earlier merge of the same workflow
    for piece in slices:
        piece = _dict(piece)
        probes.add(piece.get('probe'))
        for host, found in _dict(piece.get('hosts')).items():
            if host in merged:
                twice.append(host)
            merged[host] = found
    problems = []
    if not slices:
        problems.append('no slice evidence was handed on (model_ops_evidence_<slice> variables, from runs with '
                        'model_ops_stage=gather)')
    if probes - {probe}:
        problems.append('the slices were gathered with model_ops_probe=%s, this run has %s'
                        % (', '.join(sorted(str(p) for p in probes)), probe))
    missing = [host for host in run_hosts if host not in merged]
    extra = sorted(set(merged) - set(run_hosts))
    for what, names in (('no slice has evidence of', missing), ('more than one slice has evidence of', twice),
                        ('the slices have evidence of hosts this run does not target:', extra)):
        if names:
            problems.append('%s %s' % (what, _some(names)))
    if problems:
        raise ValueError('; '.join(problems))
    return merged


def _fleet_host(fleet_health, host):
    return _dict(_dict(_dict(fleet_health).get('hosts')).get(host))


def _dict(value):
    return value if hasattr(value, 'get') else {}
