# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""host_evidence's main(): options in, JSON result out, over a temp app root and a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.modules import host_evidence
from ansible_collections.genesis.model_ops.tests.unit.helpers import run_module, http_server

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'production.yaml')
# Short enough that no redaction rule would catch it: only no_log_values can.
KEY = 'sk-gen-7Hq2'
AGENT = {'status': 'ok', 'model': 'open-mistral-7b', 'finetuned_model': None, 'baseline_model': 'open-mistral-7b',
         'requests': 10, 'errors': 0, 'fallbacks': 0, 'error_rate': 0.0, 'fallback_rate': 0.0, 'last_error': None}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        # A service that leaks its key into its version string: the module must not pass it on.
        body = json.dumps({'status': 'ok', 'version': '1.4.2 key=%s' % KEY, 'agents': {'qa_agent': AGENT}}).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def base():
    with http_server(Handler) as url:
        yield url


@pytest.fixture
def host(tmp_path):
    """An app root with its config, an empty log dir, a live service and an env file of mode 0644."""
    root = tmp_path / 'genesis'
    (root / 'infrastructure' / 'config').mkdir(parents=True)
    (root / 'logs' / 'finetuning').mkdir(parents=True)
    (root / 'run').mkdir()
    shutil.copy(FIXTURE, root / 'infrastructure' / 'config' / 'production.yaml')
    # edited 30 s before the service started (process start times count in clock ticks: keep the order plain)
    stamp = time.time() - 30
    os.utime(root / 'infrastructure' / 'config' / 'production.yaml', (stamp, stamp))
    proc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    (root / 'run' / 'genesis-orchestrator.pid').write_text('%d\n' % proc.pid)
    env = tmp_path / 'genesis.env'
    env.write_text('MISTRAL_API_KEY=%s\n' % KEY)
    env.chmod(0o644)
    yield {'app_root': str(root), 'env_file': str(env)}
    proc.kill()
    proc.wait()


def run(args, capsys):
    return run_module(host_evidence.main, args, capsys)


@pytest.mark.parametrize('check_mode', [False, True])
def test_evidence(host, base, capsys, check_mode):
    code, result, out = run(dict(host, health_url=base, _ansible_check_mode=check_mode), capsys)
    assert code == 0 and result['changed'] is False
    assert KEY not in out
    assert result['health']['status'] == 'ok' and '********' in result['health']['version']
    assert result['logs']['findings'][0]['code'] == 'no_log_files'
    assert result['config']['agents']['legal_agent']['use_finetuned'] is False
    assert result['service']['running'] is True
    assert result['key']['present'] is True and result['key']['mode'] == '0644' and len(result['key']['fingerprint']) == 8
    assert result['audit_log'] == os.path.join(host['app_root'], 'logs', 'model_ops_audit.jsonl')
    assert [change['code'] for change in result['recent_changes']] == ['config_modified', 'service_restarted']
    assert sorted((item['source'], item['code']) for item in result['findings'] if item['severity'] != 'info') == [
        ('key', 'env_file_mode'), ('logs', 'no_log_files')]


def test_fast_mode_skips_health_and_logs(host, capsys):
    code, result, out = run(dict(host, health=False, logs=False, health_url='http://127.0.0.1:9'), capsys)
    assert code == 0 and result['health'] is None and result['logs'] is None
    assert KEY not in out
    assert {item['source'] for item in result['findings']} == {'key', 'changes'}


def test_paths_given(host, tmp_path, capsys):
    code, result, _out = run(dict(host, health=False, config_path=str(tmp_path / 'elsewhere.yaml'),
                                  pid_file=str(tmp_path / 'none.pid')), capsys)
    assert code == 0 and result['config_path'] == str(tmp_path / 'elsewhere.yaml')
    assert result['config']['exists'] is False and result['service']['running'] is None
    codes = {item['code'] for item in result['findings']}
    assert {'config_missing', 'pid_file_missing'} <= codes


@pytest.mark.parametrize('args, message', [
    ({'timeout': 0}, 'timeout=0 is not allowed: give a number of seconds above 0'),
    ({'timeout': 'nan'}, "timeout='nan' is not allowed"),
    ({'log_minutes': -5}, 'log_minutes=-5 is not allowed: give a number of minutes above 0'),
    ({'log_minutes': ' 15'}, "log_minutes=' 15' is not allowed"),
    ({'recent_s': -1}, 'recent_s=-1 is not allowed: give an integer of seconds from 0'),
    ({'recent_s': '1.5'}, "recent_s='1.5' is not allowed: give an integer of seconds from 0"),
    ({'error_rate_threshold': 2}, 'error_rate_threshold=2 is not allowed: give a number from 0 to 1'),
    ({'fields': {'status': 'a[?'}}, 'fields.status'),
])
def test_bad_input(capsys, args, message):
    code, result, _out = run(args, capsys)
    assert code == 1 and message in result['msg']
