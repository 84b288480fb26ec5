# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Surgical edits of one value in a Genesis ``production.yaml``.

Shared by the ``rollout_set`` and ``finetuned_toggle`` modules. Everything outside the
``models:`` section belongs to the site (host contract, section 3), so an edit rewrites
only the characters of the one scalar that changes (or inserts one ``key: value`` into a
mapping that lacks it); every comment, quote, anchor and key order stays byte for byte.
The result is parsed again and must differ from the old document at that one path only,
or nothing is written.

Public API:

- ``edit_config(path, keys, value, ...)`` reads, plans, and (unless check mode) writes
  under a lock, atomically; returns a ``ConfigChange``.
- ``plan_edit(text, keys, value)`` the pure text transformation, no I/O.
- ``ConfigChange`` what was (or would be) changed: path, key, before, after, backup_file,
  the texts for a diff; ``result()`` gives the module's return values. It is also the
  record an audit log can keep.
- ``run_edit(module, keys, value)`` the whole of a config editor module after its own
  option checks; ``CONFIG_ARGUMENT_SPEC`` the options every config editor takes.
- ``parse_percentage(value)`` the rollout percentage as an int 0..100.
- ``mask_secrets(text)`` text with secret-looking values masked, as the diff texts are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import math
import os
import re
import stat
import tempfile
import time

from ansible.module_utils.basic import missing_required_lib

try:
    import yaml
    SafeLoader = yaml.SafeLoader
    HAS_YAML = True
except ImportError:
    SafeLoader = object  # lets this file import; run_edit fails clearly before any use
    HAS_YAML = False

DEFAULT_PATH = '/opt/genesis/infrastructure/config/production.yaml'

# The options of every config editor (each module documents them).
CONFIG_ARGUMENT_SPEC = dict(
    path=dict(type='path', default=DEFAULT_PATH, aliases=['dest']),
    backup=dict(type='bool', default=False),
    lock_timeout=dict(type='float', default=30),
    audit_log=dict(type='path'),
    audit_context=dict(type='dict', default={}),
)
# What a caller's audit_context may not override: the facts of the change itself.
AUDIT_FIELDS = ('at', 'file', 'key', 'before', 'after', 'backup')

# A rewritten bool keeps the old spelling family and case (True -> False, yes -> no, ON -> OFF).
_BOOL_WORDS = (('true', 'false'), ('yes', 'no'), ('on', 'off'))


class ConfigError(Exception):
    """An expected failure (bad input, bad file, lock timeout): the message is for the operator."""


@dataclasses.dataclass
class ConfigChange:
    """What an edit did, or would do in check mode."""

    path: str                 # the path as given (a symlink stays a symlink; its target is edited)
    key: str                  # dotted path of the edited value, e.g. models.rollout_percentage
    before: object            # old value, None when the key was absent
    after: object             # new value as the file now parses
    changed: bool
    before_text: str
    after_text: str
    backup_file: str | None = None
    audit: dict | None = None  # the audit log line written for this change

    def result(self, diff=False):
        """The module's return values."""
        result = dict(changed=self.changed, path=self.path, key=self.key, before=self.before, after=self.after)
        if self.backup_file:
            result['backup_file'] = self.backup_file
        if self.audit:
            result['audit'] = self.audit
        if diff:
            # The whole file leaves the host in a diff (output, logs, AWX): mask what looks secret.
            result['diff'] = dict(before=mask_secrets(self.before_text), after=mask_secrets(self.after_text),
                                  before_header=self.path, after_header=self.path)
        return result


def parse_percentage(value):
    """Return value as an int 0..100. Strings of digits are fine; 5.5, True or 'abc' are not."""
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.match(r'^\s*[+-]?\d+\s*$', value):
        number = int(value)
    if number is None or not 0 <= number <= 100:
        raise ConfigError('percentage must be an integer from 0 to 100, got %r' % (value,))
    return number


def run_edit(module, keys, value):
    """Set keys to value in the file of module.params and exit the module with the result."""
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib('PyYAML'))
    params = module.params
    check_edit_options(module)
    try:
        change = edit_config(params['path'], keys, value, check_mode=module.check_mode,
                             backup=params['backup'], lock_timeout=params['lock_timeout'],
                             audit_log=params['audit_log'], audit_context=params['audit_context'])
    except ConfigError as exc:
        module.fail_json(msg=str(exc), path=params['path'], key='.'.join(keys))
    else:
        if change.changed and isinstance(change.after, str):
            # The old value was quoted and keeps its quotes: the service must read a string.
            module.warn('%s was quoted in %s, so its new value is the string %r' % (change.key, change.path, change.after))
        module.exit_json(**change.result(diff=module._diff))


