# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helpers every part shares: the one masking rule, a finding, a key's fingerprint, an env-file line."""

from __future__ import annotations

import difflib
import hashlib
import json
import re

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._common import (
    MASK, Number, check_numbers, env_assignment, finding, fingerprint, mask, mask_data, normalize_key, parse_percentage, seconds,
    shown)

KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'  # 32 alphanumerics, like a Mistral key
FT = 'ft:open-mistral-7b:587a6b29:20240514:7e773925'
LONG_FT = 'ft:open-mistral-7b:%s:20240514' % ('a1' * 20)
M = MASK

# (text, what it must become): a secret in, the secret out; what is no secret stays as it is.
CASES = [
    # auth schemes, in headers, in messages, escaped in a repr'd header
    ('Authorization: Bearer abc.def-ghi', 'Authorization: Bearer %s' % M),
    ('authorization: basic dXNlcjpwYXNz', 'authorization: basic %s' % M),
    ('Authorization: Basic dXNlcjpwYXNz', 'Authorization: Basic %s' % M),
    ('curl -H "Authorization: Bearer %s" $URL' % KEY, 'curl -H "Authorization: Bearer %s" $URL' % M),
    ("Illegal header value b'Bearer %s\\n'" % KEY, "Illegal header value b'Bearer %s\\n'" % M),
    ('Authorization: sk-live-9f8e7d', 'Authorization: %s' % M),
    ('failed: token %s rejected' % KEY, 'failed: token %s rejected' % M),
    # key=value and key: value, as logs, env files, headers, JSON and YAML write them
    ('api_key=abc123&x=1', 'api_key=%s&x=1' % M),
    ('x-api-key: abc123', 'x-api-key: %s' % M),
    ('MISTRAL_API_KEY="abc 123"', 'MISTRAL_API_KEY="%s"' % M),
    ('export MISTRAL_API_KEY=abc123', 'export MISTRAL_API_KEY=%s' % M),
    ('{"access_token": "abc"}', '{"access_token": "%s"}' % M),
    ("{'api_key': 'abc'}", "{'api_key': '%s'}" % M),
    ('client_secret=abc', 'client_secret=%s' % M),
    ('  proxy_password: hunter 2   # rotated monthly', '  proxy_password: %s   # rotated monthly' % M),
    ('  api_key: "s3cr3t"  # the old one', '  api_key: "%s"  # the old one' % M),
    ('DB_PASSWORD=hunter2', 'DB_PASSWORD=%s' % M),
    ('password=1234', 'password=%s' % M),
    ('HF_TOKEN=hf_abcdef', 'HF_TOKEN=%s' % M),
    ('passphrase: correct horse battery staple', 'passphrase: %s' % M),
    ('dsn: postgres://app:pw@db:5432/genesis', 'dsn: %s' % M),
    ('auth: s3cret', 'auth: %s' % M),
    ('basic_auth: user:pass', 'basic_auth: %s' % M),
    ('X-Amz-Signature: 9f86d081884c7d65', 'X-Amz-Signature: %s' % M),
    ('apiKey: abc', 'apiKey: %s' % M),
    ('--api-key=abc', '--api-key=%s' % M),
    ('models: {api_key: abc def, x: 1}', 'models: {api_key: %s, x: 1}' % M),
    ('- {password: x, y: 2}', '- {password: %s, y: 2}' % M),
    ('ERROR config dump {"api_key": "short-secret-1"} password=hunter2',
     'ERROR config dump {"api_key": "%s"} password=%s' % (M, M)),
    ('error="Unauthorized: Authorization: Bearer %s MISTRAL_API_KEY=%s"' % (KEY, KEY),
     'error="Unauthorized: Authorization: Bearer %s MISTRAL_API_KEY=%s"' % (M, M)),
    ('request_header=\\"api_key\\": \\"abc\\"', 'request_header=\\"api_key\\": %s' % M),
    # URLs: a password, a webhook's path, a token in the path or the query
    ('postgres://u:p@h', 'postgres://u:%s@h' % M),
    ('see https://user:pass@host/x for it', 'see https://user:%s@host/x for it' % M),
    ('DATABASE_URL=postgres://app:pw@db:5432/genesis', 'DATABASE_URL=postgres://app:%s@db:5432/genesis' % M),
    ('webhook_url: https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXXXXXXXXXX',
     'webhook_url: https://hooks.slack.com/%s' % M),
    ('notify https://discord.com/api/webhooks/1234/abcdEFGH-ijkl', 'notify https://discord.com/api/webhooks/%s' % M),
    ('https://example.com/hooks/deploy-42?ref=main', 'https://example.com/hooks/%s' % M),
    ('https://example.com/api?token=abc&x=1', 'https://example.com/api?token=%s&x=1' % M),
    ('https://example.com/notify?sig=abcd&x=1', 'https://example.com/notify?sig=%s&x=1' % M),
    ('https://example.com/trigger/key/dXyz12', 'https://example.com/trigger/key/%s' % M),
    ('https://example.com/r/9c8b7a6f5e4d3c2b1a0f9e8d', 'https://example.com/r/%s' % M),
    ('https://ghp1234567890abcdefghij@github.com/org/repo', 'https://%s@github.com/org/repo' % M),
    # block scalars under a secret key, every line of them
    ('private_key: |\n  -----BEGIN KEY-----\n  MIIEabc\nnext: 1', 'private_key: |\n  %s\n  %s\nnext: 1' % (M, M)),
    # a long run of letters and digits is a key
    ('key %s here' % KEY, 'key %s here' % M),
    ('rollout_percentage: 100    # token %s' % KEY, 'rollout_percentage: 100    # token %s' % M),
    # what is no secret stays
    ('model=%s' % FT, 'model=%s' % FT),
    ('model=%s' % LONG_FT, 'model=%s' % LONG_FT),
    ('x-ratelimit-remaining-tokens-minute: 0 max_tokens=100', 'x-ratelimit-remaining-tokens-minute: 0 max_tokens=100'),
    ('max_tokens: 16', 'max_tokens: 16'),
    ('token_limit: 100', 'token_limit: 100'),
    ('key_env: MISTRAL_API_KEY', 'key_env: MISTRAL_API_KEY'),
    ('api_key_file: /etc/genesis/key', 'api_key_file: /etc/genesis/key'),
    ('key_fingerprint: 1f2e3d4c', 'key_fingerprint: 1f2e3d4c'),
    ('use_finetuned: true', 'use_finetuned: true'),
    ('author: Jane Doe', 'author: Jane Doe'),
    ('authenticated: false', 'authenticated: false'),
    ('http://127.0.0.1:8080/health/qa_agent', 'http://127.0.0.1:8080/health/qa_agent'),
    ('http://localhost:9090/api/v1/query?query=sum+by+%28instance%29', 'http://localhost:9090/api/v1/query?query=sum+by+%28instance%29'),
    ('https://api.mistral.ai/v1/models/%s' % FT, 'https://api.mistral.ai/v1/models/%s' % FT),
    ('key=models.rollout_percentage, before=100, after=5', 'key=models.rollout_percentage, before=100, after=5'),
    ('key=MISTRAL_API_KEY, before=1f2e3d4c, after=9a8b7c6d', 'key=MISTRAL_API_KEY, before=1f2e3d4c, after=9a8b7c6d'),
    ('status=401 error="Unauthorized"', 'status=401 error="Unauthorized"'),
    ('{"after": "9a8b7c6d", "key": "models.rollout_percentage"}', '{"after": "9a8b7c6d", "key": "models.rollout_percentage"}'),
    ('{"max_tokens": "16"}', '{"max_tokens": "16"}'),
    ('', ''),
]


