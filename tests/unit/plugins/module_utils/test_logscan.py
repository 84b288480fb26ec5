# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The log scan: categories as the runbook's greps, windows, redaction, bad input."""

from __future__ import annotations

import datetime
import io
import json
import os

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _logscan
from ansible_collections.genesis.model_ops.plugins.module_utils._logscan import (
    TailReader, parse_fields, parse_timestamp, scan)

FT = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'
KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'  # 32 alphanumerics, like a Mistral key
BEARER = 'sk-live-9f8e7d6c5b4a'
NOW = datetime.datetime(2025, 10, 31, 12, 10, 0, tzinfo=datetime.timezone.utc)

CONTRACT = [
    '2025-10-31T12:00:00.000Z INFO agent=qa_agent model=%s status=200' % FT,
    '2025-10-31T12:01:00.123Z ERROR agent=qa_agent model=%s status=429 error="Rate limit exceeded"' % FT,
    '2025-10-31T12:02:00.456Z INFO agent=qa_agent model=open-mistral-7b fallback=true status=200',
    '2025-10-31T12:03:00.000Z ERROR agent=support_agent model=%s status=401 error="Unauthorized"' % FT,
    '2025-10-31T12:04:00.000Z ERROR agent=legal_agent model=%s status=404 error="Model not found"' % FT,
    '2025-10-31T12:05:00.000Z ERROR agent=legal_agent model=open-mistral-7b status=400 error="invalid_model"',
    '2025-10-31T12:06:00.000Z ERROR agent=analyst_agent model=%s status=503 error="Service unavailable"' % FT,
    # the milliseconds of a healthy line must not count as a 401, nor a 429
    '2025-10-31T12:07:00.401Z INFO agent=content_agent model=%s status=200' % FT,
    '2025-10-31T12:07:30.429Z INFO agent=content_agent model=%s status=200' % FT,
]
OTHER = [
    'Traceback (most recent call last):',
    '  File "/opt/genesis/genesis_orchestrator.py", line 12, in <module>',
    'RuntimeError: upstream failed',
    '2025-10-31 12:08:00,429 INFO uvicorn: GET /health took 0.512 s',
]


def write(path, lines, raw=b''):
    with open(path, 'wb') as handle:
        handle.write(''.join(line + '\n' for line in lines).encode('utf-8') + raw)
    return str(path)


@pytest.fixture
def logdir(tmp_path):
    directory = tmp_path / 'logs'
    directory.mkdir()
    return directory


def test_categories_as_the_runbook_greps(logdir):
    write(logdir / 'model_calls.log', CONTRACT + OTHER)
    result = scan(str(logdir / '*.log'))
    # five ERROR lines, and RuntimeError...failed from the traceback
    assert result['counts'] == {'errors': 6, 'rate_limit': 1, 'auth': 1, 'model_not_found': 2, 'server_error': 1}
    assert result['lines_scanned'] == len(CONTRACT + OTHER)
    assert result['unparsed_lines'] == len(OTHER)
    assert result['by_status'] == {'200': 4, '429': 1, '401': 1, '404': 1, '400': 1, '503': 1}
    assert result['by_agent']['legal_agent'] == {'lines': 2, 'errors': 2, 'rate_limit': 0, 'auth': 0,
                                                 'model_not_found': 2, 'server_error': 0}
    assert result['by_agent']['content_agent']['auth'] == 0
    # how old each agent's lines of each kind are
    assert result['by_agent_seen']['legal_agent'] == {
        'errors': {'first': '2025-10-31T12:04:00.000Z', 'last': '2025-10-31T12:05:00.000Z'},
        'model_not_found': {'first': '2025-10-31T12:04:00.000Z', 'last': '2025-10-31T12:05:00.000Z'}}
    assert result['by_agent_seen']['qa_agent'] == {
        'errors': {'first': '2025-10-31T12:01:00.123Z', 'last': '2025-10-31T12:01:00.123Z'},
        'rate_limit': {'first': '2025-10-31T12:01:00.123Z', 'last': '2025-10-31T12:01:00.123Z'}}
    assert result['by_agent_seen']['content_agent'] == {}
    assert result['first_seen']['errors'] == '2025-10-31T12:01:00.123Z'
    assert result['last_seen']['errors'] == '2025-10-31T12:06:00.000Z'
    assert result['first_seen']['auth'] == result['last_seen']['auth'] == '2025-10-31T12:03:00.000Z'
    assert result['window'] == {'lines': 1000, 'minutes': None, 'since': None}
    assert result['findings'] == []


def test_other_software_lines_match_as_grep_would(logdir):
    write(logdir / 'a.log', OTHER)
    result = scan(str(logdir / '*.log'))
    # "upstream failed" and "RuntimeError" are one line; the uvicorn line has no error word
    assert result['counts']['errors'] == 1
    assert result['counts']['rate_limit'] == 0  # ",429" is milliseconds
    assert result['counts']['server_error'] == 0  # "0.512" is a decimal
    assert result['unparsed_lines'] == 4 and result['by_agent'] == {} and result['by_status'] == {}


