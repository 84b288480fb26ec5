"""The lab's Mistral API simulator, seen through the real mistralai SDK."""

import hashlib
import http.client
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx
import jsonschema
import pytest
from mistralai.client.errors import HTTPValidationError, MistralError
from mistralai.client.models import BaseModelCard, FTModelCard

from lab import catalog, paths

FT = catalog.LAB_AGENTS["qa_agent"]["finetuned"]
OTHER_FT = catalog.LAB_AGENTS["legal_agent"]["finetuned"]
BASE = catalog.LAB_AGENTS["qa_agent"]["baseline"]
RETIRED = ("open-mistral-7b", "open-mixtral-8x7b", "ft:open-mistral-7b:587a6b29:20240514:7e773925")
HELLO = [{"role": "user", "content": "Say hello to the lab"}]
RATE_HEADERS = ("x-ratelimit-limit-req-minute", "x-ratelimit-remaining-req-minute",
                "x-ratelimit-limit-tokens-minute", "x-ratelimit-remaining-tokens-minute")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lab(sim, method, path, body=None):
    """A call to the simulator's fault control (no key)."""
    return httpx.request(method, sim.url + path, json=body, timeout=5)


def add_fault(sim, **fault):
    """Post a fault; it must be accepted."""
    answer = lab(sim, "POST", "/_lab/faults", fault)
    assert answer.status_code == 201, answer.text
    return answer.json()


def chat(client, model=FT, **kwargs):
    """A small chat call through the SDK."""
    return client.chat.complete(model=model, messages=HELLO, max_tokens=kwargs.pop("max_tokens", 64), **kwargs)


def api_error(call, *args, **kwargs):
    """The MistralError a call raises."""
    with pytest.raises(MistralError) as info:
        call(*args, **kwargs)
    return info.value


def assert_invalid_model(err, status, model):
    """The API's answer for a model it does not serve."""
    assert err.status_code == status
    assert json.loads(err.body) == {"object": "error", "message": f"Invalid model: {model}", "type": "invalid_model",
                                    "param": None, "code": "1500"}


def raw_get(sim, key, path):
    """A GET without the SDK, to see the JSON as sent."""
    return httpx.get(sim.url + path, headers={"Authorization": f"Bearer {key}"}, timeout=5)


# paths


def test_make_keys_writes_two_private_keys(tmp_path):
    keys = paths.make_keys(tmp_path)
    assert set(keys) == {"fleet", "spare"} and keys["fleet"] != keys["spare"]
    assert all(re.fullmatch(r"[A-Za-z0-9]{32}", key) for key in keys.values())
    assert paths.load_keys(tmp_path) == keys
    assert stat.S_IMODE(paths.keys_file(tmp_path).stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.keys_file(tmp_path).parent.stat().st_mode) == 0o700
    assert paths.make_keys(tmp_path) != keys


def test_state_dir_follows_genesis_lab_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("GENESIS_LAB_DIR", str(tmp_path))
    assert paths.state_dir() == tmp_path
    monkeypatch.setenv("GENESIS_LAB_DIR", "")
    monkeypatch.setenv("GENESIS_LAB_NET", "0")
    assert str(paths.state_dir()) == os.path.join(REPO, ".lab")
    assert str(paths.inventory_dir()) == os.path.join(REPO, "inventories", "lab")
    # lab N: its own state folder and inventory (and addresses, ports)
    monkeypatch.setenv("GENESIS_LAB_NET", "7")
    assert str(paths.state_dir()) == os.path.join(REPO, ".lab-7")
    assert str(paths.inventory_dir()) == os.path.join(REPO, "inventories", "lab-7")
    for bad in ("100", "-1", "x"):
        monkeypatch.setenv("GENESIS_LAB_NET", bad)
        with pytest.raises(ValueError, match="GENESIS_LAB_NET=%r is not allowed: give a number from 0 to 99" % bad):
            paths.state_dir()


# the catalog


