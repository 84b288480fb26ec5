# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The diagnosis's HTML page in a real browser: Debian's chromium, headless, opens diagnosis-latest.html of a real
diagnosis of the lab (one host rate limited), takes a screenshot, and says what the page holds once rendered and what
its console said. The charts' figures come from the lab's Prometheus, or, without one, from the hosts' log lines.
A copy of the page with a remote image shows that a console error is seen when there is one."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import urllib.parse
import urllib.request

import pytest

from lab.fleet import prometheus_address
from tests.conftest import wait_until
from tests.integration.test_diagnose import (  # noqa: F401 (diagnose is a fixture)  pylint: disable=unused-import
    AGENTS, SHOW_S, diagnose, shows)

CHROMIUM = shutil.which("chromium")
WIDTH, HEIGHT = 1100, 1400


def browse(page, *args):
    """Run headless chromium on the page (a file); its completed process. A fresh profile each time."""
    profile = tempfile.mkdtemp(prefix="chromium-")
    try:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                               "--enable-logging=stderr", "--v=0", "--user-data-dir=%s" % profile,
                               "--window-size=%d,%d" % (WIDTH, HEIGHT), *args, "file://%s" % page],
                              capture_output=True, text=True, timeout=180, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(stderr):
    """What the page's console said at error level, and what the browser refused to load for it."""
    return [line for line in stderr.splitlines()
            if re.search(r"CONSOLE|Refused to|Content.Security.Policy|net::ERR_", line)]


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", head
    return struct.unpack(">II", head[16:24])


def erring_in_prometheus(host):
    """The agents of host with a rate of errors in the lab's Prometheus."""
    query = urllib.parse.urlencode({"query": 'sum by (agent) (rate(model_errors_total{instance="%s"}[1m])) > 0' % host})
    with urllib.request.urlopen("http://%s/api/v1/query?%s" % (prometheus_address(int(os.environ["GENESIS_LAB_NET"])), query),
                                timeout=10) as answer:
        return {sample["metric"]["agent"] for sample in json.load(answer)["data"]["result"]}


def test_chromium_is_there():
    assert CHROMIUM, "chromium is missing: make system-packages installs it (Debian's chromium)"


@pytest.mark.parametrize("source", ["prometheus", "logs"])
def test_the_page_in_a_browser_verdict_first_a_chart_per_failing_agent_no_console_error(clean_lab, diagnose, tmp_path, source):
    lab = clean_lab
    bad = lab.hosts[3]
    lab.cli("fault", "rate_limit", "--hosts", bad.name)
    wait_until(shows(lab, {bad.name: "degraded"}), SHOW_S, what="the rate limit on %s" % bad.name)
    if source == "prometheus":  # until Prometheus has a rate of errors for them (two scrapes of the new counters)
        wait_until(lambda: erring_in_prometheus(bad.name) == set(AGENTS), 120, what="%s's errors in Prometheus" % bad.name)
    # without Prometheus (an empty URL: the site has none), the figures come from the host's log lines
    _, report = diagnose("host", extravars={} if source == "prometheus" else {"model_ops_prometheus_url": ""})
    (item,) = report["scenarios"]
    assert item["scenario"] == "rate_limit" and item["hosts"] == [bad.name]
    failing = sorted(item["agents"][bad.name])
    charts = [chart for chart in report["charts"] if chart["host"] == bad.name]
    assert sorted(chart["agent"] for chart in charts) == failing and {chart["source"] for chart in charts} == {source}
    # over the window: minutes with errors and fallbacks for each failing agent
    for chart in charts:
        assert any((row[1] or 0) > 0 for row in chart["points"]) and any((row[2] or 0) > 0 for row in chart["points"]), chart
    page = os.path.join(str(tmp_path), "reports-0", "diagnosis-latest.html")

    # rendered: the verdict and the command first, then a chart (with its lines) for each failing agent
    dom = browse(page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert console_errors(dom.stderr) == []
    text = dom.stdout
    assert text.index("Verdict: rate_limit") < text.index(item["command"]) < text.index('id="charts"')
    figures = re.findall(r'<figure class="chart" data-host="([^"]+)" data-agent="([^"]+)">(.*?)</figure>', text, re.S)
    assert sorted(agent for host, agent, _body in figures if host == bad.name) == failing
    for _host, agent, body in figures:
        assert "<svg" in body and 'class="series-errors"' in body and 'class="series-fallbacks"' in body, agent

    # a screenshot, as the person on call would see the page
    shot = os.path.join(str(tmp_path), "diagnosis-%s.png" % source)
    taken = browse(page, "--screenshot=%s" % shot, "--hide-scrollbars")
    assert taken.returncode == 0 and os.path.isfile(shot), taken.stderr[-3000:]
    assert png_size(shot) == (WIDTH, HEIGHT) and os.path.getsize(shot) > 20000
    assert console_errors(taken.stderr) == []
    print("screenshot: %s (%d bytes)" % (shot, os.path.getsize(shot)))

    # the check can fail: the same page with a remote image is refused by its policy, and the console says so
    if source == "prometheus":
        control = os.path.join(str(tmp_path), "control.html")
        with open(page, encoding="utf-8") as handle:
            html = handle.read()
        with open(control, "w", encoding="utf-8") as handle:
            handle.write(html.replace("</body>", '<img src="http://127.0.0.1:9/pixel.png"></body>'))
        assert console_errors(browse(control, "--dump-dom").stderr) != []
