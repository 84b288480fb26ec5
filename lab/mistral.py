"""The lab's Mistral API simulator: the calls the hosts and the collection make, and the failures to drill.

``python -m lab.mistral --port 8600 --state-dir .lab`` serves it; ``MistralSimulator(...).start()`` runs it
in-process. ``/v1/...`` is the API (bearer key required), ``/_lab/...`` the fault control (no key, loopback only).
"""

import argparse
import hashlib
import ipaddress
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lab import catalog, paths

# Limits reported in the x-ratelimit-* headers; only the rate_limit fault answers 429.
REQUESTS_PER_MINUTE = 60000
TOKENS_PER_MINUTE = 5000000
ANSWER = "This is the Genesis lab's simulated answer: the request reached the model and it replied in full."
ROLES = ("system", "user", "assistant", "tool")
FAULT_FIELDS = ("name", "hosts", "models", "keys", "ratio", "status", "delay_s", "retry_after", "quota")
# rate_limit's quotas: the models' (their chat calls answer 429) or the whole key's (every call answers 429)
QUOTAS = ("models", "key")
# name -> (statuses it may answer, default status, the optional fields it takes and their defaults)
FAULTS = {
    "credentials": ((401, 403), 401, {}),
    "rate_limit": ((429,), 429, {"retry_after": 5}),
    "model_unavailable": ((), None, {}),
    "retired_baseline": ((), None, {}),
    "server_error": ((500, 502, 503, 504), 503, {}),
    "slow": ((), None, {"delay_s": 2.0}),
    "hang": ((), None, {"delay_s": 600.0}),
    "complete_failure": ((), None, {}),
}
GONE_FAULTS = ("model_unavailable", "retired_baseline")
ROUTES = {"list": ("GET",), "model": ("GET", "DELETE"), "chat": ("POST",), "archive": ("POST", "DELETE")}
NOT_JSON = object()


def _error(message, kind, code=None):
    return {"object": "error", "message": message, "type": kind, "param": None, "code": code}


def _invalid_model(name):
    return _error(f"Invalid model: {name}", "invalid_model", "1500")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_list(data, field):
    value = data.get(field)
    if value is not None and (not isinstance(value, list) or not all(isinstance(item, str) for item in value)):
        raise ValueError(f"{field} {value!r} is not a list of strings or null")
    return value