def test_lab_agents_match_the_readme_table():
    with open(os.path.join(REPO, "lab", "README.md"), encoding="utf-8") as readme:
        rows = re.findall(r"^\| (\w+_agent) \| `([^`]+)` \| `([^`]+)` \|$", readme.read(), re.M)
    assert [(agent, models["finetuned"], models["baseline"]) for agent, models in catalog.LAB_AGENTS.items()] == rows
    assert len(rows) == 5


def test_listed_cards_fit_the_openapi_schemas_and_the_sdk(sim, sim_keys, sdk, openapi):
    answer = raw_get(sim, sim_keys["fleet"], "/v1/models")
    assert answer.status_code == 200 and "x-model-deprecation-timestamp" not in answer.headers
    body = answer.json()
    openapi("ModelList", body)
    for card in body["data"]:
        schema = openapi({"base": "BaseModelCard", "fine-tuned": "FTModelCard"}[card["type"]], card)
        assert set(card) <= set(schema["properties"]), card["id"]
        assert isinstance(card["created"], int) and card["capabilities"]["completion_chat"] is True
    ids = [card["id"] for card in body["data"]]
    assert ids == catalog.live_names()
    assert {FT, OTHER_FT, BASE, "ministral-8b-latest", "mistral-small-2409", "codestral-latest"} <= set(ids)
    assert not set(RETIRED) & set(ids)
    listed = sdk().models.list().data
    assert [card.id for card in listed] == ids
    assert [type(card) for card in listed] == [FTModelCard if card["type"] == "fine-tuned" else BaseModelCard for card in body["data"]]


@pytest.mark.parametrize("name", catalog.live_names())
def test_each_card_retrieves_validated_and_parsed(sim, sim_keys, sdk, openapi, name):
    body = raw_get(sim, sim_keys["fleet"], f"/v1/models/{name}").json()
    openapi("BaseModelCard" if body["type"] == "base" else "FTModelCard", body)
    card = sdk().models.retrieve(model_id=name)
    assert card.id == name and card.type == body["type"]
    if catalog.is_fine_tuned(name):
        assert isinstance(card, FTModelCard) and card.root == name.split(":")[1] and card.archived is False and card.job == body["job"]
    else:
        assert isinstance(card, BaseModelCard)


def test_the_schema_check_can_fail(openapi):
    card = catalog.card(FT)
    del card["job"]
    with pytest.raises(jsonschema.ValidationError):
        openapi("FTModelCard", card)
    with pytest.raises(jsonschema.ValidationError):
        openapi("BaseModelCard", dict(catalog.card(BASE), created="yesterday"))


def test_an_alias_resolves_to_its_pinned_model(sdk):
    card = sdk().models.retrieve(model_id="ministral-8b-latest")
    assert (card.id, card.aliases) == ("ministral-8b-latest", [BASE])
    assert sdk().models.retrieve(model_id=BASE).aliases == ["ministral-8b-latest"]
    assert chat(sdk(), "ministral-8b-latest").model == "ministral-8b-latest"


def test_deprecated_model_is_flagged_on_chat_only(sdk, seen):
    client = sdk()
    card = client.models.retrieve(model_id="mistral-small-2409")
    assert (card.deprecation.year, card.deprecation_replacement_model) == (2027, "mistral-small-latest")
    assert "x-model-deprecation-timestamp" not in seen[-1].headers
    assert chat(client, "mistral-small-2409").choices[0].message.content
    assert seen[-1].headers["x-model-deprecation-timestamp"] == "2027-01-31T00:00:00Z"
    chat(client, BASE)
    assert "x-model-deprecation-timestamp" not in seen[-1].headers


@pytest.mark.parametrize("model", RETIRED)
def test_retired_models_answer_like_deleted_ones(sdk, model):
    client = sdk()
    assert_invalid_model(api_error(client.models.retrieve, model_id=model), 404, model)
    assert_invalid_model(api_error(chat, client, model), 400, model)
    assert model not in [card.id for card in client.models.list().data]


def test_unknown_model_is_invalid(sdk):
    assert_invalid_model(api_error(chat, sdk(), "mistral-tiny-2099"), 400, "mistral-tiny-2099")