def check_edit_options(module):
    """Fail the module on a bad lock_timeout or audit_context (the options every editing module shares)."""
    params = module.params
    if params['lock_timeout'] < 0:
        module.fail_json(msg='lock_timeout must be 0 or more seconds, got %s' % params['lock_timeout'])
    bad = sorted(set(params['audit_context'] or {}) & set(AUDIT_FIELDS))
    if bad:
        module.fail_json(msg='audit_context may not set %s: those record the change itself' % ', '.join(bad))


def edit_config(path, keys, value, check_mode=False, backup=False, lock_timeout=30.0, audit_log=None, audit_context=None):
    """Set the value at keys (a list of mapping keys) in the YAML file at path.

    Returns a ConfigChange; raises ConfigError, having changed nothing, when the edit
    cannot be made. Check mode and a run that changes nothing take no lock and write
    nothing, not even the lock file. With audit_log, a change appends one JSON line there
    (audit_context's keys, then at, file, key, before, after, backup), under the file's lock.
    """
    target = os.path.realpath(path)  # edit the file a symlink points to and keep the link
    change = _plan_file(path, target, keys, value)[2]
    if not change.changed or check_mode:
        return change
    with _locked(path, target, lock_timeout):
        # Plan again under the lock: another run may have written the file since.
        st, data, change = _plan_file(path, target, keys, value)
        if change.changed:
            try:
                if backup:
                    change.backup_file = _backup(target, data, st)
                _write_atomically(target, change.after_text.encode('utf-8'), st)
            except OSError as exc:
                raise ConfigError('cannot write %s: %s' % (path, exc.strerror)) from exc
            if audit_log:
                change.audit = dict(audit_context or {}, at=_utc_now(), file=path, key=change.key, before=change.before,
                                    after=change.after, backup=change.backup_file)
                try:
                    append_audit(audit_log, change.audit)
                except OSError as exc:
                    raise ConfigError('%s changed (%s: %r -> %r) but the audit log %s could not be written: %s' % (
                        path, change.key, change.before, change.after, audit_log, exc.strerror)) from exc
    return change


def _utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def append_audit(path, entry):
    """Append entry as one JSON line to the audit log at path (made 0640 if new), whole or not at all."""
    line = (json.dumps(entry, sort_keys=True, default=str) + '\n').encode('utf-8')
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # other files' edits append to the same log
        os.write(fd, line)  # one write of an O_APPEND file: never interleaved with another line
        os.fsync(fd)
    finally:
        os.close(fd)


def plan_edit(text, keys, value):
    """Return (new_text, before, after) for setting keys to value (an int or a bool) in text.

    new_text is text itself when the value is already there. Raises ConfigError when the
    text is not a YAML mapping, a key on the way is missing or not a mapping, the target is
    not a plain or quoted scalar, it is shared through an anchor, or the re-parsed result
    differs from the old document anywhere but at keys.
    """
    keys = tuple(keys)
    dotted = '.'.join(keys)
    old_doc = _load(text, 'the file is not valid YAML')
    root, tokens = _compose(text)
    shared = _shared_nodes(root)
    parent = _walk(root, keys[:-1], shared)
    node = _lookup(parent, keys[-1])

    if node is None:
        before = None
        new_text, intended = _insert(text, tokens, parent, keys[-1], _render(value)[0]), value
    else:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError('%s is %s, not a single value: refusing to replace it' % (dotted, _kind(node)))
        if id(node) in shared:
            raise ConfigError('%s is shared through a YAML anchor and alias (line %d): changing it would change '
                              'every alias too; edit it by hand' % (dotted, node.start_mark.line + 1))
        if node.style in ('|', '>'):
            raise ConfigError('%s is a block scalar (%s): edit it by hand' % (dotted, node.style))
        start, end = _scalar_span(tokens, node)
        if start == end:
            raise ConfigError('%s has no value: add one by hand' % dotted)
        before = _get(old_doc, keys)
        new_token, intended = _render(value, text[start:end], node.style)
        if _same(before, intended):
            return text, before, before
        new_text = text[:start] + new_token + text[end:]

    new_doc = _load(new_text, 'the edit of %s would make the file invalid YAML; nothing written' % dotted)
    differences = _differences(old_doc, new_doc)
    if differences != [keys]:
        raise ConfigError('the edit of %s would change %s; nothing written' % (
            dotted, ', '.join('.'.join(str(k) for k in d) for d in differences) or 'nothing'))
    after = _get(new_doc, keys)
    if not _same(after, intended):
        raise ConfigError('the edit of %s would give %r, not %r; nothing written' % (dotted, after, intended))
    return new_text, before, after