@pytest.mark.parametrize('text, expected', CASES)
def test_the_masking_rule(text, expected):
    assert mask(text) == expected
    assert mask(expected) == expected  # masking twice changes nothing more


def test_the_table_is_large_enough():
    assert len(CASES) >= 40 and sum(1 for text, expected in CASES if text == expected) >= 10


@pytest.mark.parametrize('secret, text', [
    (KEY, 'Bearer %s rejected, %s' % (KEY, KEY)),
    (KEY + '\n', "Illegal header value b'Bearer %s\\n'" % KEY),  # the escaped newline of a key with one
    ('pa ss!w\u00f6rd\n', 'json: {"k": "pa ss!w\\u00f6rd\\n"} repr: \'pa ss!w\\xf6rd\\n\' url: pa%20ss%21w%C3%B6rd%0A'),
    ('  padded  ', 'as given: "  padded  ", stripped: padded.'),
])
def test_known_secrets_are_masked_in_every_form(secret, text):
    masked = mask(text, [secret, '', None])
    assert secret.strip() not in masked and MASK in masked
    for form in ('pa ss', 'ss!w', 'ss%21'):
        assert form not in masked


def test_mask_leaves_what_is_not_text_alone():
    assert mask(None) is None and mask(42) == 42


def test_a_diff_stays_readable():
    """Two texts that differ in one value that is no secret still differ in exactly that line after masking."""
    text = '\n'.join([
        'models:',
        '  use_finetuned: true   # token %s' % KEY,
        '  rollout_percentage: 100',
        '  api_key: "%s"' % KEY,
        '  proxy_password: hunter 2',
        '  webhook: https://hooks.slack.com/services/T1/B2/XYZ',
        '  dsn: postgres://app:pw@db/genesis',
        '  agents:',
        '    qa_agent: {finetuned: %s, baseline: open-mistral-7b, use_finetuned: true}' % FT,
        '    support_agent:',
        '      use_finetuned: yes',
        '  private_key: |',
        '    MIIEabc',
        '  max_tokens: 16',
        '',
    ])
    changes = [('rollout_percentage: 100', 'rollout_percentage: 5'), ('use_finetuned: true   #', 'use_finetuned: false   #'),
               ('use_finetuned: true}', 'use_finetuned: false}'), ('use_finetuned: yes', 'use_finetuned: no'),
               ('max_tokens: 16', 'max_tokens: 32')]
    for old, new in changes:
        changed = text.replace(old, new, 1)
        old_line = next(line for line in text.splitlines() if old in line)
        diff = [line for line in difflib.ndiff(mask(text).splitlines(), mask(changed).splitlines()) if line[:1] in '+-']
        assert diff == ['- ' + mask(old_line), '+ ' + mask(old_line.replace(old, new))], diff
        for secret in (KEY, 'hunter', 'XYZ', ':pw@', 'MIIE'):
            assert secret not in mask(changed)


