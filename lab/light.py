"""The light lab's host server: one process serving every host of a light lab, each on its own address.

A light host is still its own process, the service of contract section 2: ``python3 genesis_orchestrator.py``
in its app root (``lab/templates/genesis_orchestrator_light.py``), with the env file's key in its environment
and its pid in the pid file. That process imports nothing but builtin modules and hands the serving to this
server over a Unix socket: it sends its app root and key, this server reads the app root's ``production.yaml``
(an ``Orchestrator`` as the full lab's, its health, metrics and logs), listens on the host's address and port,
and answers ``ok``; the process then writes its pid file and waits. When the process ends, however it ends,
its socket closes and this server stops serving the host, so the host is up exactly as long as its process.

Traffic is synthetic: no SDK call per request. Each tick, the chat calls that are due across the hosts go to
the Mistral simulator in one ``POST /_lab/calls``, which answers each with the faults and draws its API would
apply to that host's address, key and model; the answers run through the same routing, fallback, metrics,
health window and log lines as the full lab's real calls. A fault injected with ``python -m lab fault`` so
shows on the same hosts and agents, with the same codes, in either mode.

``python -m lab.light --socket .lab/light.sock`` (started by ``python -m lab up --mode light``).
"""

import argparse
import asyncio
import http.client
import json
import os
import random
import resource
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from lab.fleet import alive
from lab.host import CONFIG, CONFIG_ERRORS, Orchestrator
from lab.registry import ModelCallError, ModelRegistry, error_message

TICK_S = 0.25
ASK_TIMEOUT_S = 30


class Answers:
    """The simulator's answers to the calls one request may make (its model, then the baseline), and the
    seconds those calls would have taken: a slow or hung call holds up the agent's next request."""

    def __init__(self, answers, timeout_s, unreachable=None):
        self.answers = answers  # model id -> [status or None (closed), delay_s, error body or None]
        self.timeout_s = timeout_s
        self.unreachable = unreachable  # why the simulator could not be asked, else None
        self.spent = 0.0

    def call(self, model):
        """Play one call: None on success, else raise ModelCallError as the SDK's failure would be classified."""
        if self.unreachable:
            raise ModelCallError(model, "connect", f"Connection failed: {self.unreachable}")
        status, delay_s, body = self.answers[model]
        if status is None:
            raise ModelCallError(model, "connect", "Connection failed: RemoteProtocolError")
        self.spent += min(delay_s, self.timeout_s)
        if delay_s >= self.timeout_s:
            raise ModelCallError(model, "timeout", "Request timed out")
        if status != 200:
            raise ModelCallError(model, str(status), error_message(status, json.dumps(body) if body else ""))


class LightRegistry(ModelRegistry):
    """The full lab's routing and fallback; a call is played from the simulator's answers (the ``client``)."""

    def call(self, client, model, messages, max_tokens=16):
        return client.call(model)


class LightHost:
    """A registered host: its service's pid, its key, its orchestrator, its listener and open connections."""

    def __init__(self, pid, key, orchestrator):
        self.pid = pid
        self.key = key
        self.orchestrator = orchestrator
        self.listener = None
        self.connections = set()
        self.rng = random.Random()
        self.due = {agent: time.monotonic() + self.rng.uniform(0, orchestrator.interval_s) for agent in orchestrator.agents}
        self.gone = False
        # The models a request of each agent may call: its fine-tuned one when routed there, and its baseline.
        # Worked out (and /health rendered) once here, so that a config the service cannot use fails its start.
        orchestrator.health()
        self.models = {}
        for agent in orchestrator.agents:
            conf = orchestrator.models["agents"][agent]
            enabled = orchestrator.registry.finetuned_enabled(agent)
            self.models[agent] = [conf["finetuned"], conf["baseline"]] if enabled else [conf["baseline"]]


