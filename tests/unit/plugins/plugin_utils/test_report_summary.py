# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The summary an on-call engineer reads first: the verdict and the commands, then only the hosts not ok."""

from __future__ import annotations

import pytest

from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_summary import summary_lines


def report(statuses, scenarios=(), supporting=()):
    hosts = dict(('genesis-%03d' % (i + 1), {'status': status, 'scenarios': ['rate_limit'] if status != 'ok' else []})
                 for i, status in enumerate(statuses))
    return {'verdict': scenarios[0]['scenario'] if scenarios else 'healthy', 'hosts': hosts, 'scenarios': list(scenarios),
            'supporting': list(supporting), 'api_calls': 3, 'tokens_spent': 0, 'duration_s': 4.2}


def test_forty_hosts_one_degraded_the_verdict_and_command_lead_and_only_the_bad_host_is_listed():
    command = 'ansible-playbook genesis.model_ops.remediate_rate_limit -i /srv/site/hosts --limit genesis-017'
    statuses = ['ok'] * 40
    statuses[16] = 'degraded'
    lines = summary_lines(report(statuses, [{'scenario': 'rate_limit', 'command': command}],
                                 [{'code': 'recent_config_change', 'hosts': ['genesis-017']}]), '/srv/site/reports')
    assert lines == [
        'verdict: rate_limit  (40 hosts, 1 not ok; 3 API calls, 0 tokens, 4.2 s)',
        'next (rate_limit): ' + command,
        'genesis-017      degraded    rate_limit',
        '(39 other hosts ok)',
        'also: recent_config_change on genesis-017',
        'report: /srv/site/reports/diagnosis-latest.json, .md']


def test_a_healthy_fleet_is_one_line_and_the_report():
    assert summary_lines(report(['ok'] * 3), 'reports') == [
        'verdict: healthy  (3 hosts, 0 not ok; 3 API calls, 0 tokens, 4.2 s)', 'report: reports/diagnosis-latest.json, .md']


def test_every_host_down_lists_each_and_no_count_of_others():
    lines = summary_lines(report(['down', 'down']))
    assert lines[1:] == ['genesis-001      down        rate_limit', 'genesis-002      down        rate_limit']


@pytest.mark.parametrize('bad', [None, 'verdict', {'hosts': {}}, {'verdict': 'healthy', 'hosts': []}])
def test_anything_but_a_report_is_refused_naming_its_type(bad):
    with pytest.raises(ValueError, match="must be the verdict filter's result .* got '%s'" % type(bad).__name__):
        summary_lines(bad)
