"""The app's ModelRegistry (lab build): `get_model(agent)`, `chat(agent, messages, ...)`.

Usable as the runbook does, from the app root with the lab's interpreter:
    ModelRegistry().get_model("qa_agent")
"""
import os
import sys

import yaml

sys.path.insert(0, {lab_root!r})
from lab.registry import ModelRegistry as _Registry  # noqa: E402

_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "config", "production.yaml")


class ModelRegistry(_Registry):
    def __init__(self, config_path=_CONFIG):
        with open(config_path, encoding="utf-8") as fh:
            config = yaml.safe_load(fh)
        super().__init__(config["models"], server_url=config["mistral"]["server_url"],
                         timeout_s=config["mistral"].get("timeout_s", 3))
