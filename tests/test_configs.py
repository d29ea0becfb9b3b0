"""Every recipe in ``examples/configs`` (the shipped weights') and the core's example
``examples/mixture.yaml`` is a valid config of the task its ``domain`` names: the recipes must
stay runnable as the code changes."""
from pathlib import Path

import pytest
import yaml

from scidiff.train import with_defaults

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.yaml")) + [ROOT / "examples" / "mixture.yaml"]
TASKS = {"mixture": ("scidiff.train.mixture_task", "MixtureTask"),
         "molecules-torsional": ("scidiff.molecules.train", "TorsionalTask"),
         "proteins": ("scidiff.proteins.train", "BackboneTask"),
         "policy": ("scidiff.policy.train", "PolicyTask")}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_the_recipe_is_a_valid_task_config(path):
    import importlib

    data = yaml.safe_load(path.read_text())
    module, name = TASKS[data["domain"]]
    task = with_defaults(getattr(importlib.import_module(module), name), data)
    assert task.domain == data["domain"]
