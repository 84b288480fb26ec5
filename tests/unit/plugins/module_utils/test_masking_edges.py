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
