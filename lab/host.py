"""The Genesis orchestrator as the lab runs it on every host (contract sections 2-6).

Started as ``python3 genesis_orchestrator.py`` in a host's app root (the launcher there
re-executes into this module with the lab's interpreter). It reads
``infrastructure/config/production.yaml`` once, writes ``run/genesis-orchestrator.pid``,
serves ``/health``, ``/health/<agent>`` and ``/metrics``, and keeps a steady load of chat
requests per agent going through the real SDK so that rates and counters are real.
"""

import argparse
import collections
import datetime
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from lab.registry import ModelCallError, ModelRegistry

VERSION = "1.4.2"
CONFIG = Path("infrastructure/config/production.yaml")
PID_FILE = Path("run/genesis-orchestrator.pid")
MESSAGES = [{"role": "user", "content": "Summarise the open ticket in one line."}]
LOG_ROTATE_BYTES = 20 * 1024 * 1024
# what a config that cannot be loaded raises in Orchestrator()
CONFIG_ERRORS = (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError, ValueError)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(when=None, millis=False):
    when = when or utcnow()
    if millis:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


class AgentLog:
    """The model-call log of one agent (contract section 6), rotated by size."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.fh = open(path, "a", encoding="utf-8", buffering=1)  # pylint: disable=consider-using-with

    def write(self, level, fields):
        text = " ".join(f"{k}={v}" for k, v in fields)
        with self.lock:
            if self.fh is None:  # closed: the light lab's host stopped while a request of its was in flight
                return
            self.fh.write(f"{stamp(millis=True)} {level} {text}\n")
            if self.fh.tell() > LOG_ROTATE_BYTES:
                self.fh.close()
                os.replace(self.path, f"{self.path}.1")
                self.fh = open(self.path, "a", encoding="utf-8", buffering=1)  # pylint: disable=consider-using-with

    def close(self):
        with self.lock:
            self.fh.close()
            self.fh = None


class Metrics:
    """Prometheus counters of contract section 5."""

    SERIES = {
        "model_requests_total": ("counter", "Model calls made, by agent, model and kind.", ("agent", "model", "kind")),
        "model_errors_total": ("counter", "Failed model calls, by agent, model and code.", ("agent", "model", "code")),
        "model_fallbacks_total": ("counter", "Requests answered by the baseline after the fine-tuned call failed.", ("agent",)),
    }

    def __init__(self):
        self.lock = threading.Lock()
        self.values = {name: collections.Counter() for name in self.SERIES}

    def inc(self, name, *labels):
        with self.lock:
            self.values[name][labels] += 1

    def render(self):
        out = []
        with self.lock:
            for name, (kind, text, labels) in self.SERIES.items():
                out.append(f"# HELP {name} {text}")
                out.append(f"# TYPE {name} {kind}")
                for values, count in sorted(self.values[name].items()):
                    pairs = ",".join(f'{k}="{v}"' for k, v in zip(labels, values))
                    out.append(f"{name}{{{pairs}}} {count}")
        return "\n".join(out) + "\n"


class AgentState:
    """What happened to an agent's requests in the sliding window."""

    def __init__(self, window_s):
        self.window_s = window_s
        self.lock = threading.Lock()
        self.outcomes = collections.deque()  # (monotonic time, "ok" | "fallback" | "error")
        self.errors = collections.deque()  # (monotonic time, wall time, status, message)

    def _trim(self, now):
        for queue in (self.outcomes, self.errors):
            while queue and queue[0][0] < now - self.window_s:
                queue.popleft()

    def record(self, outcome):
        with self.lock:
            now = time.monotonic()
            self.outcomes.append((now, outcome))
            self._trim(now)

    def record_error(self, err):
        with self.lock:
            now = time.monotonic()
            status = int(err.code) if err.code.isdigit() else err.code
            self.errors.append((now, utcnow(), status, err.message))
            self._trim(now)

    def snapshot(self):
        with self.lock:
            self._trim(time.monotonic())
            kinds = collections.Counter(outcome for _, outcome in self.outcomes)
            last = self.errors[-1] if self.errors else None
        requests = sum(kinds.values())
        errors, fallbacks = kinds["error"], kinds["fallback"]
        error_rate = round(errors / requests, 4) if requests else 0.0
        fallback_rate = round(fallbacks / requests, 4) if requests else 0.0
        if requests and errors == requests:
            status = "down"
        elif error_rate > 0.05 or fallback_rate > 0.10:
            status = "degraded"
        else:
            status = "ok"
        return {
            "status": status, "window_s": self.window_s, "requests": requests, "errors": errors, "fallbacks": fallbacks,
            "error_rate": error_rate, "fallback_rate": fallback_rate,
            "last_error": {"at": stamp(last[1]), "status": last[2], "message": last[3]} if last else None,
        }