# --- reading YAML ---------------------------------------------------------------------------

class _TokenLoader(SafeLoader):
    """A SafeLoader that keeps the tokens it reads: their marks give the exact text of each
    scalar (without its anchor or tag) and where a mapping's last entry ends."""

    def __init__(self, stream):
        super().__init__(stream)
        self.read_tokens = []  # not "tokens": that is the scanner's own queue

    def get_token(self):
        token = super().get_token()
        self.read_tokens.append(token)
        return token


def _load(text, message):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError('%s: %s' % (message, _yaml_error(exc))) from exc


def _yaml_error(exc):
    """PyYAML's message without the lines of the file it quotes: a quoted line may hold a secret."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc)
    parts = []
    for text, mark in ((exc.context, exc.context_mark), (exc.problem, exc.problem_mark)):
        if text:
            parts.append('%s (line %d, column %d)' % (text, mark.line + 1, mark.column + 1) if mark else text)
    return ': '.join(parts)


def _compose(text):
    loader = _TokenLoader(text)
    try:
        return loader.get_single_node(), loader.read_tokens
    finally:
        loader.dispose()


def _shared_nodes(root):
    """ids of the nodes reached more than once, i.e. anchored and aliased (merge keys too)."""
    seen, shared, todo = set(), set(), [root]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo.extend(item for pair in node.value for item in pair)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    return shared


def _walk(root, keys, shared):
    """The mapping node at keys, checked to be a mapping that is not shared through an anchor."""
    node = root
    for depth, key in enumerate(keys):
        _check_mapping(node, keys[:depth], shared)
        child = _lookup(node, key)
        if child is None:
            where = '.'.join(keys[:depth])
            present = [k.value for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value != '<<']
            raise ConfigError('no %r %s (there: %s)' % (
                key, 'under ' + where if where else 'at the top level', ', '.join(present) or 'nothing'))
        node = child
    _check_mapping(node, keys, shared)
    return node


def _check_mapping(node, keys, shared):
    where = '.'.join(keys)
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError('%s is %s, not a mapping' % (where or 'the document', _kind(node)))
    if id(node) in shared:
        raise ConfigError('%s is shared through a YAML anchor and alias (line %d): changing it would change '
                          'every alias too; edit it by hand' % (where, node.start_mark.line + 1))


def _lookup(mapping, key):
    """The value node of key in a mapping node; the last one wins, as when loading."""
    found = None
    for key_node, value_node in mapping.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            found = value_node
    return found


def _kind(node):
    if node is None:
        return 'empty'
    if isinstance(node, yaml.MappingNode):
        return 'a mapping'
    if isinstance(node, yaml.SequenceNode):
        return 'a list'
    if node.tag == 'tag:yaml.org,2002:null':
        return 'null'
    return 'the value %r' % node.value


def _get(doc, keys):
    for key in keys:
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc


def _same(old, new):
    # True == 1 in Python, but a bool is not an int in a config file.
    return type(old) is type(new) and old == new


def _differences(old, new, where=()):
    """Paths (key tuples) at which two loaded documents differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in list(old) + [k for k in new if k not in old]:
            if key not in old or key not in new:
                found.append(where + (key,))
            else:
                found.extend(_differences(old[key], new[key], where + (key,)))
        return found
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (o, n) in enumerate(zip(old, new)) for d in _differences(o, n, where + (i,))]
    nan = isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new)
    return [] if nan or _same(old, new) else [where]


# --- changing the text ----------------------------------------------------------------------

