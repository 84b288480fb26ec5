# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The diagnosis report as one self-contained HTML page (report_html): the verdict and the commands to run first,
then the hosts that are not ok and their agents, then a chart (inline SVG) of each failing agent's errors and
fallbacks per minute over the window, then the supporting findings. No script, no style sheet, font or image
fetched from anywhere: the page's Content-Security-Policy forbids it, so it opens the same from a mail, an AWX
artifact or a laptop with no network. Every text from the report is escaped."""

from __future__ import annotations

import html

from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_summary import not_ok
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_evidence import parse_time

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 12, 28
SERIES = (('errors', 1, '#c0392b'), ('fallbacks', 2, '#2471a3'))
STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1000px;color:#1c2833;padding:0 16px}
h1{font-size:26px;margin:0 0 4px;color:#c0392b}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #d5d8dc}
.verdict-healthy{color:#1e8449}.verdict-unknown{color:#7d6608}.bad{color:#c0392b}
code{background:#f4f6f7;padding:2px 6px;border-radius:4px;font:13px ui-monospace,monospace}
ol.commands li{margin:6px 0}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaecee;vertical-align:top}
.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
svg text{font:11px system-ui,sans-serif;fill:#566573}.legend span{display:inline-block;width:12px;height:3px;margin:0 4px 3px 10px}
.muted{color:#566573}
"""


def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


def _segments(points, column, x_of, y_of):
    """The polyline point lists of one series: a gap (a null, or a minute with no row) breaks the line."""
    segments, current, last = [], [], None
    for row in points:
        value = row[column] if len(row) > column else None
        if value is None or (last is not None and (row[0] - last).total_seconds() > 90):
            if current:
                segments.append(current)
            current = []
        if value is not None:
            current.append('%.1f,%.1f' % (x_of(row[0]), y_of(value)))
        last = row[0]
    if current:
        segments.append(current)
    return segments


