"""Fixtures for the Mistral simulator's tests: a simulator on a free loopback port, SDK clients, the OpenAPI schemas."""

from pathlib import Path

import httpx2 as httpx
import pytest
import yaml
from jsonschema import FormatChecker
from mistralai.client import Mistral
from openapi_schema_validator import OAS31Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from lab import paths
from lab.mistral import MistralSimulator

SDK_TIMEOUT_MS = 5000
OPENAPI = Path(__file__).resolve().parent / "data" / ".vendor" / "mistral-openapi.yaml"


@pytest.fixture(scope="module")
def sim_keys():
    """The simulator's two valid keys."""
    return {"fleet": paths.new_key(), "spare": paths.new_key()}


@pytest.fixture(scope="module")
def mistral_sim(sim_keys):
    """One in-process simulator per test module, on a port the OS picks."""
    simulator = MistralSimulator("127.0.0.1", 0, keys=[sim_keys["fleet"], sim_keys["spare"]]).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def sim(mistral_sim):
    """The simulator with no faults and its catalog as shipped, before and after the test."""
    mistral_sim.reset()
    yield mistral_sim
    mistral_sim.reset()


@pytest.fixture
def seen():
    """Every HTTP response the test's SDK clients received, in order (the SDK hides headers of successes)."""
    return []


@pytest.fixture
def sdk(sim, sim_keys, seen):
    """``sdk(key=None, source=None, timeout_ms=...)``: a real Mistral client for the simulator, from ``source``."""
    transports = []

    def make(key=None, source=None, timeout_ms=SDK_TIMEOUT_MS):
        http = httpx.Client(transport=httpx.HTTPTransport(local_address=source), event_hooks={"response": [seen.append]})
        transports.append(http)
        return Mistral(api_key=key or sim_keys["fleet"], server_url=sim.url, timeout_ms=timeout_ms, client=http)

    yield make
    for http in transports:
        http.close()


@pytest.fixture(scope="session")
def openapi():
    """``openapi(schema_name, instance)``: validate against a schema of Mistral's OpenAPI description."""
    document = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    registry = Registry().with_resource("urn:mistral-openapi", Resource.from_contents(document, default_specification=DRAFT202012))

    def validate(name, instance):
        schema = {"$ref": f"urn:mistral-openapi#/components/schemas/{name}"}
        OAS31Validator(schema, registry=registry, format_checker=FormatChecker()).validate(instance)
        return document["components"]["schemas"][name]

    return validate
