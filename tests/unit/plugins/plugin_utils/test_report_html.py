# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report: the verdict and the commands first, only the hosts that are not ok, a chart per failing agent,
every text escaped, nothing fetched from anywhere."""

from __future__ import annotations

import html.parser
import re

import pytest

from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_html import chart_svg, report_html

POINTS = [['2025-10-31T12:02:00.000Z', 0.0, 0.0], ['2025-10-31T12:03:00.000Z', 12.0, 11.0],
          ['2025-10-31T12:04:00.000Z', None, 3.0], ['2025-10-31T12:05:00.000Z', 6.0, 6.0]]
REPORT = {
    'verdict': 'rate_limit', 'generated_at': '2025-10-31T12:05:00Z', 'target': 'genesis', 'api_calls': 9, 'tokens_spent': 0,
    'summary': {'hosts': 3},
    'scenarios': [{'scenario': 'rate_limit', 'title': 'Rate limiting', 'hosts': ['genesis-002'],
                   'command': 'ansible-playbook remediate_rate_limit.yml --limit genesis-002'}],
    'hosts': {'genesis-001': {'status': 'ok', 'scenarios': [], 'agents': {'qa_agent': {'status': 'ok'}}},
              'genesis-002': {'status': 'degraded', 'scenarios': ['rate_limit'],
                              'agents': {'qa_agent': {'status': 'degraded', 'error_rate': 0.5, 'fallback_rate': 0.4},
                                         'legal_agent': {'status': 'ok', 'error_rate': 0.0, 'fallback_rate': 0.0}}},
              'genesis-003': {'status': 'ok', 'scenarios': [], 'agents': {}}},
    'charts': [{'host': 'genesis-002', 'agent': 'qa_agent', 'source': 'prometheus', 'unit': 'per minute', 'points': POINTS,
                'window': {'from': '2025-10-31T11:55:00Z', 'to': '2025-10-31T12:10:00Z'}}],
    'supporting': [{'code': 'key_rate_limited', 'detail': 'key 1a2b3c4d at its limit'}],
}


class Page(html.parser.HTMLParser):
    """The page's elements as (tag, attributes), and every URL it would load."""

    def __init__(self):
        super().__init__()
        self.elements, self.urls = [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        self.urls += [value for name, value in attrs.items() if name in ('src', 'href', 'xlink:href', 'action') and value]


def parse(text):
    page = Page()
    page.feed(text)
    return page


def test_the_verdict_and_commands_come_first_then_hosts_then_charts():
    text = report_html(REPORT, 'diagnosis-20251031T120500Z.md')
    assert text.startswith('<!DOCTYPE html>')
    order = [text.index(marker) for marker in ('Verdict: rate_limit', 'ansible-playbook remediate_rate_limit.yml --limit genesis-002',
                                               'id="hosts"', 'id="charts"', 'id="supporting"')]
    assert order == sorted(order)
    # only the host that is not ok, the others counted; its agent that is not ok with its rates
    page = parse(text)
    assert [attrs['data-host'] for tag, attrs in page.elements if tag == 'tr' and attrs.get('class') == 'host'] == ['genesis-002']
    assert '2 other hosts ok' in text and 'qa_agent degraded (errors 50%, fallbacks 40%)' in text and 'legal_agent ok' not in text


def test_a_chart_per_failing_agent_with_both_series_and_a_gap_for_a_missing_point():
    page = parse(report_html(REPORT))
    figures = [attrs for tag, attrs in page.elements if tag == 'figure']
    assert figures == [{'class': 'chart', 'data-host': 'genesis-002', 'data-agent': 'qa_agent'}]
    lines = [attrs for tag, attrs in page.elements if tag in ('polyline', 'circle')]
    # errors: a line over the first two minutes, a gap (no point at 12:04), then one point; fallbacks: one line
    assert [(tag_attrs['class'], len(tag_attrs.get('points', 'x').split())) for tag_attrs in lines] == [
        ('series-errors', 2), ('series-errors', 1), ('series-fallbacks', 4)]
    # the scale: 12 per minute at the top; the window's time, from 11:55 to 12:10 UTC, a point where its minute is
    svg = chart_svg(REPORT['charts'][0])
    assert '>12<' in svg and '>11:55 UTC<' in svg and '>12:10 UTC<' in svg
    left, width = 48, 640 - 48 - 16
    first = float(re.search(r'points="([0-9.]+),', svg).group(1))
    assert first == pytest.approx(left + width * 7 / 15, abs=0.1)  # 12:02 is 7 minutes into the 15
    # without a window, the points' own span
    bare = chart_svg(dict(REPORT['charts'][0], window=None))
    assert '>12:02 UTC<' in bare and '>12:05 UTC<' in bare


def test_nothing_is_fetched_from_anywhere():
    text = report_html(REPORT)
    page = parse(text)
    assert page.urls == []
    assert not [tag for tag, _attrs in page.elements if tag in ('script', 'link', 'img', 'iframe', 'object')]
    csp = [attrs['content'] for tag, attrs in page.elements if tag == 'meta' and attrs.get('http-equiv') == 'Content-Security-Policy']
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'"]


def test_every_text_is_escaped():
    hostile = '<script>alert(1)</script>'
    report = dict(REPORT, scenarios=[dict(REPORT['scenarios'][0], command='ansible-playbook x.yml -e "a=<b>"', hosts=[hostile])],
                  hosts={hostile: {'status': 'degraded', 'scenarios': ['rate_limit'], 'agents': {hostile: {'status': 'down'}}}},
                  charts=[dict(REPORT['charts'][0], host=hostile, agent='" onload="x')],
                  supporting=[{'code': '<b>', 'detail': hostile}])
    text = report_html(report)
    assert '<script' not in text and '<b>' not in text and 'onload="x' not in text
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in text and 'a=&lt;b&gt;' in text


def test_a_healthy_report_says_so():
    text = report_html(dict(REPORT, verdict='healthy', scenarios=[], charts=[],
                            hosts={'genesis-001': {'status': 'ok', 'agents': {}}}))
    assert 'Verdict: healthy' in text and 'Nothing: no scenario holds.' in text and '<figure' not in text
    assert re.search(r'1 other host ok', text)


@pytest.mark.parametrize('value', [None, [], 'text', {'verdict_missing': True}])
def test_anything_but_a_report_is_refused(value):
    with pytest.raises(ValueError, match='expected a diagnosis report'):
        report_html(value)