# keys and chat


def test_a_bad_or_missing_key_gets_401(sim, sim_keys, sdk):
    bad = paths.new_key()
    err = api_error(sdk(key=bad).models.list)
    body = json.loads(err.body)
    assert err.status_code == 401 and body["message"] == "Unauthorized" and UUID.match(body["request_id"])
    assert bad not in str(err)
    assert httpx.get(sim.url + "/v1/models", timeout=5).status_code == 401
    assert raw_get(sim, sim_keys["spare"], "/v1/models").status_code == 200


def test_chat_answer_has_the_api_shape_and_rate_headers(sdk, seen):
    client = sdk()
    answer = chat(client, max_tokens=200)
    assert answer.object == "chat.completion" and answer.model == FT and answer.id
    assert abs(answer.created - time.time()) < 60
    assert answer.choices[0].finish_reason == "stop" and len(answer.choices[0].message.content.split()) > 5
    usage = answer.usage
    assert usage.prompt_tokens == 5 and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    first = seen[-1].headers
    assert int(first["x-ratelimit-tokens-query-cost"]) == usage.total_tokens
    assert all(int(first[name]) > 0 for name in RATE_HEADERS)
    chat(client)
    assert int(seen[-1].headers["x-ratelimit-remaining-req-minute"]) == int(first["x-ratelimit-remaining-req-minute"]) - 1


def test_every_answered_call_counts_against_the_key_and_says_what_is_left(sdk, seen):
    client = sdk()
    client.models.list()
    listed = seen[-1].headers
    assert all(int(listed[name]) > 0 for name in RATE_HEADERS) and "x-ratelimit-tokens-query-cost" not in listed
    client.models.retrieve(model_id=FT)
    retrieved = seen[-1].headers
    assert int(retrieved["x-ratelimit-remaining-req-minute"]) == int(listed["x-ratelimit-remaining-req-minute"]) - 1
    assert retrieved["x-ratelimit-remaining-tokens-minute"] == listed["x-ratelimit-remaining-tokens-minute"]  # no tokens spent
    api_error(chat, client, "no-such-model")
    assert int(seen[-1].headers["x-ratelimit-remaining-req-minute"]) == int(retrieved["x-ratelimit-remaining-req-minute"]) - 1


def test_chat_honours_max_tokens(sdk):
    answer = chat(sdk(), max_tokens=3)
    assert answer.usage.completion_tokens == 3 and len(answer.choices[0].message.content.split()) == 3
    assert answer.choices[0].finish_reason == "length"


def test_chat_body_is_validated(sim, sim_keys, sdk):
    err = api_error(sdk().chat.complete, model=FT, messages=[])
    assert isinstance(err, HTTPValidationError) and err.status_code == 422
    assert err.data.detail[0].loc == ["body", "messages"]
    headers = {"Authorization": f"Bearer {sim_keys['fleet']}"}
    answer = httpx.post(sim.url + "/v1/chat/completions", json={"messages": HELLO}, headers=headers, timeout=5)
    assert answer.status_code == 422
    assert [(error["loc"], error["type"]) for error in answer.json()["detail"]] == [(["body", "model"], "missing")]
    answer = httpx.post(sim.url + "/v1/chat/completions", content=b"{not json", headers=headers, timeout=5)
    assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == "json_invalid"


# faults


def test_credentials_revokes_the_fleet_key_with_401(sim, sim_keys, sdk):
    add_fault(sim, name="credentials")
    err = api_error(sdk().models.list)
    assert err.status_code == 401 and json.loads(err.body)["message"] == "Unauthorized"
    assert sim_keys["fleet"] not in err.body
    assert chat(sdk(key=sim_keys["spare"])).choices[0].message.content


def test_credentials_403_has_no_body(sim, sdk):
    add_fault(sim, name="credentials", status=403)
    err = api_error(chat, sdk())
    assert (err.status_code, err.body) == (403, "")


