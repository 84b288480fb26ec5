# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a masked value ends, in the shapes secrets travel in: a YAML or JSON flow mapping among other keys, a URL's
query among other parameters, quoted scalars with escapes and doubled quotes, a value inside a quoted message.
The key's neighbours stay readable; the secret goes, whole. And the one way reports write a Unix time."""

from __future__ import annotations

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils._common import _quoted_end, mask, utc_text


@pytest.mark.parametrize('text,masked', [
    ('{user: bob, password: s3cretvalue, x: 1}', '{user: bob, password: ********, x: 1}'),
    ('[a, {token: abc123def}, b]', '[a, {token: ********}, b]'),
    ('{"user": "bob", "password": "s3cr3t", "x": 1}', '{"user": "bob", "password": "********", "x": 1}'),
    ('https://x/api?a=1&token=abcdef123456&b=2', 'https://x/api?a=1&token=********&b=2'),
    ('https://x/api?user=bob&token=abcdef123456', 'https://x/api?user=bob&token=********'),
    ('msg: "a, token=abc123def456 and" z', 'msg: "a, token=********" z'),
    ('password: "se\\"cr3t" user: bob', 'password: "********" user: bob'),
    ('password: "a\\\\" user: bob', 'password: "********" user: bob'),
    ("password: 'it''s a secret' user: bob", "password: '********' user: bob"),
    ("password: 'a\\' user: bob", "password: '********' user: bob"),
    ('password: "unclosed value here', 'password: "********"'),
])
def test_a_secret_is_masked_to_its_end_and_no_further(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize('line,start,end', [
    ('k: "a\\"b" z', 3, 9),      # an escaped quote does not close a double-quoted scalar
    ("k: 'it''s' z", 3, 10),     # a doubled quote does not close a single-quoted one
    ("k: 'a\\' z", 3, 7),        # a backslash escapes nothing in single quotes
    ('k: "a\'\'b" z', 3, 9),     # doubled single quotes mean nothing in double quotes
    ("k: 'abc", 3, 7),           # unclosed: the line's end
])
def test_where_a_quoted_scalar_ends(line, start, end):
    assert _quoted_end(line, start) == end


@pytest.mark.parametrize('seconds,text', [
    (0, '1970-01-01T00:00:00.000Z'), (1.5, '1970-01-01T00:00:01.500Z'), (1796000000.1234, '2026-11-30T00:53:20.123Z')])
def test_a_unix_time_is_written_in_utc_to_the_millisecond(seconds, text):
    assert utc_text(seconds) == text


@pytest.mark.parametrize('text,masked', [
    # a token-looking query value under a name that says nothing is a token too; a short or wordy one is kept
    ('https://x.example.com/a?sig=a1b2c3d4e5f6a7b8c9d0e1f2&page=2', 'https://x.example.com/a?sig=********&page=2'),
    ('https://x.example.com/a?q=hello&page=2', 'https://x.example.com/a?q=hello&page=2'),
    # a webhook's path goes after its hook word; a hook word that ends the path is only a word
    ('url https://example.com/webhook/abc/def/ghi', 'url https://example.com/webhook/********'),
    ('url https://example.com/api/webhook', 'url https://example.com/api/webhook'),
])
def test_url_parts_that_carry_a_token(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize('text,secret,masked', [
    ('x azzb y', ['zz', 'azzb'], 'x ******** y'),  # the longest form first: no piece of a secret is left around a mask
    ('say p\\"q ok', ['p"q'], 'say ******** ok'),  # as JSON writes it
    ('say p\\u00e9q ok', ['p\u00e9q'], 'say ******** ok'),  # as Python escapes it
    ('v=ab%2Fcd ok', ['ab/cd'], 'v=******** ok'),  # URL-quoted, the slash too
    ('v=ab+cd%2Fe ok', ['ab cd/e'], 'v=******** ok'),  # as a form field
    ('v=padded; w= padded ;', [' padded '], 'v=********; w=********;'),  # with and without its blanks
])
def test_a_known_secret_in_every_form_it_travels_in(text, secret, masked):
    assert mask(text, secrets=secret) == masked