def _scalar_span(tokens, node):
    """Start and end of the scalar's own text: the node's span also covers its anchor and tag."""
    for token in tokens:
        if isinstance(token, yaml.ScalarToken) and token.end_mark.index == node.end_mark.index:
            return token.start_mark.index, token.end_mark.index
    return node.end_mark.index, node.end_mark.index  # an empty scalar has no token


def _render(value, old=None, style=None):
    """(text, value it loads as) for value in place of the old scalar text: same quotes, same bool spelling."""
    if isinstance(value, bool):
        word = 'true' if value else 'false'
        bare = (old or '').strip('\'"')
        for pair in _BOOL_WORDS:
            if bare.lower() in pair:
                word = pair[0] if value else pair[1]
                if bare.isupper():
                    word = word.upper()
                elif bare[0].isupper():
                    word = word.capitalize()
    else:
        word = str(value)
    if style in ('"', "'"):
        return style + word + style, word
    return word, value


def _insert(text, tokens, mapping, key, value_text):
    """text with 'key: value_text' added to mapping, in the mapping's own style."""
    entry = '%s: %s' % (key, value_text)
    if mapping.flow_style:
        # {a: 1, b: 2} -> {a: 1, b: 2, key: value}: after the last entry, before spaces and the brace.
        pos = mapping.end_mark.index - 1
        if text[pos] != '}':
            raise ConfigError('cannot find the closing brace of the mapping at line %d' % (mapping.start_mark.line + 1))
        while text[pos - 1] in ' \t':
            pos -= 1
        separator = {'{': '', ',': ' '}.get(text[pos - 1], ', ')
        return text[:pos] + separator + entry + text[pos:]
    # Block style: a new line at the keys' indentation, after the line of the mapping's last token
    # (a nested mapping's end mark lies past trailing comments, so the last token is what counts).
    end = mapping.end_mark.index
    last = [t for t in tokens if t.start_mark.index < end and not isinstance(t, yaml.BlockEndToken)][-1]
    pos = last.end_mark.index
    newline = '\r\n' if '\r\n' in text else '\n'
    line = ' ' * mapping.value[0][0].start_mark.column + entry + newline
    if text[pos - 1] != '\n':  # a block scalar ends at a line start already
        pos = text.find('\n', pos) + 1
        if pos == 0:
            return text + newline + line[:-len(newline)]
    return text[:pos] + line + text[pos:]


# --- masking secrets -----------------------------------------------------------------------

MASK = '********'
# A key whose name contains one of these words holds a secret ...
_SECRET_KEY = re.compile(r'(?<![\w.-])[\w.-]*(?:key|token|secret|passw(?:or)?d|credential)[\w.-]*["\']?[ \t]*(?::(?=[ \t])|=)[ \t]*',
                         re.IGNORECASE)
# ... unless its last word says it only names where the secret is (key_env: MISTRAL_API_KEY).
_REFERENCE_WORDS = ('env', 'file', 'path', 'url', 'name', 'id')
_BEARER = re.compile(r'(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]+', re.IGNORECASE)
# A long run of letters and digits is a key; a fine-tuned model id is matched first and kept.
_LONG_RUN = re.compile(r'\bft:[\w.:-]+|(?<![A-Za-z0-9])[A-Za-z0-9]{32,}(?![A-Za-z0-9])')
_PLAIN_END = re.compile(r'[ \t]+#|[ \t]*$')
_FLOW_PLAIN_END = re.compile(r'[ \t]+#|[ \t]*[,}\]]|[ \t]*$')


def mask_secrets(text):
    """text with secret-looking values replaced by MASK, line by line, so that two texts that
    differ in one non-secret scalar still differ in exactly that line after masking.

    Masked: the value of a key whose name contains key, token, secret, password or credential
    (not a number, bool or null, nor a key named ..._env, _file, _path, _url, _name, _id), with the
    lines of a block scalar (key: |); the token after "Bearer"; runs of 32 or more letters and
    digits that are not part of an ft: model id.
    """
    lines, block_indent = [], None
    for line in text.splitlines(True):
        body = line.rstrip('\r\n')
        indent = len(body) - len(body.lstrip(' '))
        if block_indent is not None and body.strip() and indent <= block_indent:
            block_indent = None
        if block_indent is not None:
            body = body[:indent] + MASK if body.strip() else body
        else:
            body, is_block = _mask_key_values(body)
            if is_block:
                block_indent = indent
        body = _BEARER.sub(lambda m: m.group(1) + MASK, body)
        body = _LONG_RUN.sub(lambda m: m.group(0) if m.group(0).startswith('ft:') else MASK, body)
        lines.append(body + line[len(line.rstrip('\r\n')):])
    return ''.join(lines)