def test_rate_limit_answers_429_with_retry_after(sim, sdk):
    add_fault(sim, name="rate_limit", retry_after=7)
    client = sdk()
    err = api_error(chat, client)
    assert err.status_code == 429 and err.headers["retry-after"] == "7"
    assert json.loads(err.body) == {"object": "error", "message": "Rate limit exceeded", "type": "rate_limited", "param": None, "code": "1300"}
    assert int(err.headers["x-ratelimit-limit-req-minute"]) > 0 and int(err.headers["x-ratelimit-limit-tokens-minute"]) > 0
    assert err.headers["x-ratelimit-remaining-req-minute"] == err.headers["x-ratelimit-remaining-tokens-minute"] == "0"
    assert chat(client, BASE).model == BASE
    assert client.models.retrieve(model_id=FT).id == FT


def test_rate_limit_of_the_key_answers_429_to_every_call(sim, sim_keys, sdk):
    stored = add_fault(sim, name="rate_limit", quota="key", retry_after=3)
    assert (stored["quota"], stored["models"]) == ("key", None)
    client = sdk()
    for call in (client.models.list, lambda: client.models.retrieve(model_id=BASE), lambda: chat(client, BASE)):
        err = api_error(call)
        assert err.status_code == 429 and err.headers["retry-after"] == "3"
        assert err.headers["x-ratelimit-remaining-req-minute"] == "0"
    # the quota is the fleet key's and the spare key's alike unless keys scope it
    assert api_error(sdk(key=sim_keys["spare"]).models.list).status_code == 429
    assert lab(sim, "POST", "/_lab/faults", {"name": "rate_limit", "quota": "key", "models": [FT]}).status_code == 400
    assert "quota" in lab(sim, "POST", "/_lab/faults", {"name": "slow", "quota": "key"}).json()["message"]
    assert "models, key" in lab(sim, "POST", "/_lab/faults", {"name": "rate_limit", "quota": "month"}).json()["message"]


def test_rate_limit_ratio_is_roughly_honoured(sim, sdk):
    add_fault(sim, name="rate_limit", ratio=0.5)
    client = sdk()
    limited = 0
    for _ in range(200):
        try:
            chat(client, max_tokens=1)
        except MistralError as err:
            assert err.status_code == 429
            limited += 1
    assert 0.35 < limited / 200 < 0.65


def test_model_unavailable_takes_the_model_away(sim, sdk):
    add_fault(sim, name="model_unavailable", models=[FT])
    client = sdk()
    assert_invalid_model(api_error(client.models.retrieve, model_id=FT), 404, FT)
    assert_invalid_model(api_error(chat, client, FT), 400, FT)
    listed = [card.id for card in client.models.list().data]
    assert FT not in listed and OTHER_FT in listed
    assert chat(client, OTHER_FT).model == OTHER_FT
    assert lab(sim, "DELETE", "/_lab/faults/model_unavailable").json()["cleared"] == 1
    assert client.models.retrieve(model_id=FT).id == FT


def test_retired_baseline_retires_the_lab_baselines(sim, sdk):
    fault = add_fault(sim, name="retired_baseline")
    assert fault["models"] == list(catalog.LAB_BASELINES)
    client = sdk()
    for model in catalog.LAB_BASELINES:
        assert_invalid_model(api_error(client.models.retrieve, model_id=model), 404, model)
        assert_invalid_model(api_error(chat, client, model), 400, model)
    assert_invalid_model(api_error(chat, client, "ministral-8b-latest"), 400, "ministral-8b-latest")
    assert not set(catalog.LAB_BASELINES) & {card.id for card in client.models.list().data}
    assert chat(client, FT).model == FT


@pytest.mark.parametrize("status", [None, 500])
def test_server_error(sim, sdk, status):
    add_fault(sim, name="server_error", status=status)
    client = sdk()
    for call in (client.models.list, lambda: chat(client)):
        err = api_error(call)
        assert err.status_code == (status or 503)
        assert json.loads(err.body)["object"] == "error"


