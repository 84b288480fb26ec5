# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's "Check Error Patterns" greps over the model-call log, as data.

Standard library only: this runs on Genesis hosts.

Choices the runbook leaves open, made here:
- Every line in the window is matched on its raw text, as ``grep -i`` would, whether
  or not it parses as the contract's format (other software's errors count too).
  Lines that do not parse are counted in ``unparsed_lines``; ``by_agent`` and
  ``by_status`` only come from lines that do, since they need the fields.
- Status codes match as whole numbers, not inside timestamps (``.401Z``,
  ``,429``), decimals or ids: ``grep 401`` would count one line in a thousand by
  its milliseconds alone.
- Bytes that are not UTF-8 are dropped from their line and counted; the rest of
  the line is still scanned.
- Files are read from the end in blocks, at most ``max_bytes`` each.
"""

from __future__ import annotations

import datetime
import glob
import os
import re

from ansible_collections.genesis.model_ops.plugins.module_utils._common import finding, mask, utc_text

CATEGORIES = ('errors', 'rate_limit', 'auth', 'model_not_found', 'server_error')

DEFAULT_GLOB = '/opt/genesis/logs/finetuning/*.log'
DEFAULT_LINES = 1000
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
SAMPLE_CHARS = 500
_BLOCK = 64 * 1024


def _code(pattern):
    # A status code as a whole number: not in a word, an id, a decimal or a "12:03:00,429" timestamp.
    return r'(?<![\w.])(?<!\d,)(?:%s)(?!\w|\.\d)' % pattern


_PATTERNS = {
    'errors': re.compile(r'error|exception|failed', re.I),
    'rate_limit': re.compile(r'rate[ _-]?limit|quota|' + _code('429'), re.I),
    'auth': re.compile(r'unauthorized|' + _code('401|403'), re.I),
    # The API's 400 says "Invalid model: <id>" in its message, "invalid_model" only in its type.
    'model_not_found': re.compile(r'not found|invalid[ _-]?model|' + _code('404'), re.I),
    'server_error': re.compile(_code(r'5\d\d')),
}

# A leading ISO-8601 timestamp: the contract's "2025-10-31T12:03:00.123Z", and the
# "2025-10-31 12:03:00,123" of Python's logging (no zone: taken as UTC).
_TIMESTAMP = re.compile(
    r'(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s?(Z|[+-]\d{2}:?\d{2})?(?=\s|$)')
# The contract's line: timestamp, level, then key=value fields (values may be quoted).
_CONTRACT_REST = re.compile(r'\s+[A-Za-z]+\s+\w+=')
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_timestamp(line):
    """Return the line's leading timestamp as an aware UTC datetime, or None."""
    match = _TIMESTAMP.match(line)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        stamp = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                                  int((fraction or '0')[:6].ljust(6, '0')), tzinfo=datetime.timezone.utc)
    except ValueError:  # 2025-13-45: looks like a timestamp, is not one
        return None
    if zone and zone != 'Z':
        offset = datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]))
        stamp = stamp - offset if zone[0] == '+' else stamp + offset
    return stamp


def parse_fields(line):
    """Return the key=value fields of a contract line, or None if the line is not one."""
    match = _TIMESTAMP.match(line)
    if not match or not _CONTRACT_REST.match(line, match.end()):
        return None
    fields = {}
    for key, value in _FIELD.findall(line[match.end():]):
        if value.startswith('"'):
            value = value[1:-1]
        fields[key] = value
    return fields


def format_timestamp(stamp):
    return stamp.isoformat(timespec='milliseconds').replace('+00:00', 'Z')