def test_mask_data_masks_strings_and_secret_fields():
    data = {'api_key': 'abc', 'password': 1234, 'max_tokens': 3, 'message': 'password=x', 'key': 'models.rollout_percentage',
            'authenticated': False, 'nested': [{'token': 'abc'}, 'Bearer %s' % KEY], 'fingerprint': '1f2e3d4c', 'none': None}
    assert mask_data(data) == {'api_key': M, 'password': M, 'max_tokens': 3, 'message': 'password=%s' % M,
                               'key': 'models.rollout_percentage', 'authenticated': False,
                               'nested': [{'token': M}, 'Bearer %s' % M], 'fingerprint': '1f2e3d4c', 'none': None}


def test_a_finding_is_masked():
    item = finding('http_error', 'critical', 'https://u:pw@h answered 500', 'qa_agent', body='api_key=abc', url='https://u:pw@h')
    assert item == {'code': 'http_error', 'severity': 'critical', 'agent': 'qa_agent', 'message': 'https://u:%s@h answered 500' % M,
                    'evidence': {'body': 'api_key=%s' % M, 'url': 'https://u:%s@h' % M}}
    assert 'pw' not in json.dumps(item)


def test_fingerprint_is_8_hex_of_sha256_and_holds_no_part_of_the_key():
    fp = fingerprint(KEY)
    assert fp == hashlib.sha256(KEY.encode()).hexdigest()[:8] and re.match(r'^[0-9a-f]{8}$', fp)
    assert all(KEY[i:i + 4] not in fp for i in range(len(KEY) - 3))


