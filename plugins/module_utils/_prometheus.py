# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One PromQL instant query (``GET /api/v1/query``), its answer as data and findings; and, for the report's
charts, each host's and agent's errors and fallbacks per minute over the last minutes (``/api/v1/query_range``).

The runbook's ``curl http://localhost:9090/api/v1/query?query=rate(model_errors[5m])``,
for prometheus_query. A module rather than ``uri`` because ``uri`` is skipped in check
mode, and a diagnosis must work in an AWX "Check" job.

Prometheus is supporting evidence: no answer, an error answer, a body that is not
JSON are findings, never an exception. An empty URL means the site has no Prometheus
(host contract, section 9): nothing is called.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse

from ansible_collections.genesis.model_ops.plugins.module_utils._common import finding, mask, utc_text
from ansible_collections.genesis.model_ops.plugins.module_utils._http import http_get, tls_context

DEFAULT_URL = 'http://localhost:9090'
DEFAULT_QUERY = 'sum by (instance, agent) (rate(model_errors_total[5m]))'
MAX_BODY = 16 * 1024 * 1024
# errors and fallbacks per minute, per host (instance) and agent, each series named by its `series` label
CHART_QUERY = ('label_replace(60 * sum by (instance, agent) (rate(model_errors_total[1m])), "series", "errors", "", "")'
               ' or label_replace(60 * sum by (instance, agent) (rate(model_fallbacks_total[1m])), "series", "fallbacks", "", "")')
CHART_STEP_S = 60
EXCERPT_CHARS = 200


def _excerpt(body):
    return mask(' '.join(body.decode('utf-8', 'replace').split())[:EXCERPT_CHARS])


def _value(pair):
    """The float of a Prometheus [timestamp, "value"] pair; null for NaN, infinities (not JSON) or garbage."""
    try:
        value = float(pair[1])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return value if math.isfinite(value) else None


def samples_of(result_type, result):
    """[{labels, value}] of a query result. A matrix (a range selector queried as is) gives each series' last point."""
    series = [item for item in result if isinstance(item, dict)]
    if result_type == 'vector':
        return [{'labels': item.get('metric') or {}, 'value': _value(item.get('value'))} for item in series]
    if result_type == 'matrix':
        return [{'labels': item.get('metric') or {}, 'value': _value((item.get('values') or [None])[-1])}
                for item in series]
    if result_type == 'scalar':
        return [{'labels': {}, 'value': _value(result)}]
    return []  # a string result holds no number


def by_instance_agent(samples):
    """{instance: {agent: value}} of the samples with both labels; samples of the same pair are added up
    (a query kept by code or model gives one per code or model)."""
    table = {}
    for sample in samples:
        labels = sample['labels']
        if 'instance' not in labels or 'agent' not in labels:
            continue
        row = table.setdefault(labels['instance'], {})
        if sample['value'] is None:
            row.setdefault(labels['agent'], None)
        else:
            row[labels['agent']] = (row.get(labels['agent']) or 0.0) + sample['value']
    return table


def chart_rows(result):
    """{instance: {agent: [[time, errors per minute, fallbacks per minute], ...]}} of CHART_QUERY's matrix, oldest
    first; a point one series lacks is null there."""
    table = {}
    for item in result if isinstance(result, list) else ():
        labels = item.get('metric') if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not {'instance', 'agent'} <= set(labels) or labels.get('series') not in ('errors', 'fallbacks'):
            continue
        column = 1 if labels['series'] == 'errors' else 2
        points = table.setdefault(labels['instance'], {}).setdefault(labels['agent'], {})
        for pair in item.get('values') or ():
            try:
                at = float(pair[0])
            except (TypeError, ValueError, IndexError):
                continue
            points.setdefault(at, [utc_text(at), None, None])[column] = _value(pair)
    return dict((instance, dict((agent, [row for _at, row in sorted(points.items())]) for agent, points in agents.items()))
                for instance, agents in table.items())