def test_slow_answers_late(sim, sdk):
    client = sdk()
    chat(client)  # how fast an answer comes without the fault: bench/mistral_sim_throughput.py
    add_fault(sim, name="slow", delay_s=0.6)
    started = time.monotonic()
    assert chat(client).model == FT
    assert time.monotonic() - started >= 0.6


def test_hang_times_out_the_sdk_without_blocking_others(sim, sdk):
    # no bound on the time: the SDK's own timeout ends the call, and the other host is answered while the hang holds
    add_fault(sim, name="hang", hosts=["127.0.0.3"])
    with pytest.raises(Exception) as info:
        chat(sdk(source="127.0.0.3", timeout_ms=400))
    assert "Timeout" in type(info.value).__name__
    assert chat(sdk(source="127.0.0.4")).model == FT
    assert lab(sim, "GET", "/_lab/faults").json()["faults"][0]["name"] == "hang"


def test_hang_releases_when_cleared(sim, sdk):
    add_fault(sim, name="hang")
    client = sdk(timeout_ms=10000)
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(chat, client)
        time.sleep(0.5)
        assert not waiting.done()
        assert lab(sim, "GET", "/_lab/faults").json()["faults"][0]["name"] == "hang"
        lab(sim, "DELETE", "/_lab/faults")
        assert waiting.result(timeout=5).model == FT  # the answer, not the SDK's timeout (10 s)


def test_complete_failure_closes_the_connection(sim, sdk):
    add_fault(sim, name="complete_failure")
    with pytest.raises(httpx.TransportError) as info:
        sdk().models.list()
    assert type(info.value).__name__ == "RemoteProtocolError"


def test_faults_can_be_scoped_to_a_host(sim, sdk):
    add_fault(sim, name="server_error", hosts=["127.0.0.3"])
    assert api_error(chat, sdk(source="127.0.0.3")).status_code == 503
    assert chat(sdk(source="127.0.0.4")).model == FT
    add_fault(sim, name="credentials", hosts=["127.0.0.4"], models=[OTHER_FT])
    assert api_error(chat, sdk(source="127.0.0.4"), OTHER_FT).status_code == 401
    assert chat(sdk(source="127.0.0.4"), FT).model == FT


@pytest.mark.parametrize("fault, words", [
    ({"name": "meteor"}, ["'meteor'", "credentials", "complete_failure"]),
    ({"name": "rate_limit", "ratio": 1.5}, ["1.5", "0..1"]),
    ({"name": "server_error", "status": 418}, ["418", "500, 502, 503, 504"]),
    ({"name": "credentials", "status": 500}, ["500", "401, 403"]),
    ({"name": "slow", "status": 503}, ["503", "null"]),
    ({"name": "credentials", "delay_s": 3}, ["delay_s", "credentials"]),
    ({"name": "model_unavailable"}, ["models"]),
    ({"name": "retired_baseline", "models": [FT]}, [FT]),
    ({"name": "slow", "colour": "red"}, ["colour"]),
])
def test_bad_faults_are_refused_with_a_reason(sim, fault, words):
    answer = lab(sim, "POST", "/_lab/faults", fault)
    assert answer.status_code == 400
    assert all(word in answer.json()["message"] for word in words), answer.json()
    assert lab(sim, "GET", "/_lab/faults").json() == {"faults": []}


def test_fault_control_lists_and_clears(sim, sdk):
    stored = add_fault(sim, name="slow", hosts=["127.0.0.9"], ratio=0.25)
    assert stored["delay_s"] == 2.0 and stored["ratio"] == 0.25 and stored["id"]
    add_fault(sim, name="server_error", hosts=["127.0.0.9"])
    assert [fault["name"] for fault in lab(sim, "GET", "/_lab/faults").json()["faults"]] == ["slow", "server_error"]
    assert lab(sim, "DELETE", "/_lab/faults/slow").json() == {"cleared": 1, "faults": [lab(sim, "GET", "/_lab/faults").json()["faults"][0]]}
    assert lab(sim, "DELETE", "/_lab/faults/meteor").status_code == 400
    assert lab(sim, "DELETE", "/_lab/faults").json()["cleared"] == 1
    sdk().models.delete(model_id=FT)
    add_fault(sim, name="complete_failure")
    assert lab(sim, "POST", "/_lab/reset").status_code == 200
    assert lab(sim, "GET", "/_lab/faults").json() == {"faults": []}
    assert sdk().models.retrieve(model_id=FT).id == FT