def parse_fault(data):
    """Check a posted fault and fill its defaults; ValueError names the bad value and what is allowed."""
    if not isinstance(data, dict):
        raise ValueError(f"a fault is a JSON object, not {data!r}")
    unknown = sorted(set(data) - set(FAULT_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}: a fault has {', '.join(FAULT_FIELDS)}")
    name = data.get("name")
    if name not in FAULTS:
        raise ValueError(f"unknown fault name {name!r}: one of {', '.join(FAULTS)}")
    statuses, default_status, options = FAULTS[name]
    fault = {"name": name, "hosts": _string_list(data, "hosts"), "models": _string_list(data, "models"),
             "keys": _string_list(data, "keys"), "ratio": data.get("ratio", 1.0), "status": data.get("status")}
    if fault["ratio"] is None:
        fault["ratio"] = 1.0
    if not _is_number(fault["ratio"]) or not 0 <= fault["ratio"] <= 1:
        raise ValueError(f"ratio {fault['ratio']!r} is not a number within 0..1")
    if fault["status"] is None:
        fault["status"] = default_status
    elif fault["status"] not in statuses or isinstance(fault["status"], bool):
        allowed = f"one of {', '.join(map(str, statuses))}" if statuses else "none (leave it null)"
        raise ValueError(f"status {fault['status']!r} is not allowed for {name}: {allowed}")
    for field in ("delay_s", "retry_after"):
        value = data.get(field)
        if value is not None and field not in options:
            raise ValueError(f"{field} {value!r} does not apply to {name}: leave it null")
        if value is not None and (not _is_number(value) or value < 0):
            raise ValueError(f"{field} {value!r} is not a number >= 0")
        fault[field] = options.get(field) if value is None else value
    quota = data.get("quota")
    if quota is not None and name != "rate_limit":
        raise ValueError(f"quota {quota!r} does not apply to {name}: leave it null")
    if name == "rate_limit":
        fault["quota"] = quota or "models"
        if fault["quota"] not in QUOTAS:
            raise ValueError(f"quota {quota!r} is not allowed: one of {', '.join(QUOTAS)}")
        if fault["quota"] == "key" and fault["models"] is not None:
            raise ValueError("a key's quota takes every call of the key: leave models null")
        if fault["quota"] == "key":
            return fault
    fault["models"] = _fault_models(name, fault["models"])
    return fault


def _calls(body):
    """The ``calls`` of a /_lab/calls body: ``[[host, key or null, model], ...]``; ValueError says what is wrong."""
    calls = body.get("calls") if isinstance(body, dict) else None
    if not isinstance(calls, list) or not all(
            isinstance(call, list) and len(call) == 3 and isinstance(call[0], str) and isinstance(call[2], str)
            and (call[1] is None or isinstance(call[1], str)) for call in calls):
        raise ValueError('the body is not {"calls": [[host, key or null, model], ...]}')
    return calls


def _fault_models(name, models):
    """The models a fault is about, with its defaults filled."""
    if name == "model_unavailable" and not models:
        raise ValueError("model_unavailable needs models: the ids that behave as deleted")
    if name == "rate_limit" and models is None:
        return list(catalog.LAB_FINE_TUNED)
    if name == "retired_baseline":
        models = models or list(catalog.LAB_BASELINES)
        fine_tuned = [model for model in models if catalog.is_fine_tuned(model)]
        if fine_tuned:
            raise ValueError(f"retired_baseline takes base models, not {', '.join(fine_tuned)}: use model_unavailable")
    return models


class Fault:
    """An active fault: its stored JSON, its scope, and the event that releases a hang."""

    def __init__(self, spec, fleet_key):
        self.spec = dict(spec, id=uuid.uuid4().hex[:12])
        self.name = spec["name"]
        self.hosts = None if spec["hosts"] is None else frozenset(spec["hosts"])
        self.models = None if spec["models"] is None else frozenset(map(catalog.canonical, spec["models"]))
        # An unscoped credentials fault revokes the fleet key only: the spare key is the way out.
        self.keys = frozenset(spec["keys"]) if spec["keys"] is not None else (
            frozenset([fleet_key]) if self.name == "credentials" else None)
        self.released = threading.Event()

    def in_scope(self, host, key):
        """Whether a request from ``host`` with ``key`` draws this fault (models aside)."""
        return ((self.hosts is None or host in self.hosts) and (self.keys is None or key in self.keys)
                and random.random() < self.spec["ratio"])

    def hits(self, host, key, model):
        """Whether a request for ``model`` draws this fault."""
        return (self.models is None or catalog.canonical(model) in self.models) and self.in_scope(host, key)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, simulator):
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class MistralSimulator:
    """The simulator's state and server. ``keys[0]`` is the fleet key (the default scope of ``credentials``)."""

    def __init__(self, host="127.0.0.1", port=8600, keys=(), log_path=None):
        self.keys = tuple(keys)
        self._lock = threading.Lock()
        self._faults = ()
        self._history = {}  # model id -> "deleted" or "archived"
        self._usage = {}
        self._log = open(log_path, "a", encoding="utf-8", buffering=1) if log_path else None  # pylint: disable=consider-using-with
        self._server = _Server((host, port), self)

    @property
    def url(self):
        """The base URL it answers on (the real port when started with port 0)."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        """Serve in a daemon thread; returns self."""
        threading.Thread(target=self._server.serve_forever, name="mistral-simulator", daemon=True).start()
        return self

    def stop(self):
        """Release hung requests, stop serving and close the log."""
        self.clear_faults()
        self._server.shutdown()
        self._server.server_close()
        if self._log:
            with self._lock:
                self._log.close()

    # fault control

    def faults(self):
        """The active faults, as stored."""
        return [fault.spec for fault in self._faults]

    def add_fault(self, data):
        """Validate and store a fault (ValueError if invalid); returns it with its id."""
        fault = Fault(parse_fault(data), self.keys[0] if self.keys else None)
        with self._lock:
            self._faults += (fault,)
        return fault.spec

    def clear_faults(self, name=None):
        """Clear every fault, or those named ``name``; returns how many went."""
        with self._lock:
            cleared = [fault for fault in self._faults if name in (None, fault.name)]
            self._faults = tuple(fault for fault in self._faults if fault not in cleared)
        for fault in cleared:
            fault.released.set()
        return len(cleared)

    def reset(self):
        """Clear the faults and bring back every deleted or archived model."""
        self.clear_faults()
        with self._lock:
            self._history.clear()
            self._usage.clear()

    def fault(self, name, host, key, model=None):
        """The first active fault ``name`` a request draws, or None."""
        for fault in self._faults:
            if fault.name == name and fault.hits(host, key, model):
                return fault
        return None

    def gone(self, host, key):
        """The model ids that model_unavailable / retired_baseline take away from this request."""
        gone = set()
        for fault in self._faults:
            if fault.name in GONE_FAULTS and fault.in_scope(host, key):
                gone |= fault.models
        return gone

    # the catalog as this simulator's history changed it

    def exists(self, name):
        """Known, not retired, not deleted (an archived model exists)."""
        model_id = catalog.canonical(name)
        return model_id in catalog.CARDS and model_id not in catalog.RETIRED and self._history.get(model_id) != "deleted"

    def available(self, name, gone=frozenset()):
        """Usable: it exists, is not archived, and no fault takes it away."""
        model_id = catalog.canonical(name)
        return model_id not in self._history and model_id not in gone and self.exists(name)

    def delete(self, name):
        """Delete a fine-tuned model."""
        self._history[catalog.canonical(name)] = "deleted"

    def archive(self, name, archived):
        """Archive (True) or unarchive (False) a fine-tuned model that exists."""
        if archived:
            self._history[catalog.canonical(name)] = "archived"
        else:
            self._history.pop(catalog.canonical(name), None)

    def count_usage(self, key, tokens=0):
        """Count a call against the key's minute; returns its quota headers, the limits and what is left of them."""
        minute = int(time.time() // 60)
        with self._lock:
            window, requests, used = self._usage.get(key, (minute, 0, 0))
            if window != minute:
                requests = used = 0
            self._usage[key] = (minute, requests + 1, used + tokens)
        return {"x-ratelimit-limit-req-minute": REQUESTS_PER_MINUTE,
                "x-ratelimit-remaining-req-minute": max(REQUESTS_PER_MINUTE - requests - 1, 0),
                "x-ratelimit-limit-tokens-minute": TOKENS_PER_MINUTE,
                "x-ratelimit-remaining-tokens-minute": max(TOKENS_PER_MINUTE - used - tokens, 0)}

    # what a call gets: the HTTP API plays it, /_lab/calls reports it

    def stall(self, host, key, model):
        """What holds a call before its answer: ``(closed, hang fault or None, slow delay in seconds)``."""
        if self.fault("complete_failure", host, key, model):
            return True, None, 0.0
        hang = self.fault("hang", host, key, model)
        slow = self.fault("slow", host, key, model)
        return False, hang, slow.spec["delay_s"] if slow else 0.0

    def refusal(self, host, key, model):
        """``(status, body, headers)`` when the key check or a fault answers an API call, else None."""
        revoked = self.fault("credentials", host, key, model) if key in self.keys else None
        failing = self.fault("server_error", host, key, model)
        limited = next((fault for fault in self._faults if fault.name == "rate_limit" and fault.spec["quota"] == "key"
                        and fault.in_scope(host, key)), None)
        if key not in self.keys or (revoked and revoked.spec["status"] == 401):
            return 401, {"message": "Unauthorized", "request_id": str(uuid.uuid4())}, None
        if revoked:
            return 403, None, None
        if failing:
            status = HTTPStatus(failing.spec["status"])
            return status, _error(status.phrase, status.phrase.lower().replace(" ", "_"), str(int(status))), None
        if limited:
            return _rate_limited(limited)
        return None

    def chat_refusal(self, host, key, model):
        """``(status, body, headers)`` when a chat call for ``model`` is rate limited or the model is not usable, else None."""
        limited = self.fault("rate_limit", host, key, model)
        if limited:
            return _rate_limited(limited)
        if not self.available(model, self.gone(host, key)):
            return 400, _invalid_model(model), None
        return None

    def answers(self, calls):
        """What each chat call ``[host, key, model]`` would get, decided now by the same faults and draws as the
        API's, without waiting: ``[status or None (connection closed), seconds before the answer, error body or None]``.
        The light lab's hosts make their calls this way, a batch per tick, instead of one HTTP request each."""
        out = []
        for host, key, model in calls:
            closed, hang, delay = self.stall(host, key, model)
            if closed:
                out.append([None, 0.0, None])
                continue
            refused = self.refusal(host, key, model) or self.chat_refusal(host, key, model)
            status, body = refused[:2] if refused else (200, None)
            out.append([int(status), delay + (hang.spec["delay_s"] if hang else 0.0), body])
        return out

    def log(self, line):
        """Append a line to the request log (line-buffered, never synced)."""
        if self._log:
            with self._lock:
                if not self._log.closed:
                    self._log.write(line + "\n")


def _rate_limited(fault):
    """The 429 of a rate_limit fault: its Retry-After, and the quota's figures with nothing left."""
    return 429, _error("Rate limit exceeded", "rate_limited", "1300"), {
        "Retry-After": fault.spec["retry_after"],
        "x-ratelimit-limit-req-minute": REQUESTS_PER_MINUTE, "x-ratelimit-remaining-req-minute": 0,
        "x-ratelimit-limit-tokens-minute": TOKENS_PER_MINUTE, "x-ratelimit-remaining-tokens-minute": 0}


def _tokens(content):
    return len(content.split()) if isinstance(content, str) else 0


def _check_chat(body):
    """The FastAPI-style validation errors of a chat request body."""
    if body is NOT_JSON:
        return [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error"}]
    if not isinstance(body, dict):
        return [{"type": "model_attributes_type", "loc": ["body"], "msg": "Input should be a valid dictionary or object", "input": body}]
    errors = []
    if "model" not in body:
        errors.append({"type": "missing", "loc": ["body", "model"], "msg": "Field required", "input": body})
    elif not isinstance(body["model"], str):
        errors.append({"type": "string_type", "loc": ["body", "model"], "msg": "Input should be a valid string", "input": body["model"]})
    messages = body.get("messages")
    if "messages" not in body:
        errors.append({"type": "missing", "loc": ["body", "messages"], "msg": "Field required", "input": body})
    elif not isinstance(messages, list) or not messages:
        errors.append({"type": "too_short", "loc": ["body", "messages"], "msg": "Input should be a non-empty list", "input": messages})
    else:
        errors.extend({"type": "union_tag_invalid", "loc": ["body", "messages", index], "input": message,
                       "msg": f"Input tag should be one of {', '.join(ROLES)} (field 'role')"}
                      for index, message in enumerate(messages) if not isinstance(message, dict) or message.get("role") not in ROLES)
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0):
        errors.append({"type": "greater_than_equal", "loc": ["body", "max_tokens"], "msg": "Input should be an integer >= 0", "input": max_tokens})
    if body.get("stream"):
        errors.append({"type": "value_error", "loc": ["body", "stream"], "msg": "The lab simulator does not stream", "input": True})
    return errors


def _completion(body):
    """A ChatCompletionResponse for a valid request, honouring ``max_tokens``."""
    words = ANSWER.split()
    limit = body.get("max_tokens")
    finish = "length" if limit is not None and limit < len(words) else "stop"
    words = words[:limit]
    prompt = max(1, sum(_tokens(message.get("content")) for message in body["messages"]))
    return {
        "id": uuid.uuid4().hex, "object": "chat.completion", "model": body["model"], "created": int(time.time()),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words), "tool_calls": None, "prefix": False},
                     "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)},
    }