class Orchestrator:
    """One Genesis host: config, registry, load, health, metrics, logs."""

    WORST = {"ok": 0, "degraded": 1, "down": 2}

    def __init__(self, app_root, api_key=None, registry=ModelRegistry):
        self.root = Path(app_root).resolve()
        self.config_path = self.root / CONFIG
        with open(self.config_path, encoding="utf-8") as fh:
            # the C loader where PyYAML has it: the light lab's host server loads a config at every host's start
            self.config = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.loaded_at = stamp()
        self.started_at = stamp()
        self.models = self.config["models"]
        service = self.config.get("service", {})
        self.bind = service.get("bind", "127.0.0.1")
        self.port = int(service.get("port", 8080))
        load = self.config.get("load", {})
        self.interval_s = float(load.get("interval_s", 2.0))
        self.window_s = int(load.get("window_s", 20))
        api = self.config.get("mistral", {})
        self.registry = registry(self.models, api_key=api_key, server_url=api.get("server_url"),
                                 timeout_s=float(api.get("timeout_s", 3)), source_address=self.bind)
        self.agents = list(self.models["agents"])
        self.states = {agent: AgentState(self.window_s) for agent in self.agents}
        self.metrics = Metrics()
        log_dir = self.root / service.get("log_dir", "logs/finetuning")
        log_dir.mkdir(parents=True, exist_ok=True)
        self.logs = {agent: AgentLog(log_dir / f"{agent}.log") for agent in self.agents}
        self.service_log = log_dir / "orchestrator.log"
        self.stop = threading.Event()
        self.server = None

    # -- load ---------------------------------------------------------------------------
    def one_request(self, agent, client, rng):
        """One request of ``agent`` through the registry, counted in metrics, health window and log."""
        log = self.logs[agent]

        def on_attempt(model, kind, err):
            self.metrics.inc("model_requests_total", agent, model, kind)
            if err is None:
                return
            self.metrics.inc("model_errors_total", agent, model, err.code)
            self.states[agent].record_error(err)
            log.write("ERROR", [("agent", agent), ("model", model), ("status", err.code),
                                ("error", json.dumps(err.message))])

        try:
            _, model, fell_back = self.registry.chat(agent, MESSAGES, client=client, rng=rng, on_attempt=on_attempt)
        except ModelCallError:
            self.states[agent].record("error")
            return
        if fell_back:
            self.metrics.inc("model_fallbacks_total", agent)
            self.states[agent].record("fallback")
            log.write("INFO", [("agent", agent), ("model", model), ("fallback", "true"), ("status", 200)])
        else:
            self.states[agent].record("ok")
            log.write("INFO", [("agent", agent), ("model", model), ("status", 200)])

    def _agent_loop(self, agent):
        rng = random.Random()
        client = self.registry.client()
        self.stop.wait(rng.uniform(0, self.interval_s))
        while not self.stop.is_set():
            started = time.monotonic()
            self.one_request(agent, client, rng)
            self.stop.wait(max(0.05, self.interval_s * rng.uniform(0.8, 1.2) - (time.monotonic() - started)))

    # -- health -------------------------------------------------------------------------
    def agent_health(self, agent):
        conf = self.models["agents"][agent]
        body = self.states[agent].snapshot()
        body.update({"model": self.registry.primary_model(agent), "finetuned_model": conf["finetuned"],
                     "baseline_model": conf["baseline"]})
        order = ["status", "model", "finetuned_model", "baseline_model", "window_s", "requests", "errors",
                 "fallbacks", "error_rate", "fallback_rate", "last_error"]
        return {key: body[key] for key in order}

    def health(self):
        agents = {agent: self.agent_health(agent) for agent in self.agents}
        status = max((a["status"] for a in agents.values()), key=self.WORST.get, default="ok")
        return {
            "status": status, "version": VERSION, "started_at": self.started_at,
            "config": {"path": str(self.config_path), "loaded_at": self.loaded_at,
                       "use_finetuned": self.models.get("use_finetuned", True),
                       "rollout_percentage": self.models.get("rollout_percentage", 100)},
            "agents": agents,
        }

    def respond(self, path):
        """(HTTP status, body, content type) of a GET on ``path``: the endpoints of contract sections 4 and 5."""
        path = path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            body = self.health()
        elif path.startswith("/health/"):
            agent = path[len("/health/"):]
            if agent not in self.states:
                return 404, {"error": "unknown agent", "agent": agent, "agents": self.agents}, "application/json"
            body = dict(self.agent_health(agent), agent=agent)
        elif path == "/metrics":
            return 200, self.metrics.render(), "text/plain; version=0.0.4"
        else:
            return 404, {"error": "not found"}, "application/json"
        return 503 if body["status"] == "down" else 200, body, "application/json"

    # -- process ------------------------------------------------------------------------
    def log_start(self, pid):
        """The service's own start line, free text beside the model-call logs: log scanners must skip it."""
        with open(self.service_log, "a", encoding="utf-8") as fh:
            fh.write(f"[{stamp()}] genesis-orchestrator {VERSION} started pid {pid} "
                     f"on {self.bind}:{self.port} (use_finetuned={self.models.get('use_finetuned', True)}, "
                     f"rollout={self.models.get('rollout_percentage', 100)}%)\n")

    def close(self):
        for log in self.logs.values():
            log.close()

    def serve(self):
        orchestrator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def _send(self, code, body, ctype="application/json"):
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # pylint: disable=invalid-name
                self._send(*orchestrator.respond(self.path))

        self.server = ThreadingHTTPServer((self.bind, self.port), Handler)
        self.server.daemon_threads = True
        return self.server

    def run(self):
        server = self.serve()
        pid_file = self.root / PID_FILE
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
        self.log_start(os.getpid())

        def shutdown(*_):
            self.stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        for agent in self.agents:
            threading.Thread(target=self._agent_loop, args=(agent,), daemon=True, name=agent).start()
        try:
            server.serve_forever(poll_interval=0.5)
        finally:
            server.server_close()
            try:
                if pid_file.read_text(encoding="utf-8").strip() == str(os.getpid()):
                    pid_file.unlink()
            except OSError:
                pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="genesis_orchestrator", description=__doc__.splitlines()[0])
    parser.add_argument("--app-root", default=".", help="the host's app root (default: the current directory)")
    parser.add_argument("--fault-dir", help="lab: a folder whose start_failure file makes the start fail")
    args = parser.parse_args(argv)
    if args.fault_dir and Path(args.fault_dir, "start_failure").exists():
        armed = Path(args.fault_dir, "start_failure")
        reason = armed.read_text(encoding="utf-8").strip() or "injected start failure"
        if reason.endswith(", once)"):
            armed.unlink(missing_ok=True)
        print(f"genesis-orchestrator: cannot start: {reason}", file=sys.stderr)
        return 1
    if not os.environ.get("MISTRAL_API_KEY"):
        print("genesis-orchestrator: MISTRAL_API_KEY is not set (see the env file)", file=sys.stderr)
        return 1
    try:
        orchestrator = Orchestrator(args.app_root)
    except CONFIG_ERRORS as exc:
        print(f"genesis-orchestrator: cannot load {CONFIG}: {exc}", file=sys.stderr)
        return 1
    try:
        orchestrator.run()
    except OSError as exc:
        print(f"genesis-orchestrator: cannot serve on {orchestrator.bind}:{orchestrator.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