@pytest.mark.parametrize('line, expected', [
    ('MISTRAL_API_KEY=abc', ('MISTRAL_API_KEY', 'abc')),
    ('export MISTRAL_API_KEY="abc"', ('MISTRAL_API_KEY', 'abc')),
    ("  A = 'x y'  ", ('A', 'x y')),
    ('# MISTRAL_API_KEY=old', None),
    ('', None),
    ('no assignment', None),
])
def test_env_assignment(line, expected):
    assert env_assignment(line) == expected


# --- numbers: plain ASCII digits only -------------------------------------------------------------

@pytest.mark.parametrize('value, number', [(0, 0), (5, 5), (100, 100), ('5', 5), ('100', 100), ('007', 7)])
def test_percentage_accepted(value, number):
    assert parse_percentage(value) == number


@pytest.mark.parametrize('value, shown', [
    (150, '150'), (-1, '-1'), (101, '101'), (5.5, '5.5'), (5.0, '5.0'), ('5.5', "'5.5'"), ('abc', "'abc'"),
    ('', "''"), (True, 'True'), (None, 'None'), ([5], '[5]'), ('1e2', "'1e2'"), (' 5 ', "' 5 '"), ('+5', "'+5'"),
    ('-0', "'-0'"), ('5\n', "'5\\n'"), ('\u0663', "'\u0663'"), ('\uff15', "'\uff15'"), ('5_0', "'5_0'"),
    ('0x10', "'0x10'"), ('9' * 5000, "'" + '9' * 36 + '...')])
def test_percentage_refused(value, shown):
    with pytest.raises(ValueError) as exc:
        parse_percentage(value)
    assert str(exc.value) == 'percentage=%s is not allowed: give an integer from 0 to 100' % shown


@pytest.mark.parametrize('rule, value, number', [
    (seconds(), '0', 0), (seconds(), '2.5', 2.5), (seconds(), 2.5, 2.5), (seconds(above=True), '30', 30),
    (seconds(integer=True), 120, 120), (Number(0, 1), '0.05', 0.05), (Number(1, integer=True), '3', 3)])
def test_a_number_option_takes_plain_numbers(rule, value, number):
    assert rule.parse('x', value) == number


@pytest.mark.parametrize('rule, value, message', [
    (seconds(above=True), 0, 'timeout=0 is not allowed: give a number of seconds above 0, at most 1000000000'),
    (seconds(), -1, 'timeout=-1 is not allowed: give a number of seconds from 0 to 1000000000'),
    (seconds(), float('nan'), 'timeout=nan is not allowed'), (seconds(), float('inf'), 'timeout=inf is not allowed'),
    (seconds(), 'NaN', "timeout='NaN' is not allowed"), (seconds(), '1e3', "timeout='1e3' is not allowed"),
    (seconds(), ' 5', "timeout=' 5' is not allowed"), (seconds(), '5.', "timeout='5.' is not allowed"),
    (seconds(), 10 ** 12, 'timeout=1000000000000 is not allowed'), (seconds(integer=True), 2.5, 'timeout=2.5 is not allowed'),
    (Number(0, 1), '1.5', "timeout='1.5' is not allowed: give a number from 0 to 1"),
    (Number(1, integer=True), 0, 'timeout=0 is not allowed: give an integer from 1'),
    (seconds(), {'a': 1}, "timeout={'a': 1} is not allowed")])
def test_a_number_option_refuses_anything_else_naming_it(rule, value, message):
    with pytest.raises(ValueError) as exc:
        rule.parse('timeout', value)
    assert str(exc.value).startswith(message)


def test_check_numbers_converts_in_place_and_names_the_first_bad_one():
    params = dict(timeout='2.5', lines=None, lease='soon')
    assert check_numbers(params, dict(timeout=seconds(), lines=Number(1, integer=True))) is None
    assert params == dict(timeout=2.5, lines=None, lease='soon')
    assert check_numbers(params, dict(lease=seconds(above=True))) == (
        "lease='soon' is not allowed: give a number of seconds above 0, at most 1000000000")


# --- API keys ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('given', [KEY, KEY + '\n', '  %s\r\n' % KEY, '\t%s ' % KEY, '\u00a0%s\u2028' % KEY])
def test_a_key_is_used_without_the_whitespace_around_it(given):
    assert normalize_key(given) == KEY


