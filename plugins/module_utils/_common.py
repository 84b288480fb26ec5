# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every part of the collection shares: a finding, the one masking rule, a key's
fingerprint and its normal form, the env-file line parser, the one rule for numbers given as
options or variables (the rollout percentage among them).

Standard library only: every module that runs on a host ships this file.

The masking rule (``mask`` for text, ``mask_data`` for results) is the only one: module
results, diffs, findings, log samples and service output all go through it. It works line
by line, and a line's masking depends on that line alone (and on a block scalar it
continues), so two texts that differ in one value that is no secret still differ in exactly
that line after masking: a diff stays readable.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import re
import urllib.parse

MASK = '********'

# A name holds a secret when one of its words contains one of these ...
_SECRET_PARTS = ('key', 'token', 'secret', 'passw', 'passphrase', 'credential', 'pwd')
# ... or is one of these ...
_SECRET_WORDS = ('auth', 'authorization', 'dsn', 'sig', 'signature')
# ... unless its last word says it only names or identifies the secret (key_env: MISTRAL_API_KEY).
_REFERENCE_WORDS = ('env', 'file', 'path', 'url', 'name', 'id', 'fingerprint')
# A name that ends in a secret word (api_key, password) hides any value; one that only contains
# one (max_tokens, x-ratelimit-remaining-tokens-minute) hides all but numbers, booleans and null.
_SECRET_ENDINGS = ('key', 'token', 'secret', 'password', 'passwd', 'passphrase', 'credential', 'credentials', 'pwd')
# The collection's own records call the setting a change is about "key" (key: models.rollout_percentage).
_SETTING_NAME = re.compile(r'^(?:[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[a-z_][a-z0-9_]*(?:\.[a-z0-9_-]+)+)$')
# YAML 1.1's numbers, booleans and null, as PyYAML resolves a plain scalar.
_NOT_SECRET = re.compile(r'''^(?:[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
                              |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN
                              |yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF
                              |~|null|Null|NULL)$''', re.VERBOSE)

# name, its closing quote (\" inside an escaped string), the separator
_ASSIGNMENT = re.compile(r'''(?<![\w.-])([\w.-]+)(\\?["']?)[ \t]*([:=])[ \t]*''')
# Where a plain value ends: inside {...} or [...] at a comma or bracket; in a URL query at a &;
# elsewhere at a comment, the next name=value (or name: value) field, or a quote that closes the
# string the value stands in.
_FLOW_END = re.compile(r'[ \t]+#|[ \t]*[,}\]]|[ \t]*$')
_NEXT_FIELD = re.compile(r'''[ \t]+#|(?:[ \t]+|[ \t]*[,;&][ \t]*)[\w.-]+["']?(?:=|:[ \t])|[ \t]*$''')
_QUERY_END = re.compile(r'''[&#\s"'<>]|$''')
_SCHEMES = ('bearer', 'basic', 'token')
_SCHEME_VALUE = re.compile(r'\b(bearer|basic|token)([ \t]+)[A-Za-z0-9._~+/=-]+', re.IGNORECASE)
# A long run of letters and digits is a key; a fine-tuned model id is matched first and kept.
_LONG_RUN = re.compile(r'\bft:[\w.:-]+|(?<![A-Za-z0-9])[A-Za-z0-9]{32,}(?![A-Za-z0-9])')
_URL = re.compile(r'''\b([a-z][a-z0-9+.-]*://)(?:([^\s/?#@:"'<>\\]*)(:[^\s/?#@"'<>\\]*)?@)?([^\s/?#"'<>\\]*)([^\s"'<>\\]*)''',
                  re.IGNORECASE)
_TOKENISH = re.compile(r'^(?=[\w-]*[A-Za-z])(?=[\w-]*\d)[\w-]{20,}$')
_HOOK_WORDS = ('hook', 'hooks', 'webhook', 'webhooks')
_KEY_SEGMENTS = ('key', 'keys', 'token', 'tokens', 'secret', 'secrets')  # /key/<the key>


def finding(code, severity, message, agent=None, **evidence):
    """A finding, as every module returns them; its message and evidence pass the masking rule."""
    return {'code': code, 'severity': severity, 'agent': agent, 'message': mask(message), 'evidence': mask_data(evidence)}


def fingerprint(key):
    """Identify a key without revealing any part of it: 8 hex digits of its SHA-256."""
    return hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]


def env_assignment(line):
    """(name, value) of a KEY=VALUE env-file line (as systemd and a shell take it: an export prefix and
    outer quotes dropped), or None for a comment, a blank or any other line."""
    line = line.strip()
    if not line or line.startswith('#'):
        return None
    if line.startswith('export '):
        line = line[len('export '):].lstrip()
    name, sep, value = line.partition('=')
    if not sep:
        return None
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
        value = value[1:-1]
    return name.strip(), value