def chart_svg(chart):
    """An SVG line chart of one chart entry of the report: errors and fallbacks per minute against time, over the
    chart's window (the log window up to the report's time; else the span of its points)."""
    points = []
    for row in chart.get('points') or ():
        at = parse_time(row[0]) if isinstance(row, list) and row else None
        if at is not None:
            points.append([at] + list(row[1:]))
    window = chart.get('window') if isinstance(chart.get('window'), dict) else {}
    start = parse_time(window.get('from')) or (points[0][0] if points else None)
    end = parse_time(window.get('to')) or (points[-1][0] if points else None)
    if start and end and points:
        start, end = min(start, points[0][0]), max(end, points[-1][0])
    seconds = max((end - start).total_seconds(), 60.0) if start and end else 60.0
    values = [row[column] for row in points for _name, column, _colour in SERIES
              if len(row) > column and isinstance(row[column], (int, float))]
    top = max(values + [1.0])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(at):
        return LEFT + inner_w * (at - start).total_seconds() / seconds

    def y_of(value):
        return TOP + inner_h * (1 - min(value, top) / top)

    label = '%s / %s: errors and fallbacks per minute' % (chart.get('host'), chart.get('agent'))
    out = ['<svg class="chart-svg" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
           'aria-label="%s">' % (WIDTH, HEIGHT, WIDTH, HEIGHT, _e(label)),
           '<title>%s</title>' % _e(label),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="#fbfcfc" stroke="#d5d8dc"/>' % (LEFT, TOP, inner_w, inner_h)]
    for fraction in (0.5, 1.0):  # grid lines and the scale
        y = y_of(top * fraction)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eaecee"/>' % (LEFT, y, WIDTH - RIGHT, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (LEFT - 6, y + 4, _e('%g' % round(top * fraction, 2))))
    out.append('<text x="%d" y="%d" text-anchor="end">0</text>' % (LEFT - 6, TOP + inner_h + 4))
    if start and end:
        out.append('<text x="%d" y="%d" text-anchor="start">%s</text>' % (LEFT, HEIGHT - 8, _e(start.strftime('%H:%M UTC'))))
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (WIDTH - RIGHT, HEIGHT - 8, _e(end.strftime('%H:%M UTC'))))
    for name, column, colour in SERIES:
        for segment in _segments(points, column, x_of, y_of):
            if len(segment) == 1:
                x, y = segment[0].split(',')
                out.append('<circle class="series-%s" cx="%s" cy="%s" r="3" fill="%s"/>' % (name, x, y, colour))
            else:
                out.append('<polyline class="series-%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                    name, colour, ' '.join(segment)))
    out.append('</svg>')
    return ''.join(out)


def report_html(report, markdown_name=None):
    """The report (genesis.model_ops.verdict's) as a self-contained HTML page; markdown_name: the Markdown report
    beside it, named at the end."""
    if not isinstance(report, dict) or 'verdict' not in report:
        raise ValueError('expected a diagnosis report (a dict with verdict, scenarios, hosts), got %s' % type(report).__name__)
    verdict = report.get('verdict')
    summary = report.get('summary') or {}
    hosts = report.get('hosts') or {}
    bad = not_ok(hosts)
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>Genesis diagnosis: %s</title>' % _e(verdict), '<style>%s</style>' % STYLE, '</head>', '<body>']
    out.append('<header><h1 id="verdict" class="verdict-%s">Verdict: %s</h1>' % (_e(verdict), _e(verdict)))
    out.append('<p class="muted">%s hosts, %d not ok; generated %s (target %s, %s API calls, %s tokens)</p></header>' % (
        _e(summary.get('hosts', len(hosts))), len(bad), _e(report.get('generated_at')), _e(report.get('target')),
        _e(report.get('api_calls')), _e(report.get('tokens_spent'))))

    out.append('<section id="next"><h2>Run next</h2>')
    if report.get('scenarios'):
        out.append('<ol class="commands">')
        for item in report['scenarios']:
            out.append('<li><code class="command">%s</code><br><span class="muted">%s: %s (%s)</span></li>' % (
                _e(item.get('command')), _e(item.get('scenario')), _e(item.get('title')), _e(', '.join(item.get('hosts') or ()))))
        out.append('</ol>')
    else:
        out.append('<p>Nothing: no scenario holds.</p>')
    out.append('</section>')

    out.append('<section id="hosts"><h2>Hosts that are not ok</h2>')
    if bad:
        out.append('<table><thead><tr><th>host</th><th>status</th><th>scenarios</th><th>agents not ok</th></tr></thead><tbody>')
        for name in bad:
            host = hosts.get(name) or {}
            agents = ['%s %s (errors %s, fallbacks %s)' % (agent, figures.get('status'), _rate(figures.get('error_rate')),
                                                           _rate(figures.get('fallback_rate')))
                      for agent, figures in sorted((host.get('agents') or {}).items()) if figures.get('status') != 'ok']
            out.append('<tr class="host" data-host="%s"><td>%s</td><td class="bad">%s</td><td>%s</td><td>%s</td></tr>' % (
                _e(name), _e(name), _e(host.get('status')), _e(', '.join(host.get('scenarios') or ()) or '-'),
                '<br>'.join(_e(text) for text in agents) or '-'))
        out.append('</tbody></table>')
    others = len(hosts) - len(bad)
    out.append('<p class="muted">%d other host%s ok</p></section>' % (others, '' if others == 1 else 's'))

    charts = [chart for chart in report.get('charts') or () if isinstance(chart, dict)]
    out.append('<section id="charts"><h2>Errors and fallbacks per minute</h2>')
    if charts:
        out.append('<p class="legend">%s</p><div class="charts">' % ''.join(
            '<span style="background:%s"></span>%s' % (colour, name) for name, _column, colour in SERIES))
        for chart in charts:
            host, agent = _e(chart.get('host')), _e(chart.get('agent'))
            out.append('<figure class="chart" data-host="%s" data-agent="%s"><figcaption>%s / %s <span class="muted">(%s)</span>'
                       '</figcaption>%s</figure>' % (host, agent, host, agent, _e(chart.get('source')), chart_svg(chart)))
        out.append('</div>')
    else:
        out.append('<p class="muted">No failing agent, or no figures over time (no Prometheus and no log lines).</p>')
    out.append('</section>')

    supporting = [item for item in report.get('supporting') or () if isinstance(item, dict)]
    if supporting:
        out.append('<section id="supporting"><h2>Supporting findings</h2><ul>')
        for item in supporting:
            out.append('<li><code>%s</code> %s</li>' % (_e(item.get('code')), _e(item.get('detail') or item.get('message'))))
        out.append('</ul></section>')
    if markdown_name:
        out.append('<p class="muted">The whole report, evidence included: %s</p>' % _e(markdown_name))
    out.extend(['</body>', '</html>', ''])
    return '\n'.join(out)


def _rate(value):
    return '%.0f%%' % (100 * value) if isinstance(value, (int, float)) and not isinstance(value, bool) else '-'