@pytest.mark.parametrize('given, what', [
    (KEY[:9] + '\n' + KEY[9:], 'a control character'), (KEY + '\x1b[0m', 'a control character'),
    (KEY[:9] + ' ' + KEY[9:], 'whitespace inside it'), (KEY[:9] + '\u00e9' + KEY[9:], 'not ASCII'),
    (KEY[:9] + '\u200b' + KEY[9:], 'not ASCII'), ('', 'empty'), ('\n', 'empty'), (None, 'must be a string'),
    (['x'], 'must be a string')])
def test_a_key_that_cannot_be_one_is_refused_and_never_shown(given, what):
    with pytest.raises(ValueError) as exc:
        normalize_key(given, 'MISTRAL_API_KEY')
    assert what in str(exc.value) and str(exc.value).startswith('MISTRAL_API_KEY ')
    assert KEY[:9] not in str(exc.value) and KEY[9:] not in str(exc.value)


@pytest.mark.parametrize('line, assignment', [
    ('A=b=c', ('A', 'b=c')),  # the first = splits
    ('A=""', ('A', '')),  # an empty quoted value
    ('A="x', ('A', '"x')),  # an unclosed quote is part of the value
    ('A="', ('A', '"')),
    ("A='x'", ('A', 'x')),
    ('A="x\'', ('A', '"x\'')),  # quotes that do not match stay
])
def test_env_assignment_values_and_quotes(line, assignment):
    assert env_assignment(line) == assignment


@pytest.mark.parametrize('value, message', [
    ('ab\x7fcd', 'api_key holds a control character (a newline, a tab): give the key alone, printable ASCII as issued '
                 '(the key is not shown)'),
    ('ab\ncd', 'api_key holds a control character (a newline, a tab): give the key alone, printable ASCII as issued '
               '(the key is not shown)'),
    ('ab cd', 'api_key holds whitespace inside it: give the key alone, printable ASCII as issued (the key is not shown)'),
    ('ab\u00a0cd', 'api_key holds whitespace inside it: give the key alone, printable ASCII as issued (the key is not shown)'),
    ('ab\x80cd', 'api_key holds a character that is not ASCII: give the key alone, printable ASCII as issued (the key is '
                 'not shown)'),
    ('ab\u00e9cd', 'api_key holds a character that is not ASCII: give the key alone, printable ASCII as issued (the key is '
                   'not shown)'),
])
def test_a_key_that_cannot_be_one_is_refused_in_words(value, message):
    with pytest.raises(ValueError) as err:
        normalize_key(value)
    assert str(err.value) == message
    assert normalize_key(' ab~cd\n') == 'ab~cd'  # the last printable ASCII character is a key's


@pytest.mark.parametrize('rule, allowed', [
    (Number(), 'a number from 0'),
    (Number(5, above=True), 'a number above 5'),
    (Number(0, 10, integer=True, unit='hosts'), 'an integer of hosts from 0 to 10'),
    (Number(0, 10, above=True), 'a number above 0, at most 10'),
    (seconds(), 'a number of seconds from 0 to 1000000000'),
    (seconds(above=True, integer=True), 'an integer of seconds above 0, at most 1000000000'),
])
def test_what_a_number_rule_allows_in_words(rule, allowed):
    assert rule.allowed() == allowed


def test_a_number_as_text_up_to_thirty_characters():
    assert Number().parse('n', '1' * 30) == int('1' * 30)
    assert Number().parse('n', '2.5') == 2.5 and Number().parse('n', '25') == 25 and isinstance(Number().parse('n', '25'), int)
    with pytest.raises(ValueError) as err:
        Number().parse('n', '1' * 31)
    assert str(err.value) == "n=%s is not allowed: give a number from 0" % shown('1' * 31)


def test_a_value_as_a_message_shows_it_cut_at_forty_characters():
    assert shown('x' * 38) == repr('x' * 38) and len(shown('x' * 38)) == 40
    assert shown('x' * 39) == repr('x' * 39)[:37] + '...'