def test_samples_newest_first_kept_oldest_first_shown(logdir):
    lines = ['2025-10-31T12:00:%02d.000Z ERROR agent=qa_agent status=429 n=%d' % (i, i) for i in range(10)]
    write(logdir / 'a.log', lines)
    result = scan(str(logdir / '*.log'), samples=3)
    assert [sample['line'] for sample in result['samples']['rate_limit']] == lines[-3:]
    assert result['samples']['rate_limit'][0]['file'] == str(logdir / 'a.log')
    assert scan(str(logdir / '*.log'), samples=0)['samples']['errors'] == []


def test_secrets_are_redacted_and_nowhere_in_the_result(logdir):
    write(logdir / 'a.log', [
        '2025-10-31T12:00:00.000Z ERROR agent=qa_agent model=%s status=401 error="Unauthorized" MISTRAL_API_KEY=%s' % (FT, KEY),
        '2025-10-31T12:00:01.000Z ERROR agent=qa_agent status=401 request_header="Authorization: Bearer %s"' % BEARER,
        'failed: token %s rejected' % KEY,
        'ERROR config dump {"api_key": "short-secret-1"} password=hunter2',
    ])
    result = scan(str(logdir / '*.log'))
    dumped = json.dumps(result)
    for secret in (KEY, BEARER, 'short-secret-1', 'hunter2'):
        assert secret not in dumped
    lines = [sample['line'] for sample in result['samples']['errors']]
    assert len(lines) == 3
    assert 'MISTRAL_API_KEY=********' in result['samples']['auth'][0]['line']
    assert 'Bearer ********' in result['samples']['auth'][1]['line']
    assert FT in result['samples']['auth'][0]['line']  # model ids stay readable


def test_invalid_utf8_is_counted_and_skipped(logdir):
    write(logdir / 'a.log', CONTRACT[:2], raw=b'2025-10-31T12:09:00.000Z ERROR agent=qa_agent status=500 msg=\xff\xfe bad\n')
    result = scan(str(logdir / '*.log'))
    assert result['undecodable_bytes'] == 2
    assert result['lines_scanned'] == 3
    assert result['counts']['server_error'] == 1
    assert result['samples']['server_error'][0]['line'].endswith('msg= bad')


def test_crlf_and_blank_lines(logdir):
    with open(logdir / 'a.log', 'wb') as handle:
        handle.write(b'2025-10-31T12:00:00.000Z ERROR agent=qa_agent status=429\r\n\r\n\n')
    result = scan(str(logdir / '*.log'))
    assert result['lines_scanned'] == 1
    assert result['by_status'] == {'429': 1}


def test_lines_window_reads_only_the_tail(logdir):
    lines = ['2025-10-31T12:00:00.000Z INFO agent=qa_agent status=200 n=%d' % i for i in range(5000)]
    lines[-1] = '2025-10-31T12:00:00.000Z ERROR agent=qa_agent status=429 n=last'
    write(logdir / 'a.log', lines)
    result = scan(str(logdir / '*.log'), lines=10)
    assert result['lines_scanned'] == 10
    assert result['counts']['rate_limit'] == 1
    assert result['files'][0]['bytes_read'] <= _logscan._BLOCK < os.path.getsize(logdir / 'a.log')


def test_a_1gb_file_is_not_read_whole(logdir):
    path = logdir / 'big.log'
    with open(path, 'wb') as handle:  # sparse: a gigabyte of nothing, then a few lines
        handle.seek(1 << 30)
        handle.write(''.join(line + '\n' for line in CONTRACT).encode())
    result = scan(str(logdir / '*.log'), lines=5)
    assert result['lines_scanned'] == 5
    assert result['files'][0]['bytes_read'] <= _logscan._BLOCK


def test_minutes_window(logdir):
    write(logdir / 'a.log', [
        '2025-10-31T11:50:00.000Z ERROR agent=qa_agent status=429 old',
        '2025-10-31T12:01:00.000Z ERROR agent=qa_agent status=429 in-window',
        'Traceback (most recent call last): an exception',  # continuation of the line above: in the window
        '2025-10-31T14:05:00+02:00 ERROR agent=qa_agent status=401 in-window-with-offset',
    ])
    old = write(logdir / 'old.log', ['2025-10-31T12:09:00.000Z ERROR agent=qa_agent status=404'])
    stale = (NOW - datetime.timedelta(hours=1)).timestamp()
    os.utime(old, (stale, stale))  # not written to within the window: not even opened
    result = scan(str(logdir / '*.log'), minutes=10, now=NOW)
    assert result['window'] == {'lines': None, 'minutes': 10, 'since': '2025-10-31T12:00:00.000Z'}
    assert result['lines_scanned'] == 3
    assert result['counts'] == {'errors': 3, 'rate_limit': 1, 'auth': 1, 'model_not_found': 0, 'server_error': 0}
    assert result['first_seen']['errors'] == '2025-10-31T12:01:00.000Z'
    assert result['last_seen']['auth'] == '2025-10-31T12:05:00.000Z'
    assert {entry['path']: entry['lines_scanned'] for entry in result['files']} == {str(logdir / 'a.log'): 3, old: 0}