class HostServer:
    """The Unix socket the light hosts' processes register on, their HTTP listeners, and their traffic."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.hosts = {}  # app root (resolved) -> LightHost
        self.stopping = threading.Event()
        self.sessions = {}  # simulator base URL -> HTTPConnection (used by the traffic thread only)

    # -- registration ---------------------------------------------------------------------
    async def register(self, reader, writer):
        """One host's service process: register it, serve its host while the connection lasts, then drop it."""
        sock = writer.get_extra_info("socket")
        pid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[0]
        host = None
        try:
            app_root = (await reader.readline()).decode().strip()
            key = (await reader.readline()).decode().strip()
            host, problem = await self._start_host(pid, app_root, key)
            writer.write(b"ok\n" if host else problem.encode() + b"\n")
            await writer.drain()
            if host:
                await reader.read()  # until the process ends: EOF
        except (ConnectionError, UnicodeDecodeError):
            pass
        finally:
            if host:
                self.drop(host)
            writer.close()

    async def _start_host(self, pid, app_root, key):
        """(LightHost, None) serving on its address, or (None, what stopped it) as the full lab's service says it."""
        root = str(Path(app_root).resolve())
        running = self.hosts.get(root)
        if running and not alive(running.pid):
            self.drop(running)  # its process is gone; its end of file is still on the way
        # (a second process for a host that runs fails to bind its address below, as a second full-lab service would)
        orchestrator = None
        try:
            orchestrator = Orchestrator(app_root, api_key=key, registry=LightRegistry)
            host = LightHost(pid, key, orchestrator)
        except CONFIG_ERRORS as exc:
            if orchestrator:
                orchestrator.close()
            return None, f"cannot load {CONFIG}: {exc}"
        try:
            host.listener = await asyncio.start_server(lambda r, w: self.http(host, r, w), orchestrator.bind,
                                                       orchestrator.port)
        except OSError as exc:
            orchestrator.close()
            return None, f"cannot serve on {orchestrator.bind}:{orchestrator.port}: {exc}"
        orchestrator.log_start(pid)
        self.hosts[root] = host
        return host, None

    def drop(self, host):
        """Stop serving a host whose process ended: its address stops answering, its log files close."""
        if host.gone:
            return
        host.gone = True
        if self.hosts.get(str(host.orchestrator.root)) is host:
            del self.hosts[str(host.orchestrator.root)]
        host.listener.close()
        for writer in list(host.connections):
            writer.close()
        host.orchestrator.close()

    # -- HTTP -----------------------------------------------------------------------------
    async def http(self, host, reader, writer):
        """GET /health, /health/<agent>, /metrics on the host's address; HTTP/1.1 with keep-alive (Prometheus)."""
        host.connections.add(writer)
        try:
            while not host.gone:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                request, *fields = head.split("\r\n")
                headers = dict((name.strip().lower(), value.strip()) for name, _, value in
                               (field.partition(":") for field in fields if field))
                method, target, version = (request.split() + ["", "", ""])[:3]
                await reader.readexactly(int(headers.get("content-length") or 0))
                if method in ("GET", "HEAD"):
                    code, body, ctype = host.orchestrator.respond(target)
                else:
                    code, body, ctype = 501, {"error": f"unsupported method {method!r}"}, "application/json"
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                close = version != "HTTP/1.1" or headers.get("connection", "").lower() == "close"
                lines = [f"HTTP/1.1 {code} {HTTPStatus(code).phrase}", f"Content-Type: {ctype}", f"Content-Length: {len(data)}"]
                lines += ["Connection: close"] if close else []
                writer.write("\r\n".join(lines + ["", ""]).encode() + (b"" if method == "HEAD" else data))
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError):
            pass
        finally:
            host.connections.discard(writer)
            writer.close()

    # -- traffic --------------------------------------------------------------------------
    def traffic(self):
        """Every tick, the requests that are due, their calls asked of the simulator in one batch per server URL."""
        while not self.stopping.wait(TICK_S):
            now = time.monotonic()
            batches = {}
            for host in list(self.hosts.values()):
                for agent, due in host.due.items():
                    if due <= now:
                        batches.setdefault(host.orchestrator.registry.server_url, []).append((host, agent))
            for url, requests in batches.items():
                try:
                    self._play(url, requests, now)
                except Exception:  # pylint: disable=broad-except  # a bug here must not stop every host's traffic
                    traceback.print_exc()

    def _play(self, url, requests, now):
        calls = [[host.orchestrator.bind, host.key, model] for host, agent in requests for model in host.models[agent]]
        answers, unreachable = self._ask(url, calls)
        answers = iter(answers)
        for host, agent in requests:
            models = host.models[agent]
            played = Answers(dict(zip(models, answers)), host.orchestrator.registry.timeout_s, unreachable)
            if not host.gone:
                host.orchestrator.one_request(agent, played, host.rng)
            interval = host.orchestrator.interval_s
            host.due[agent] = now + max(interval * host.rng.uniform(0.8, 1.2), played.spent)

    def _ask(self, url, calls):
        """(answers, None) from the simulator at ``url``, or ([], why) when it did not answer."""
        body = json.dumps({"calls": calls})
        why = None
        for _ in range(2):  # a kept-alive connection the simulator closed: once more on a new one
            session = self.sessions.get(url)
            if session is None:
                parts = urlsplit(url)
                session = self.sessions[url] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=ASK_TIMEOUT_S)
            try:
                session.request("POST", "/_lab/calls", body, {"Content-Type": "application/json"})
                response = session.getresponse()
                data = response.read()
                answers = json.loads(data)["answers"] if response.status == 200 else None
                if answers is None or len(answers) != len(calls):
                    return [], f"HTTP {response.status} from {url}/_lab/calls with {len(answers or [])} answers for {len(calls)} calls"
                return answers, None
            except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
                session.close()
                del self.sessions[url]
                why = "ConnectError" if isinstance(exc, OSError) else type(exc).__name__
        return [], why

    # -- process --------------------------------------------------------------------------
    async def run(self):
        Path(self.socket_path).unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self.register, self.socket_path)
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        threading.Thread(target=self.traffic, name="traffic", daemon=True).start()
        print(f"lab.light: serving hosts registered on {self.socket_path} (pid {os.getpid()})", flush=True)
        await stopped.wait()
        self.stopping.set()
        server.close()
        for host in list(self.hosts.values()):
            self.drop(host)
        Path(self.socket_path).unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.light", description="The light lab's host server.")
    parser.add_argument("--socket", required=True, help="the Unix socket the hosts' processes register on")
    args = parser.parse_args(argv)
    # Per host: a listener, its process's socket, 5 open log files, Prometheus's connection (`lab up` checks the hard limit).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        asyncio.run(HostServer(args.socket).run())
    except OSError as exc:
        parser.exit(1, f"lab.light: cannot serve on {args.socket}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
