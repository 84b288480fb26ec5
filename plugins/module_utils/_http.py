# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One HTTP GET with a total deadline, for the health probe and the Prometheus query.

A socket timeout bounds each read, not the request: a server that trickles its answer a
byte at a time, each within the timeout, holds a request made with Ansible's ``open_url``
(or urllib's own) for as long as it likes. So this builds urllib's opener with connections
whose every read and write may take only what is left until the deadline: the whole request
(connect, headers, body, redirects) ends by then. Only the name lookup is the system's own.

Standard library only: this runs on Genesis hosts. Apart from ``_common`` so that the
modules that make no HTTP call do not ship it.
"""

from __future__ import annotations

import base64
import http.client
import io
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

from ansible_collections.genesis.model_ops.plugins.module_utils._common import mask

# socket.timeout is TimeoutError from Python 3.10 on; a host may run an older one.
TIMEOUTS = (socket.timeout, TimeoutError)


class _DeadlineSocket:
    """A connected socket whose every read and write may take only what is left until the deadline."""

    def __init__(self, sock, deadline, clock):
        self._sock, self._deadline, self._clock = sock, deadline, clock
        self._io_refs, self._closed = 0, False

    def _arm(self):
        left = self._deadline - self._clock()
        if left <= 0:
            raise socket.timeout('timed out')
        self._sock.settimeout(left)

    def recv_into(self, *args):
        self._arm()
        return self._sock.recv_into(*args)

    def sendall(self, *args):
        self._arm()
        return self._sock.sendall(*args)

    def makefile(self, *_args, **_kwargs):
        # http.client reads the answer through this file, so its reads come back to recv_into above.
        self._io_refs += 1
        return io.BufferedReader(socket.SocketIO(self, 'rb'))

    # As socket.socket does: closing the connection leaves the socket open while an answer is read.
    def _decref_socketios(self):
        self._io_refs -= 1
        if self._closed and self._io_refs <= 0:
            self._sock.close()

    def close(self):
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _DeadlineConnection:
    """Mixed into http.client's connections: the connected socket keeps to the deadline."""

    def __init__(self, *args, deadline=None, clock=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline, self._clock = deadline, clock

    def connect(self):
        super().connect()  # connects within the timeout (what is left), wraps TLS for https
        self.sock = _DeadlineSocket(self.sock, self._deadline, self._clock)


class _HTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    pass


class _Handler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """urllib's handler of both schemes, with connections that keep to the deadline."""

    def __init__(self, deadline, clock, context):
        super().__init__(context=context)
        self._deadline, self._clock = deadline, clock

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, deadline=self._deadline, clock=self._clock)

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context, deadline=self._deadline, clock=self._clock)


def tls_context(validate_certs=True):
    """The TLS context for http_get; build it once (loading the CA store costs ~40 ms of CPU)."""
    context = ssl.create_default_context()
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def hide_passwords(module, urls):
    """Add the password of each of urls (user:password@host, sent as Basic authentication) to the values Ansible
    hides from everything it reports, the module's arguments included."""
    for url in urls:
        password = url and urllib.parse.urlsplit(url).password
        if password:
            module.no_log_values.add(password)


def http_get(url, timeout, context=None, use_proxy=True, max_body=1024 * 1024, clock=time.monotonic):
    """GET url (asking for JSON), all of it within timeout seconds.

    Returns {http_status, body, error, reason, latency_ms}. error is None when an answer came
    (any status: a 4xx or 5xx has a body to judge too), 'timeout' when the deadline passed first,
    'unreachable' when no HTTP answer came (refused, DNS, TLS, reset); reason says what happened.
    A status whose body then broke off is an answer with the body that came, b''.
    """
    answer = {'http_status': None, 'body': b'', 'error': None, 'reason': None, 'latency_ms': 0.0}
    if timeout <= 0:  # a caller's own deadline has passed already
        answer.update(error='timeout', reason='no time left')
        return answer
    start = clock()
    deadline = start + timeout
    handlers = [_Handler(deadline, clock, context or tls_context())]
    if not use_proxy:
        handlers.append(urllib.request.ProxyHandler({}))
    headers = {'Accept': 'application/json', 'User-Agent': 'ansible-httpget'}
    parts = urllib.parse.urlsplit(url)
    if '@' in parts.netloc:  # user:password@ is Basic authentication, not part of the host (nor of any message)
        userinfo, host = parts.netloc.rsplit('@', 1)
        headers['Authorization'] = 'Basic ' + base64.b64encode(urllib.parse.unquote(userinfo).encode('utf-8')).decode('ascii')
        url = urllib.parse.urlunsplit(parts._replace(netloc=host))
    request = urllib.request.Request(url, headers=headers)
    try:
        try:
            response = urllib.request.build_opener(*handlers).open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:  # a non-2xx answer is still an answer, with a body to judge
            response = exc
        with response:
            answer['http_status'] = response.getcode()
            answer['body'] = response.read(max_body) or b''
    except Exception as exc:  # pylint: disable=broad-except
        reason = getattr(exc, 'reason', exc)
        if isinstance(reason, TIMEOUTS) or isinstance(exc, TIMEOUTS) or 'timed out' in str(reason) or clock() >= deadline:
            answer.update(error='timeout', reason='no answer within %gs' % timeout)
        elif answer['http_status'] is None:
            answer.update(error='unreachable', reason=mask(str(reason or type(exc).__name__)))
    answer['latency_ms'] = round((clock() - start) * 1000, 1)
    return answer