# model lifecycle


def test_archive_and_unarchive(sim, sim_keys, sdk, openapi):
    client = sdk()
    archived = client.models.archive(model_id=FT)
    assert (archived.id, archived.archived) == (FT, True)
    assert_invalid_model(api_error(client.models.retrieve, model_id=FT), 404, FT)
    assert_invalid_model(api_error(chat, client, FT), 400, FT)
    assert FT not in [card.id for card in client.models.list().data]
    unarchived = client.models.unarchive(model_id=FT)
    assert (unarchived.id, unarchived.archived) == (FT, False)
    card = client.models.retrieve(model_id=FT)
    assert card.archived is False
    headers = {"Authorization": f"Bearer {sim_keys['fleet']}"}
    for method, schema in (("POST", "ArchiveFTModelOut"), ("DELETE", "UnarchiveFTModelOut")):
        answer = httpx.request(method, f"{sim.url}/v1/fine_tuning/models/{FT}/archive", headers=headers, timeout=5)
        openapi(schema, answer.json())
    assert api_error(client.models.archive, model_id=BASE).status_code == 400


def test_delete_a_fine_tuned_model(sdk, seen, openapi):
    client = sdk()
    deleted = client.models.delete(model_id=FT)
    assert (deleted.id, deleted.deleted) == (FT, True)
    openapi("DeleteModelOut", seen[-1].json())
    assert_invalid_model(api_error(client.models.retrieve, model_id=FT), 404, FT)
    assert_invalid_model(api_error(chat, client, FT), 400, FT)
    assert api_error(client.models.delete, model_id=FT).status_code == 404
    assert api_error(client.models.unarchive, model_id=FT).status_code == 404
    err = api_error(client.models.delete, model_id=BASE)
    assert err.status_code == 400 and "base model" in json.loads(err.body)["message"]
    assert client.models.retrieve(model_id=BASE).id == BASE


# the process


def _free_port():
    """A port nothing listens on (the OS's pick, released for the process to take)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chat_bursts(port, key, bursts, count):
    """``bursts`` of ``count`` chat calls each, at once; their statuses."""
    with ThreadPoolExecutor(max_workers=bursts) as pool:
        return [status for burst in pool.map(lambda _: _chat_burst(port, key, count), range(bursts)) for status in burst]


def _chat_burst(port, key, count):
    """``count`` chat calls on one keep-alive connection; their statuses."""
    body = json.dumps({"model": FT, "messages": HELLO, "max_tokens": 16})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    statuses = []
    for _ in range(count):
        connection.request("POST", "/v1/chat/completions", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        reply = connection.getresponse()
        reply.read()
        statuses.append(reply.status)
    connection.close()
    return statuses


def test_the_process_serves_logs_without_the_key_and_stops_on_sigterm(tmp_path):
    keys = paths.make_keys(tmp_path)
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "lab.mistral", "--port", str(port), "--state-dir", str(tmp_path)],  # pylint: disable=consider-using-with
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60  # a wait, not a bound: a loaded machine starts Python slowly
        while not (tmp_path / "mistral.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "mistral.pid").read_text(encoding="utf-8").strip() == str(process.pid)
        # the lab's load: how fast they go is measured by bench/mistral_sim_throughput.py, not asserted
        assert chat_bursts(port, keys["fleet"], 6, 100) == [200] * 600
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0, output
    assert not (tmp_path / "mistral.pid").exists()
    log = (tmp_path / "mistral.log").read_text(encoding="utf-8")
    assert log.count("POST /v1/chat/completions 200") == 600
    assert keys["fleet"] not in log and keys["spare"] not in log + output
    assert f"key={hashlib.sha256(keys['fleet'].encode()).hexdigest()[:8]}" in log
