# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The YAML planner: the text of a Genesis ``production.yaml`` with one value set, and nothing else changed.

Pure text in, text out (no I/O); ``_config`` reads and writes the file around it.
Everything outside the ``models:`` section belongs to the site (host contract, section 3),
so an edit rewrites only the characters of the one scalar that changes (or inserts one
``key: value`` into a mapping that lacks it); every comment, quote, anchor and key order
stays byte for byte. The result is parsed again and must differ from the old document at
that one path only, or the edit is refused.
"""

from __future__ import annotations

import math

from ansible_collections.genesis.model_ops.plugins.module_utils._files import ConfigError

try:
    import yaml
    SafeLoader = yaml.SafeLoader
    # parsing a whole file to check it: libyaml's loader where PyYAML has it (about ten times faster; the same
    # data). The edit itself reads tokens, which only the pure Python loader gives.
    _FastLoader = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)
    HAS_YAML = True
except ImportError:
    SafeLoader = _FastLoader = object  # lets this file import; the modules fail clearly before any use
    HAS_YAML = False

# A rewritten bool keeps the old spelling family and case (True -> False, yes -> no, ON -> OFF).
_BOOL_WORDS = (('true', 'false'), ('yes', 'no'), ('on', 'off'))


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
        return yaml.load(text, Loader=_FastLoader)
    except yaml.YAMLError:
        pass
    try:  # the pure Python loader's message: the same on every host, with or without libyaml
        return yaml.load(text, Loader=SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError('%s: %s' % (message, _yaml_error(exc))) from exc
    except RecursionError as exc:
        raise ConfigError('%s: nested deeper than can be read' % message) from exc


def yaml_parses(data):
    """Raise ValueError (naming the line, not quoting it) unless data is UTF-8 text of a YAML mapping."""
    try:
        document = _load(data.decode('utf-8'), 'not YAML')
    except ConfigError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(document, dict):
        raise ValueError('not a YAML mapping but %s' % type(document).__name__)


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