def test_each_agent_minute_by_minute_for_the_charts(logdir):
    write(logdir / 'qa.log', [
        '2025-10-31T12:02:10.000Z INFO agent=qa_agent model=%s status=200' % FT,
        '2025-10-31T12:02:40.000Z INFO agent=qa_agent model=%s status=200' % FT,
        '2025-10-31T12:03:05.000Z ERROR agent=qa_agent model=%s status=429 error="Rate limit exceeded"' % FT,
        '2025-10-31T12:03:05.500Z INFO agent=qa_agent model=open-mistral-7b fallback=true status=200',
        '2025-10-31T12:03:50.000Z ERROR agent=qa_agent model=open-mistral-7b status=503 error="failed"',
        'Traceback (most recent call last): no agent, no minute',
        '2025-10-31T12:05:00.000Z INFO agent=legal_agent model=%s status=200' % FT,
    ])
    result = scan(str(logdir / '*.log'), minutes=10, now=NOW)
    assert result['by_agent_minute'] == {
        'qa_agent': [['2025-10-31T12:02:00.000Z', 2, 0, 0], ['2025-10-31T12:03:00.000Z', 3, 2, 1]],
        'legal_agent': [['2025-10-31T12:05:00.000Z', 1, 0, 0]]}
    assert json.loads(json.dumps(result)) == result


def test_max_bytes_truncates_with_a_finding(logdir):
    write(logdir / 'a.log', ['no timestamp here, error %d' % i for i in range(1000)])
    result = scan(str(logdir / '*.log'), minutes=5, max_bytes=1000, now=datetime.datetime.now(datetime.timezone.utc))
    assert [item['code'] for item in result['findings']] == ['window_truncated']
    assert result['files'][0]['bytes_read'] == 1000
    assert 0 < result['lines_scanned'] < 1000


def test_missing_directory_and_no_files(tmp_path, logdir):
    result = scan(str(tmp_path / 'nowhere' / '*.log'))
    assert [(item['code'], item['severity']) for item in result['findings']] == [('log_dir_missing', 'warning')]
    assert result['files'] == [] and result['lines_scanned'] == 0
    result = scan(str(logdir / '*.log'))
    assert [item['code'] for item in result['findings']] == ['no_log_files']


def test_unreadable_file_is_a_finding(logdir, monkeypatch):
    write(logdir / 'a.log', CONTRACT)

    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(_logscan, 'open', refuse, raising=False)
    result = scan(str(logdir / '*.log'))
    assert [item['code'] for item in result['findings']] == ['unreadable_file']
    assert 'Permission denied' in result['findings'][0]['message']


def test_several_files_newest_samples_first(logdir):
    first = write(logdir / 'a.log', ['2025-10-31T12:00:00.000Z ERROR agent=qa_agent status=429 older-file'])
    write(logdir / 'b.log', ['2025-10-31T12:05:00.000Z ERROR agent=qa_agent status=429 newer-file'])
    os.utime(first, (1, 1))
    result = scan(str(logdir / '*.log'), samples=1)
    assert result['counts']['rate_limit'] == 2
    assert result['samples']['rate_limit'][0]['line'].endswith('newer-file')
    assert [entry['path'] for entry in result['files']] == sorted(entry['path'] for entry in result['files'])


@pytest.mark.parametrize('block', [1, 7, 64])
def test_tail_reader_across_blocks(monkeypatch, block):
    monkeypatch.setattr(_logscan, '_BLOCK', block)
    data = b'one\ntwo\nthree and more\n\nfive'
    assert list(TailReader(io.BytesIO(data), len(data), 1 << 20)) == [b'five', b'', b'three and more', b'two', b'one']
    reader = TailReader(io.BytesIO(data), len(data), 10)
    lines = list(reader)
    assert reader.truncated and reader.bytes_read == 10 and lines[0] == b'five'


def test_parse_timestamp_and_fields():
    assert parse_timestamp('2025-10-31T12:03:00.123Z x') == datetime.datetime(
        2025, 10, 31, 12, 3, 0, 123000, tzinfo=datetime.timezone.utc)
    assert parse_timestamp('2025-10-31 14:03:00,5 +0200 x').hour == 12
    assert parse_timestamp('2025-13-31T12:03:00Z x') is None
    assert parse_timestamp('nope') is None
    assert parse_fields(CONTRACT[1]) == {'agent': 'qa_agent', 'model': FT, 'status': '429', 'error': 'Rate limit exceeded'}
    assert parse_fields('2025-10-31T12:03:00Z INFO free text') is None
