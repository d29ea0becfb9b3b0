"""``save_pretrained`` / ``from_pretrained`` for every model: ``model.safetensors`` + ``config.json``.

A model class mixes in ``Pretrained``, keeps its constructor arguments as a dataclass in
``self.config`` and names that dataclass in ``config_class``. Bundled weights live inside their
domain package and are listed in ``bundled`` (name -> folder relative to the class's module).
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import from_dict


def load_weights(model: torch.nn.Module, folder: str | Path, allow_missing: bool = False) -> list[str]:
    """Load ``folder/model.safetensors`` (written by ``save_pretrained``) into ``model`` in place.

    Every tensor must match by name and shape; otherwise ``ValueError`` names what differs.
    ``allow_missing`` (fine-tuning a model that adds modules, e.g. a zero-initialised input) lets
    the model's tensors that the file lacks keep their initial values. Returns their names."""
    folder = Path(folder)
    try:
        tensors = load_file(folder / "model.safetensors")
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{folder / 'model.safetensors'} is missing, corrupt or truncated ({e})") from None
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    shapes = [k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape]
    if (missing and not allow_missing) or unexpected or shapes:
        described = f"{type(model).__name__}({model.config})" if hasattr(model, "config") else type(model).__name__
        raise ValueError(f"{folder / 'model.safetensors'} does not match {described}: "
                         f"missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shapes {shapes[:5]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=not missing)
    return missing


class Pretrained:
    config_class: type = None
    bundled: dict[str, str] = {}
    default: str | None = None          # the bundled name ``from_pretrained()`` loads

    def save_pretrained(self, folder: str | Path, weights_dtype: torch.dtype | None = None) -> Path:
        """Write ``folder/model.safetensors`` and ``folder/config.json``.

        ``weights_dtype`` (e.g. ``torch.float16`` for bundled weights) stores the parameters in
        that dtype; buffers (normalisers, statistics) keep theirs. Loading casts back.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        params = {name for name, _ in self.named_parameters()}
        tensors = {k: v.detach().to("cpu", weights_dtype if weights_dtype and k in params else v.dtype)
                   .contiguous().clone() for k, v in self.state_dict().items()}
        save_file(tensors, folder / "model.safetensors", metadata={"class": type(self).__name__})
        meta = {"class": type(self).__name__, "config": dataclasses.asdict(self.config)}
        (folder / "config.json").write_text(json.dumps(meta, indent=1))
        return folder

    @classmethod
    def from_pretrained(cls, name_or_folder: str | Path | None = None, device: str | torch.device = "cpu"):
        """Load from a folder written by ``save_pretrained`` or a bundled name (see ``bundled``;
        without a name, the class's ``default``).

        A missing, corrupt, truncated or mismatched file raises ``ValueError`` in one sentence.
        """
        folder = cls._resolve(name_or_folder)
        try:
            meta = json.loads((folder / "config.json").read_text())
            config = cls.config_from_dict(meta["config"])
        except FileNotFoundError:
            raise ValueError(f"{folder} has no config.json; is it a folder written by save_pretrained?") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{folder / 'config.json'} is not a valid {cls.__name__} config ({e})") from None
        if meta.get("class") != cls.__name__:
            raise ValueError(f"{folder} holds a {meta.get('class')}, not a {cls.__name__}")
        model = cls(config)
        load_weights(model, folder)
        return model.to(device).eval()

    @classmethod
    def config_from_dict(cls, data: dict):
        """The ``config_class`` instance of a saved ``config.json``'s ``"config"`` (a model whose
        config changed shape overrides this to read older files)."""
        return from_dict(cls.config_class, data)

    @classmethod
    def _resolve(cls, name_or_folder) -> Path:
        if name_or_folder is None:
            if cls.default is None:
                raise ValueError(f"{cls.__name__} has no default bundled weights; name a folder")
            name_or_folder = cls.default
        if str(name_or_folder) in cls.bundled:
            import importlib

            module = importlib.import_module(cls.__module__)
            return Path(module.__file__).parent / cls.bundled[str(name_or_folder)]
        folder = Path(name_or_folder)
        if not folder.is_dir():
            names = ", ".join(map(repr, cls.bundled)) or "none"
            raise ValueError(f"{folder} is not a folder and not a bundled {cls.__name__} (bundled: {names})")
        return folder