class Number:
    """What a number option or variable allows: plain ASCII digits (a point too unless integer),
    from low (or above it) to high.

    A real int, a finite float (unless integer) or a string of plain digits is a number; nothing
    else is: not a bool, not ' 5 ', '+5', '5\\n', '1e2', 'nan', nor digits of another script
    ('\u0663', which Python's int() would take as 3).
    """

    def __init__(self, low=0, high=None, integer=False, above=False, unit=''):
        self.low, self.high, self.integer, self.above, self.unit = low, high, integer, above, unit

    def allowed(self):
        kind = ('an integer' if self.integer else 'a number') + (' of %s' % self.unit if self.unit else '')
        if self.high is None:
            return '%s %s %s' % (kind, 'above' if self.above else 'from', self.low)
        if self.above:
            return '%s above %s, at most %s' % (kind, self.low, self.high)
        return '%s from %s to %s' % (kind, self.low, self.high)

    def parse(self, name, value):
        """value as an int (or a float), or ValueError naming name, the value and what is allowed."""
        number = None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and not self.integer and math.isfinite(value):
            number = value
        elif isinstance(value, str) and len(value) <= 30 and (_PLAIN_INTEGER if self.integer else _PLAIN_NUMBER).match(value):
            number = float(value) if '.' in value else int(value)
        if (number is None or number < self.low or (self.above and number == self.low)
                or (self.high is not None and number > self.high)):
            raise ValueError('%s=%s is not allowed: give %s' % (name, shown(value), self.allowed()))
        return number


_PLAIN_INTEGER = re.compile(r'[0-9]+\Z')
_PLAIN_NUMBER = re.compile(r'[0-9]+(?:\.[0-9]+)?\Z')
PERCENTAGE = Number(0, 100, integer=True)
# What a timeout, a wait or a lease may be: past 10**9 seconds (31 years) the clocks and sockets
# that take it overflow.
MAX_SECONDS = 10 ** 9


def seconds(above=False, integer=False):
    """The rule of an option that is a number of seconds: from 0 (or above it)."""
    return Number(0, MAX_SECONDS, integer=integer, above=above, unit='seconds')


def shown(value, limit=40):
    """value as a message shows it: repr (quotes, escapes: ' 5 ' and '5\\n' stay visible), cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def check_numbers(params, rules):
    """Turn the number options of params named in rules ({name: Number}) into numbers, in place;
    an option left out (None) stays None. Returns the message for the first bad one, or None."""
    for name, rule in rules.items():
        if params.get(name) is not None:
            try:
                params[name] = rule.parse(name, params[name])
            except ValueError as exc:
                return str(exc)
    return None


def parse_percentage(value, name='percentage'):
    """value as an int 0..100 (a real int, or plain ASCII digits). Raises ValueError naming the value."""
    return PERCENTAGE.parse(name, value)


def normalize_key(value, name='api_key'):
    """An API key as given (a vault value or an environment variable often ends in a newline),
    without its surrounding whitespace. Raises ValueError for a key that cannot be one (empty, or
    holding a space, a control or non-ASCII character); the message never shows the key."""
    if not isinstance(value, str):
        raise ValueError('%s must be a string (the key is not shown)' % name)
    key = value.strip()
    if not key:
        raise ValueError('%s is empty: give the key' % name)
    for char in key:
        if not ' ' < char < '\x7f':
            what = ('a control character (a newline, a tab)' if ord(char) < 32 or ord(char) == 127 else
                    'whitespace inside it' if char.isspace() else 'a character that is not ASCII')
            raise ValueError('%s holds %s: give the key alone, printable ASCII as issued (the key is not shown)' % (name, what))
    return key


# --- masking ------------------------------------------------------------------------------------

def _words(name):
    return [word.lower() for word in re.split(r'[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])', name) if word]


def _secrecy(name):
    """'any' when a value under name is a secret whatever it is, 'text' when only a value that is
    not a number, boolean or null is, None when name holds no secret."""
    words = _words(name)
    if not words or words[-1] in _REFERENCE_WORDS:
        return None
    if words[-1].endswith(_SECRET_ENDINGS) or words[-1] in _SECRET_WORDS:
        return 'any'
    if any(part in word for word in words for part in _SECRET_PARTS) or set(words) & set(_SECRET_WORDS):
        return 'text'
    return None


def _hides(name, value):
    """Whether value, the text of a plain scalar under name, is a secret."""
    secrecy = _secrecy(name)
    if secrecy is None or not value or value == MASK:
        return False
    if _words(name) == ['key'] and _SETTING_NAME.match(value):
        return False
    first = value.split(None, 1)
    if len(first) == 2 and first[0].lower() in _SCHEMES:
        return False  # "Authorization: Bearer <token>": the scheme rule masks the token and keeps the scheme
    return secrecy == 'any' or not _NOT_SECRET.match(value)


def mask(text, secrets=()):
    """text with what looks secret replaced by MASK (see the module docstring), and every one of
    secrets too, as it is, stripped, or escaped the way a repr, JSON or a URL writes it."""
    if not isinstance(text, str):
        return text
    text = _mask_known(text, secrets)
    lines, block_indent = [], None
    for line in text.splitlines(True):
        body = line.rstrip('\r\n')
        indent = len(body) - len(body.lstrip(' '))
        if block_indent is not None and body.strip() and indent <= block_indent:
            block_indent = None
        if block_indent is not None:
            body = body[:indent] + MASK if body.strip() else body
        else:
            body = _SCHEME_VALUE.sub(lambda m: m.group(1) + m.group(2) + MASK, _URL.sub(_mask_url, body))
            body, opens_block = _mask_assignments(body)
            body = _LONG_RUN.sub(lambda m: m.group(0) if m.group(0).startswith('ft:') else MASK, body)
            if opens_block:
                block_indent = indent
        lines.append(body + line[len(line.rstrip('\r\n')):])
    return ''.join(lines)


def mask_data(value, name=None):
    """A result (dicts, lists, strings) with every string masked, and the value of a field whose
    name holds a secret (api_key, password) replaced by MASK."""
    if isinstance(value, dict):
        return dict((key, mask_data(item, key)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [mask_data(item, name) for item in value]
    if isinstance(name, str) and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        if _hides(name, str(value)):
            return MASK
    return mask(value) if isinstance(value, str) else value


def _mask_known(text, secrets):
    forms = set()
    for secret in secrets:
        if isinstance(secret, str) and secret.strip():
            for form in (secret, secret.strip()):
                forms.update((form, form.encode('unicode_escape').decode('ascii'), json.dumps(form)[1:-1],
                              urllib.parse.quote(form, safe=''), urllib.parse.quote_plus(form, safe='')))
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


def _mask_url(match):
    """A URL with its password, a webhook's path and token-looking path or query parts masked."""
    scheme, user, password, host, rest = match.groups()
    if password is not None:
        user = '%s:%s' % (user, MASK)
    elif user is not None and _TOKENISH.match(user):
        user = MASK
    out = scheme + ('%s@' % user if user is not None else '') + host
    if rest and any(label.startswith(_HOOK_WORDS) for label in host.lower().split('.')):
        return out + '/' + MASK
    path, query = (rest.split('?', 1) + [None])[:2]
    segments = path.split('/')
    for i, segment in enumerate(segments):
        if segment.lower() in _HOOK_WORDS and i + 1 < len(segments):
            return out + '/'.join(segments[:i + 1]) + '/' + MASK
        if _TOKENISH.match(segment) or (i and segments[i - 1].lower() in _KEY_SEGMENTS):
            segments[i] = MASK
    out += '/'.join(segments)
    if query is not None:
        out += '?' + re.sub(r'(?<==)[\w-]+', lambda m: MASK if _TOKENISH.match(m.group(0)) else m.group(0), query)
    return out