def chart(url, minutes, timeout=10, validate_certs=True, now=None):
    """(rows, finding) of CHART_QUERY over the last minutes at url: rows as chart_rows() gives them, or None with a
    finding saying why not (the instant query's answer stands either way)."""
    end = time.time() if now is None else now
    params = {'query': CHART_QUERY, 'start': '%.3f' % (end - 60 * minutes), 'end': '%.3f' % end, 'step': str(CHART_STEP_S)}
    reply = http_get('%s/api/v1/query_range?%s' % (url.rstrip('/'), urllib.parse.urlencode(params)), timeout,
                     context=tls_context(validate_certs), max_body=MAX_BODY)
    why = reply['reason'] if reply['error'] else None
    if why is None:
        try:
            answer = json.loads(reply['body'].decode('utf-8'))
        except (ValueError, RecursionError):
            answer = None
        data = answer.get('data') if isinstance(answer, dict) and answer.get('status') == 'success' else None
        if isinstance(data, dict) and data.get('resultType') == 'matrix':
            return chart_rows(data.get('result')), None
        why = 'HTTP %s, %s' % (reply['http_status'], answer.get('error') if isinstance(answer, dict) else 'not a Prometheus answer')
    return None, finding('chart_unavailable', 'info', 'no chart figures from %s: %s' % (mask(url), mask(str(why))), url=mask(url))


def query(url, promql=DEFAULT_QUERY, timeout=10, validate_certs=True, chart_minutes=0):
    """Run promql at url (the Prometheus base URL); return the module's result. A password in url
    (user:password@host, sent as Basic authentication) shows nowhere in it."""
    endpoint = '%s/api/v1/query?%s' % ((url or '').rstrip('/'), urllib.parse.urlencode({'query': promql}))
    url_unmasked, url = url, mask(url) if url else url
    result = {'changed': False, 'url': url, 'query': promql, 'skipped': False, 'available': False, 'http_status': None,
              'status': None, 'result_type': None, 'samples': [], 'by_label': {}, 'chart': None, 'prometheus_warnings': [],
              'findings': []}
    if not url:
        result['skipped'] = True
        return result
    findings = result['findings']
    reply = http_get(endpoint, timeout, context=tls_context(validate_certs), max_body=MAX_BODY)
    result['http_status'], body = reply['http_status'], reply['body']
    if reply['error'] == 'timeout':
        findings.append(finding('timeout', 'warning', 'no answer from %s within %ss' % (url, timeout), url=url))
        return result
    if reply['error']:
        findings.append(finding('prometheus_unreachable', 'warning', 'cannot query %s: %s' % (url, reply['reason']),
                                url=url, http_status=None))
        return result

    try:
        answer = json.loads(body.decode('utf-8'))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: nested too deep
        findings.append(finding('not_json', 'warning', '%s answered HTTP %s with a body that is not JSON' % (
            url, result['http_status']), url=url, http_status=result['http_status'], body=_excerpt(body)))
        return result
    if not isinstance(answer, dict) or answer.get('status') not in ('success', 'error'):
        findings.append(finding('prometheus_error', 'warning', '%s answered HTTP %s with JSON that is not a Prometheus API '
                                'answer' % (url, result['http_status']), url=url, http_status=result['http_status'],
                                error_type='bad_response', error=None, body=_excerpt(body)))
        return result
    result['status'] = answer['status']
    result['prometheus_warnings'] = [str(item) for item in answer.get('warnings') or ()]
    if answer['status'] == 'error':
        findings.append(finding('prometheus_error', 'warning', '%s: %s: %s' % (url, answer.get('errorType'), answer.get('error')),
                                url=url, http_status=result['http_status'], error_type=answer.get('errorType'),
                                error=answer.get('error')))
        return result
    data = answer.get('data')
    # Every result type is a list: of series for a vector or a matrix, a [time, value] pair for a scalar or a string.
    if not isinstance(data, dict) or not isinstance(data.get('result'), list):
        findings.append(finding('prometheus_error', 'warning', '%s answered success without data.result' % url,
                                url=url, http_status=result['http_status'], error_type='bad_response', error=None))
        return result
    result['result_type'] = data.get('resultType')
    result['samples'] = samples_of(result['result_type'], data['result'])
    result['by_label'] = by_instance_agent(result['samples'])
    result['available'] = True
    if chart_minutes:
        result['chart'], problem = chart(url_unmasked, chart_minutes, timeout=timeout, validate_certs=validate_certs)
        if problem:
            findings.append(problem)
    return result
