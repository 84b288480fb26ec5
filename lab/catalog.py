"""The Mistral simulator's model catalog, and the lab's per-agent model table.

Cards follow the ``BaseModelCard`` / ``FTModelCard`` schemas of Mistral's OpenAPI description.
"""

import copy
import uuid
from datetime import datetime, timezone

LAB_AGENTS = {
    "qa_agent": {"finetuned": "ft:ministral-8b-2512:587a6b29:20251014:7e773925", "baseline": "ministral-8b-2512"},
    "support_agent": {"finetuned": "ft:ministral-8b-2512:587a6b29:20251014:1c2d3e4f", "baseline": "ministral-8b-2512"},
    "legal_agent": {"finetuned": "ft:mistral-small-2506:587a6b29:20251015:9a8b7c6d", "baseline": "mistral-small-2506"},
    "analyst_agent": {"finetuned": "ft:mistral-small-2506:587a6b29:20251015:5f4e3d2c", "baseline": "mistral-small-2506"},
    "content_agent": {"finetuned": "ft:ministral-3b-2512:587a6b29:20251016:0b1a2c3d", "baseline": "ministral-3b-2512"},
}
LAB_FINE_TUNED = tuple(models["finetuned"] for models in LAB_AGENTS.values())
LAB_BASELINES = tuple(dict.fromkeys(models["baseline"] for models in LAB_AGENTS.values()))

# The organisation that owns the lab's fine-tuned models (its first 8 hex digits are in their ids).
ORGANISATION = "587a6b29-3f1c-4d2e-9b8a-6c5d4e3f2a1b"
CAPABILITIES = ("completion_chat", "function_calling", "completion_fim", "fine_tuning", "vision", "ocr",
                "classification", "moderation", "audio", "audio_transcription")


def _timestamp(day):
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp())


def _base(model_id, released, extra=(), **fields):
    """A base model's card; ``extra`` capabilities beyond chat and fine-tuning, ``fields`` override the rest."""
    return {
        "id": model_id, "object": "model", "created": _timestamp(released), "owned_by": "mistralai",
        "capabilities": {name: name in ("completion_chat", "function_calling", "fine_tuning") + extra for name in CAPABILITIES},
        "name": model_id, "description": f"Lab simulation of {model_id}", "max_context_length": 131072,
        "aliases": [], "deprecation": None, "deprecation_replacement_model": None,
        "default_model_temperature": 0.3, "type": "base", **fields,
    }


def _fine_tuned(model_id, root, deprecation=None):
    day = model_id.split(":")[3]
    return dict(
        _base(model_id, f"{day[:4]}-{day[4:6]}-{day[6:]}", max_context_length=root["max_context_length"], deprecation=deprecation),
        owned_by=ORGANISATION, name=None, description=None, default_model_temperature=None,
        capabilities=dict(root["capabilities"], fine_tuning=False),
        type="fine-tuned", job=str(uuid.uuid5(uuid.NAMESPACE_URL, model_id)), root=root["id"], archived=False,
    )


def _build():
    bases = [
        _base("ministral-3b-2512", "2025-12-02", aliases=["ministral-3b-latest"]),
        _base("ministral-8b-2512", "2025-12-02", aliases=["ministral-8b-latest"]),
        _base("mistral-small-2506", "2025-06-20", ("vision",), aliases=["mistral-small-latest"]),
        _base("mistral-medium-2508", "2025-08-12", ("vision",), aliases=["mistral-medium-latest"]),
        _base("mistral-large-2411", "2024-11-18", aliases=["mistral-large-latest"]),
        _base("codestral-2508", "2025-07-30", ("completion_fim",), aliases=["codestral-latest"], max_context_length=262144),
        _base("mistral-small-2409", "2024-09-18", max_context_length=32768,
              deprecation="2027-01-31T00:00:00Z", deprecation_replacement_model="mistral-small-latest"),
        _base("open-mistral-7b", "2023-09-27", max_context_length=32768,
              deprecation="2024-11-30T00:00:00Z", deprecation_replacement_model="ministral-8b-latest"),
        _base("open-mixtral-8x7b", "2023-12-11", max_context_length=32768,
              deprecation="2024-11-30T00:00:00Z", deprecation_replacement_model="mistral-small-latest"),
    ]
    cards = {card["id"]: card for card in bases}
    for model_id in LAB_FINE_TUNED:
        cards[model_id] = _fine_tuned(model_id, cards[model_id.split(":")[1]])
    runbook_id = "ft:open-mistral-7b:587a6b29:20240514:7e773925"
    cards[runbook_id] = _fine_tuned(runbook_id, cards["open-mistral-7b"], deprecation="2024-11-30T00:00:00Z")
    return cards


CARDS = _build()
# Retired on 2025-03-30: they answer like deleted models.
RETIRED = frozenset(("open-mistral-7b", "open-mixtral-8x7b", "ft:open-mistral-7b:587a6b29:20240514:7e773925"))
ALIASES = {alias: entry["id"] for entry in CARDS.values() for alias in entry["aliases"]}


def canonical(name):
    """The model id a name stands for (an alias resolves to its pinned id)."""
    return ALIASES.get(name, name)


def is_fine_tuned(name):
    """Whether the catalog knows ``name`` as a fine-tuned model."""
    return CARDS.get(canonical(name), {}).get("type") == "fine-tuned"


def card(name):
    """A fresh copy of the card for ``name`` (an alias gets its own card, as the API lists it), or None."""
    model_id = canonical(name)
    if model_id not in CARDS:
        return None
    answer = copy.deepcopy(CARDS[model_id])
    if name != model_id:
        answer["id"] = name
        answer["aliases"] = [model_id] + [alias for alias in answer["aliases"] if alias != name]
    return answer


def live_names():
    """Every id and alias of the models that are not retired, in catalog order."""
    return [name for model_id, entry in CARDS.items() if model_id not in RETIRED for name in [model_id] + entry["aliases"]]