def _route(path):
    """(route, model id) of an API path; route is None when there is no such endpoint."""
    if path == "/v1/models":
        return "list", None
    if path.startswith("/v1/models/") and len(path) > len("/v1/models/"):
        return "model", unquote(path[len("/v1/models/"):])
    if path == "/v1/chat/completions":
        return "chat", None
    prefix, suffix = "/v1/fine_tuning/models/", "/archive"
    if path.startswith(prefix) and path.endswith(suffix) and len(path) > len(prefix + suffix):
        return "archive", unquote(path[len(prefix):-len(suffix)])
    return None, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mistral-lab-simulator/1.0"
    sys_version = ""
    disable_nagle_algorithm = True
    sent = "-"
    raw = b""

    def do_GET(self):  # pylint: disable=invalid-name
        """Every method goes through the same dispatch."""
        started = time.monotonic()
        self.sent = "-"
        length = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(length) if length > 0 else b""
        path = urlsplit(self.path).path
        key = self._bearer()
        try:
            if path.startswith("/_lab/"):
                self._lab(path)
            elif path.startswith("/v1/"):
                self._api(path, key)
            else:
                self._send(404, {"detail": "Not Found"})
        finally:
            fingerprint = hashlib.sha256(key.encode()).hexdigest()[:8] if key else "-"
            self.server.simulator.log(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.client_address[0]} {self.command} {path} "
                                      f"{self.sent} {(time.monotonic() - started) * 1000:.1f}ms key={fingerprint}")

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def log_request(self, code="-", size="-"):
        """Requests are logged by the dispatch, without their key."""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Protocol errors go to the simulator's log."""
        self.server.simulator.log(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.client_address[0]} {format % args}")

    def _bearer(self):
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" else None

    def _body(self):
        try:
            return json.loads(self.raw) if self.raw else None
        except ValueError:
            return NOT_JSON

    def _send(self, status, payload=None, headers=None):
        data = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(data)
        self.sent = status

    # /_lab: fault control

    def _lab(self, path):
        sim = self.server.simulator
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            self._send(403, {"message": "the lab's fault control answers loopback clients only"})
        elif path == "/_lab/reset" and self.command == "POST":
            sim.reset()
            self._send(200, {"faults": []})
        elif path == "/_lab/faults" and self.command == "GET":
            self._send(200, {"faults": sim.faults()})
        elif path == "/_lab/faults" and self.command == "POST":
            body = self._body()
            try:
                self._send(201, sim.add_fault(body))
            except ValueError as err:
                self._send(400, {"message": "the body is not JSON" if body is NOT_JSON else str(err)})
        elif path == "/_lab/calls" and self.command == "POST":
            body = self._body()
            try:
                self._send(200, {"answers": sim.answers(_calls(body))})
            except ValueError as err:
                self._send(400, {"message": str(err)})
        elif path == "/_lab/faults" and self.command == "DELETE":
            self._send(200, {"cleared": sim.clear_faults(), "faults": []})
        elif path.startswith("/_lab/faults/") and self.command == "DELETE":
            name = unquote(path[len("/_lab/faults/"):])
            if name in FAULTS:
                self._send(200, {"cleared": sim.clear_faults(name), "faults": sim.faults()})
            else:
                self._send(400, {"message": f"unknown fault name {name!r}: one of {', '.join(FAULTS)}"})
        else:
            self._send(404, {"detail": "Not Found"})

    # /v1: the API

    def _api(self, path, key):
        sim = self.server.simulator
        host = self.client_address[0]
        route, model = _route(path)
        body = self._body() if route == "chat" else None
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            model = body["model"]
        if self._failed(host, key, model):
            return
        if route is None:
            self._send(404, {"detail": "Not Found"})
        elif self.command not in ROUTES[route]:
            self._send(405, {"detail": "Method Not Allowed"})
        elif route == "chat":
            self._chat(body, host, key)
        elif route == "list":
            gone = sim.gone(host, key)
            self._send(200, {"object": "list", "data": [catalog.card(name) for name in catalog.live_names() if sim.available(name, gone)]},
                       sim.count_usage(key))
        else:
            self._model(route, model, host, key)

    def _failed(self, host, key, model):
        """Play the faults every API call may draw, and the key check; True when that answered the request."""
        sim = self.server.simulator
        closed, hang, delay = sim.stall(host, key, model)
        if closed:
            self.close_connection = True
            self.sent = "closed"
            return True
        if hang:
            hang.released.wait(hang.spec["delay_s"])
        time.sleep(delay)
        refused = sim.refusal(host, key, model)
        if refused:
            self._send(*refused)
        return self.sent != "-"

    def _model(self, route, model, host, key):
        sim = self.server.simulator
        usage = sim.count_usage(key)
        missing = not sim.exists(model) or catalog.canonical(model) in sim.gone(host, key)
        if missing or (self.command == "GET" and not sim.available(model)):
            self._send(404, _invalid_model(model), usage)
        elif self.command == "GET":
            self._send(200, catalog.card(model), usage)
        elif not catalog.is_fine_tuned(model):
            action = "deleted" if route == "model" else "archived"
            self._send(400, _error(f"Model {model} is a base model: only fine-tuned models can be {action}", "invalid_request_error"))
        elif route == "model":
            sim.delete(model)
            self._send(200, {"id": model, "object": "model", "deleted": True})
        else:
            sim.archive(model, self.command == "POST")
            self._send(200, {"id": model, "object": "model", "archived": self.command == "POST"})

    def _chat(self, body, host, key):
        sim = self.server.simulator
        errors = _check_chat(body)
        if errors:
            self._send(422, {"detail": errors})
            return
        model = body["model"]
        refused = sim.chat_refusal(host, key, model)
        if refused:
            status, payload, headers = refused
            # a 429 says what ran out; any other answer was a request counted against the key's minute
            self._send(status, payload, headers if status == 429 else sim.count_usage(key))
            return
        answer = _completion(body)
        cost = answer["usage"]["total_tokens"]
        headers = dict(sim.count_usage(key, cost), **{"x-ratelimit-tokens-query-cost": cost})
        deprecation = catalog.CARDS[catalog.canonical(model)]["deprecation"]
        if deprecation:
            headers["x-model-deprecation-timestamp"] = deprecation
        self._send(200, answer, headers)


def main(argv=None):
    """``python -m lab.mistral``: serve until SIGTERM or Ctrl-C, with the keys of the state folder."""
    parser = argparse.ArgumentParser(prog="python -m lab.mistral", description="The Genesis lab's Mistral API simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--state-dir", type=Path, default=paths.state_dir())
    args = parser.parse_args(argv)
    try:
        keys = paths.load_keys(args.state_dir)
        simulator = MistralSimulator(args.host, args.port, [keys["fleet"], keys["spare"]], log_path=args.state_dir / "mistral.log")
    except (OSError, ValueError, KeyError) as err:
        parser.exit(1, f"lab.mistral: cannot start: {err!r} (keys are made by `python -m lab up` in {paths.keys_file(args.state_dir)})\n")
    pid_file = args.state_dir / "mistral.pid"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    simulator.start()
    pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    print(f"lab.mistral: serving {simulator.url} (pid {os.getpid()})", flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
        if pid_file.exists() and pid_file.read_text(encoding="utf-8").strip() == str(os.getpid()):
            pid_file.unlink()


if __name__ == "__main__":
    main()
