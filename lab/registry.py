"""The lab's ModelRegistry: routes an agent's chat to its fine-tuned model or its baseline.

It is what a Genesis app's ``infrastructure/model_registry.py`` provides (contract
section 1): ``get_model(agent)`` and ``chat(agent, messages, use_finetuned=True,
use_fallback=True)``, with the routing and fallback of contract section 3. Calls go
through the real ``mistralai`` SDK.
"""

import json
import os
import random


def _sdk():
    """The SDK's client class, its error class and its HTTP module, imported on first use: the light lab's
    server routes its hosts' requests with this module without calling the SDK, which costs ~50 MB to import."""
    try:  # SDK >= 2.0
        from mistralai.client import Mistral
        from mistralai.client.errors import MistralError
    except ImportError:  # SDK 1.x
        from mistralai import Mistral
        from mistralai.models import SDKError as MistralError
    try:  # the SDK's HTTP client: httpx2 for SDK 3.x, httpx before
        import httpx2 as httpx
    except ImportError:
        import httpx
    _reuse_the_sdks_wrapper_models()
    return Mistral, MistralError, httpx


_WRAPPERS = {}


def _reuse_the_sdks_wrapper_models():
    """The SDK builds a pydantic model class around the body of every request and answer (serializers.py:
    create_model("Marshaller"/"Unmarshaller", body=(type, ...)) on each call): two thirds of a lab host's CPU at
    2.5 calls a second. The lab keeps each such class once built, by name and body type; what the SDK sends
    and reads stays the same. The collection's modules use the SDK untouched."""
    try:
        from mistralai.client.utils import serializers
    except ImportError:  # another SDK layout: leave it as it is
        return
    build = getattr(serializers, "create_model", None)
    if build is None or getattr(build, "lab_reused", False):
        return

    def create_model(name, **fields):
        body = fields.get("body")
        if name not in ("Marshaller", "Unmarshaller") or set(fields) != {"body", "__config__"} or not isinstance(body, tuple):
            return build(name, **fields)
        try:
            return _WRAPPERS[(name, body)]
        except TypeError:  # a body type that cannot be a key
            return build(name, **fields)
        except KeyError:
            return _WRAPPERS.setdefault((name, body), build(name, **fields))
    create_model.lab_reused = True
    serializers.create_model = create_model


class ModelCallError(Exception):
    """A failed model call: ``code`` is the HTTP status as text, or ``timeout`` / ``connect``."""

    def __init__(self, model, code, message):
        super().__init__(f"{model}: {code} {message}")
        self.model = model
        self.code = code
        self.message = message


def error_message(status, body):
    """The API's own message from an error body (text), else a short generic one."""
    try:
        data = json.loads(body or "")
        if isinstance(data, dict):
            return str(data.get("message") or data.get("detail") or "")[:200] or f"HTTP {status}"
    except ValueError:
        pass
    return {403: "Forbidden", 401: "Unauthorized"}.get(status, f"HTTP {status}")


def classify(exc, model):
    """Turn whatever the SDK raised into a ModelCallError."""
    if isinstance(exc, _sdk()[1]) and getattr(exc, "status_code", -1) > 0:
        return ModelCallError(model, str(exc.status_code), error_message(exc.status_code, getattr(exc, "body", "")))
    names = " ".join(cls.__name__ for cls in type(exc).__mro__)
    if "Timeout" in names:
        return ModelCallError(model, "timeout", "Request timed out")
    return ModelCallError(model, "connect", f"Connection failed: {type(exc).__name__}")


class ModelRegistry:
    """Per-agent model routing over one SDK client per thread of use."""

    def __init__(self, models_config, api_key=None, server_url=None, timeout_s=3.0, source_address=None):
        self.models = models_config
        self.api_key = api_key if api_key is not None else os.environ.get("MISTRAL_API_KEY")
        self.server_url = server_url
        self.timeout_s = float(timeout_s)
        self.source_address = source_address

    def client(self):
        """A new SDK client; callers keep one per thread (httpx pools are not shared across threads here)."""
        mistral, _, httpx = _sdk()
        transport = httpx.HTTPTransport(local_address=self.source_address, retries=0) if self.source_address else None
        http = httpx.Client(transport=transport, timeout=self.timeout_s)
        return mistral(api_key=self.api_key, server_url=self.server_url, client=http, timeout_ms=int(self.timeout_s * 1000))

    def agent(self, agent):
        return self.models["agents"][agent]

    def finetuned_enabled(self, agent):
        return bool(self.models.get("use_finetuned", True)) and bool(self.agent(agent).get("use_finetuned", True))

    def get_model(self, agent, rng=random):
        """The model the next request of ``agent`` goes to (rollout bucket drawn from ``rng``)."""
        conf = self.agent(agent)
        if self.finetuned_enabled(agent) and rng.random() * 100 < float(self.models.get("rollout_percentage", 100)):
            return conf["finetuned"]
        return conf["baseline"]

    def primary_model(self, agent):
        """The model an agent is configured to use (what /health reports as ``model``)."""
        conf = self.agent(agent)
        if self.finetuned_enabled(agent) and float(self.models.get("rollout_percentage", 100)) > 0:
            return conf["finetuned"]
        return conf["baseline"]

    def call(self, client, model, messages, max_tokens=16):
        """One chat call; returns the response or raises ModelCallError."""
        try:
            return client.chat.complete(model=model, messages=messages, max_tokens=max_tokens)
        except Exception as exc:  # pylint: disable=broad-except
            raise classify(exc, model) from None

    def chat(self, agent, messages, use_finetuned=True, use_fallback=True, client=None, rng=random, on_attempt=None):
        """Chat as the runbook describes: fine-tuned first when routed there, the baseline once on failure.

        ``on_attempt(model, kind, error_or_None)`` is told about every call, for metrics and logs.
        Returns ``(response, model, fell_back)``.
        """
        client = client or self.client()
        conf = self.agent(agent)
        model = self.get_model(agent, rng) if use_finetuned else conf["baseline"]
        kind = "finetuned" if model == conf["finetuned"] else "baseline"
        try:
            response = self.call(client, model, messages)
            if on_attempt:
                on_attempt(model, kind, None)
            return response, model, False
        except ModelCallError as err:
            if on_attempt:
                on_attempt(model, kind, err)
            if kind != "finetuned" or not use_fallback:
                raise
        baseline = conf["baseline"]
        try:
            response = self.call(client, baseline, messages)
        except ModelCallError as err:
            if on_attempt:
                on_attempt(baseline, "baseline", err)
            raise
        if on_attempt:
            on_attempt(baseline, "baseline", None)
        return response, baseline, True