def _mask_key_values(line):
    """(line with the values of secret keys masked, whether such a key opens a block scalar)."""
    pieces, done, is_block = [], 0, False
    for match in _SECRET_KEY.finditer(line):
        start = match.end()
        name = re.match(r'[\w.-]*', match.group(0)).group(0)
        words = re.split(r'[_.-]+|(?<=[a-z])(?=[A-Z])', name)
        if match.start() < done or start == len(line) or words[-1].lower() in _REFERENCE_WORDS:
            continue
        first = line[start]
        if first in '|>':
            is_block = True
            continue
        if first in '{[#':  # a collection (its entries are looked at one by one) or a comment
            continue
        if first in '"\'':
            end = _quoted_end(line, start)
            masked = first + MASK + first
        else:
            # A plain scalar ends at a comment; inside {...} or [...] also at a comma or bracket.
            flow = sum(line.count(c, 0, start) for c in '{[') > sum(line.count(c, 0, start) for c in '}]')
            end = (_FLOW_PLAIN_END if flow else _PLAIN_END).search(line, start).start()
            tag = yaml.resolver.Resolver().resolve(yaml.ScalarNode, line[start:end], (True, False))
            if tag.rsplit(':', 1)[-1] in ('int', 'float', 'bool', 'null'):  # max_tokens: 16 is no secret
                continue
            masked = MASK
        pieces += [line[done:start], masked]
        done = end
    return ''.join(pieces) + line[done:], is_block


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


# --- files ----------------------------------------------------------------------------------

def _plan_file(path, target, keys, value):
    """(stat, bytes, ConfigChange) for the file as it is now."""
    try:
        with open(target, 'rb') as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except FileNotFoundError as exc:
        raise ConfigError('%s does not exist' % path) from exc
    except OSError as exc:
        raise ConfigError('cannot read %s: %s' % (path, exc.strerror)) from exc
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ConfigError('%s is not UTF-8 text: %s' % (path, exc)) from exc
    try:
        new_text, before, after = plan_edit(text, keys, value)
    except ConfigError as exc:
        raise ConfigError('%s: %s' % (path, exc)) from exc
    return st, data, ConfigChange(path=path, key='.'.join(keys), before=before, after=after,
                                  changed=new_text != text, before_text=text, after_text=new_text)


@contextlib.contextmanager
def _locked(path, target, timeout):
    """Hold <target>.lock so runs on the same file take turns.

    The lock file is left in place: removing it would let a waiting run and a new one
    lock two different files at once.
    """
    lock_path = target + '.lock'
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise ConfigError('cannot open the lock file %s: %s' % (lock_path, exc.strerror)) from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() >= deadline:
                    raise ConfigError('timed out after %gs waiting for the lock on %s: another run holds %s' % (
                        timeout, path, lock_path)) from exc
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _backup(target, data, st):
    """Keep data (the file as it was read under the lock) in <target>.<UTC time>Z.bak with its mode, owner and mtime."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%S%fZ')
    backup = '%s.%s.bak' % (target, stamp)
    _write_atomically(backup, data, st)
    os.utime(backup, ns=(st.st_atime_ns, st.st_mtime_ns))
    return backup


def _write_atomically(path, data, st):
    """Replace path with data so that a reader, or a crash, sees the old file or the new one, never a mix."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            current = os.fstat(f.fileno())
            if (current.st_uid, current.st_gid) != (st.st_uid, st.st_gid):
                try:
                    os.fchown(f.fileno(), st.st_uid, st.st_gid)
                except PermissionError as exc:
                    raise ConfigError('cannot keep the owner %d:%d of %s when running as uid %d: run it with become' % (
                        st.st_uid, st.st_gid, path, os.geteuid())) from exc
            os.fchmod(f.fileno(), stat.S_IMODE(st.st_mode))  # after fchown, which may clear setuid bits
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory is on disk too. The file is already
    # replaced here, so a file system that cannot sync a directory is no reason to fail.
    with contextlib.suppress(OSError):
        dir_fd = os.open(directory or '.', os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