class TailReader:
    """The lines of a file, newest first, read in blocks from its end.

    Reads at most max_bytes; ``truncated`` tells when that stopped it before the
    start of the file (the oldest, partial line is then dropped).
    """

    def __init__(self, handle, size, max_bytes):
        self.handle = handle
        self.size = size
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.truncated = False

    def __iter__(self):
        pos = self.size
        partial = b''
        while pos > 0:
            if self.bytes_read >= self.max_bytes:
                self.truncated = True
                return
            step = min(_BLOCK, pos, self.max_bytes - self.bytes_read)
            pos -= step
            self.handle.seek(pos)
            block = self.handle.read(step)
            if not block:  # the file shrank under us (rotation): what was read is all there is
                break
            self.bytes_read += len(block)
            pieces = (block + partial).split(b'\n')
            partial = pieces[0]
            yield from reversed(pieces[1:])
        yield partial


class _Scan:
    """Tallies lines newest first; samples keep the newest `samples` lines of each category."""

    def __init__(self, samples):
        self.max_samples = samples
        self.lines_scanned = 0
        self.unparsed_lines = 0
        self.undecodable_bytes = 0
        self.counts = dict.fromkeys(CATEGORIES, 0)
        self.by_agent = {}
        self.by_status = {}
        self.samples = {category: [] for category in CATEGORIES}
        self.first_seen = dict.fromkeys(CATEGORIES)
        self.last_seen = dict.fromkeys(CATEGORIES)
        self.agent_seen = {}  # agent -> category -> [first, last]: how old each agent's lines are
        self.minutes = {}  # agent -> minute (Unix time // 60) -> [lines, error lines, fallback lines]: the charts' figures
        self.masked = {}  # agent and status values repeat on every line: mask each once

    def mask_field(self, value):
        if value not in self.masked:
            self.masked[value] = mask(value)
        return self.masked[value]

    def decode(self, raw):
        raw = raw.rstrip(b'\r')
        try:
            return raw.decode('utf-8')
        except UnicodeDecodeError:
            text = raw.decode('utf-8', 'ignore')
            self.undecodable_bytes += len(raw) - len(text.encode('utf-8'))
            return text

    def add(self, path, line, stamp):
        self.lines_scanned += 1
        fields = parse_fields(line)
        agent_counts = agent_seen = None
        if fields is None:
            self.unparsed_lines += 1
        else:
            if fields.get('agent'):
                agent = self.mask_field(fields['agent'])
                agent_counts = self.by_agent.setdefault(agent, dict(dict.fromkeys(CATEGORIES, 0), lines=0))
                agent_counts['lines'] += 1
                agent_seen = self.agent_seen.setdefault(agent, {})
            if fields.get('status'):
                status = self.mask_field(fields['status'])
                self.by_status[status] = self.by_status.get(status, 0) + 1
        minute = None
        if agent_counts is not None and stamp is not None:
            minute = self.minutes.setdefault(agent, {}).setdefault(int(stamp.timestamp() // 60), [0, 0, 0])
            minute[0] += 1
            if str(fields.get('fallback', '')).lower() == 'true':
                minute[2] += 1
        for category in CATEGORIES:
            if not _PATTERNS[category].search(line):
                continue
            if category == 'errors' and minute is not None:
                minute[1] += 1
            self.counts[category] += 1
            if agent_counts is not None:
                agent_counts[category] += 1
            if stamp is not None:
                if self.first_seen[category] is None or stamp < self.first_seen[category]:
                    self.first_seen[category] = stamp
                if self.last_seen[category] is None or stamp > self.last_seen[category]:
                    self.last_seen[category] = stamp
                if agent_seen is not None:
                    seen = agent_seen.setdefault(category, [stamp, stamp])
                    seen[:] = [min(seen[0], stamp), max(seen[1], stamp)]
            if len(self.samples[category]) < self.max_samples:
                self.samples[category].append({'file': path, 'line': mask(line)[:SAMPLE_CHARS]})


def _log_dir(path_glob):
    """The directory part of the glob before any wildcard: it must exist."""
    static = re.split(r'[*?[]', path_glob, maxsplit=1)[0]
    return os.path.dirname(static) or '.'


def scan(path_glob=DEFAULT_GLOB, lines=None, minutes=None, samples=3, max_bytes=DEFAULT_MAX_BYTES, now=None):
    """Scan the window of every file matching path_glob; return the module's result dict.

    lines and minutes are exclusive; neither means the last DEFAULT_LINES lines.
    now (aware datetime) is the end of a minutes window; tests pass it.
    """
    path_glob = os.path.expanduser(path_glob)
    findings = []
    if minutes is None:
        lines = DEFAULT_LINES if lines is None else lines
        window = {'lines': lines, 'minutes': None, 'since': None}
        cutoff = None
    else:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        cutoff = now - datetime.timedelta(minutes=minutes)
        window = {'lines': None, 'minutes': minutes, 'since': format_timestamp(cutoff)}

    paths = [path for path in glob.glob(path_glob) if os.path.isfile(path)]
    log_dir = _log_dir(path_glob)
    if not os.path.isdir(log_dir):
        findings.append(finding('log_dir_missing', 'warning', 'log directory %s does not exist' % log_dir,
                                path=log_dir, path_glob=path_glob))
    elif not paths:
        findings.append(finding('no_log_files', 'warning', 'no file matches %s' % path_glob, path_glob=path_glob))

    def mtime(path):
        try:
            return os.path.getmtime(path)
        except OSError:
            return 0

    tally = _Scan(samples)
    files = []
    # Newest file first, each read newest line first: the first samples met are the most recent.
    for path in sorted(paths, key=mtime, reverse=True):
        entry = {'path': path, 'lines_scanned': 0, 'bytes_read': 0}
        files.append(entry)
        try:
            with open(path, 'rb') as handle:
                info = os.fstat(handle.fileno())
                if cutoff is not None and info.st_mtime < cutoff.timestamp():
                    continue  # not written to within the window
                reader = TailReader(handle, info.st_size, max_bytes)
                for raw in reader:
                    line = tally.decode(raw)
                    if not line.strip():
                        continue
                    stamp = parse_timestamp(line)
                    if cutoff is not None and stamp is not None and stamp < cutoff:
                        break
                    tally.add(path, line, stamp)
                    entry['lines_scanned'] += 1
                    if lines is not None and entry['lines_scanned'] >= lines:
                        break
                else:
                    if reader.truncated:
                        findings.append(finding(
                            'window_truncated', 'info',
                            '%s: stopped after the last %d bytes before the window was complete' % (path, max_bytes),
                            file=path, bytes_read=reader.bytes_read, max_bytes=max_bytes))
                entry['bytes_read'] = reader.bytes_read
        except OSError as exc:
            findings.append(finding('unreadable_file', 'warning', 'cannot read %s: %s' % (path, exc.strerror or exc),
                                    file=path))

    files.sort(key=lambda item: item['path'])
    for category in CATEGORIES:
        tally.samples[category].reverse()  # oldest first, as in the file
    return {
        'changed': False,
        'path_glob': path_glob,
        'files': files,
        'window': window,
        'lines_scanned': tally.lines_scanned,
        'unparsed_lines': tally.unparsed_lines,
        'undecodable_bytes': tally.undecodable_bytes,
        'counts': tally.counts,
        'by_agent': tally.by_agent,
        'by_status': tally.by_status,
        'samples': tally.samples,
        'first_seen': {key: value and format_timestamp(value) for key, value in tally.first_seen.items()},
        'last_seen': {key: value and format_timestamp(value) for key, value in tally.last_seen.items()},
        'by_agent_seen': dict((agent, dict((category, {'first': format_timestamp(first), 'last': format_timestamp(last)})
                                           for category, (first, last) in seen.items()))
                              for agent, seen in tally.agent_seen.items()),
        'by_agent_minute': dict((agent, [[utc_text(at * 60)] + counts
                                         for at, counts in sorted(minutes.items())])
                                for agent, minutes in tally.minutes.items()),
        'findings': findings,
    }