def _mask_assignments(line):
    """(line with the values of secret names masked, whether such a name opens a block scalar)."""
    pieces, done, opens_block = [], 0, False
    for match in _ASSIGNMENT.finditer(line):
        start = match.end()
        if match.start() < done or start == len(line) or _secrecy(match.group(1)) is None:
            continue
        first, separator = line[start], match.group(3)
        if separator == ':' and first in '|>':
            opens_block = True
            continue
        if first in '{[' or (first == '#' and start > match.start(3) + 1):
            continue  # a collection (its entries are looked at one by one) or a comment
        if first in '"\'':
            end, masked = _quoted_end(line, start), first + MASK + first
            if not _hides(match.group(1), line[start + 1:end].rstrip(first)):
                continue
        else:
            end, masked = _plain_end(line, match), MASK
            if not _hides(match.group(1), line[start:end]):
                continue
        pieces += [line[done:start], masked]
        done = end
    return ''.join(pieces) + line[done:], opens_block


def _plain_end(line, match):
    """Where the plain value after match ends (see the patterns above for the contexts)."""
    start, before = match.end(), line[:match.start()]
    if sum(before.count(c) for c in '{[') > sum(before.count(c) for c in '}]'):
        return _FLOW_END.search(line, start).start()
    if before.endswith(('?', '&')):
        return _QUERY_END.search(line, start).start()
    end = _NEXT_FIELD.search(line, start).start()
    if len(re.findall(r'(?<!\\)"', before)) % 2:  # inside a quoted string: it ends the value
        close = re.compile(r'(?<!\\)"').search(line, start)
        if close:
            end = min(end, close.start())
    return end


def _quoted_end(line, start):
    """Index just past the quoted scalar opening at start (the line's end when it goes on)."""
    quote, i = line[start], start + 1
    while i < len(line):
        if quote == '"' and line[i] == '\\':
            i += 2
        elif line[i] == quote and quote == "'" and line[i + 1:i + 2] == "'":
            i += 2
        elif line[i] == quote:
            return i + 1
        else:
            i += 1
    return len(line)


def utc_text(seconds):
    """A Unix time as the reports write times: ISO-8601 in UTC, to the millisecond, with a Z."""
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z')
