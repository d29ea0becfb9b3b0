"""A second device on a CPU-only machine, to catch tensors made on the wrong one.

``elsewhere(t)`` marks a CPU tensor as living on another device. Inside ``other_device()`` such
tensors report ``device == meta``; a factory asked for that device (``torch.zeros(...,
device=x.device)``) or a ``.to(x.device)`` makes another such tensor; ``.cpu()`` brings one
back. An operation that mixes one with an ordinary CPU tensor of one or more dimensions raises,
as CUDA does with CPU tensors (0-d CPU scalars are allowed there too), and so does drawing with
a CPU generator onto that device. A sampler, loss or model whose every tensor follows its input
runs unchanged; one that makes a tensor with the default device fails on the line that mixes it.
"""
from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_map

FAKE = torch.device("meta")
_DEVICE = torch.Tensor.device.__get__


class Elsewhere(torch.Tensor):
    """A CPU tensor that stands for one on another device (see the module docstring)."""


def elsewhere(x):
    """``x`` (a tensor, a tuple of them, or a module's parameters and buffers) on the other device."""
    if isinstance(x, torch.nn.Module):
        for m in x.modules():
            for name, p in m._parameters.items():
                if p is not None:            # a Parameter of a tensor subclass keeps the subclass
                    m._parameters[name] = torch.nn.Parameter(p.data.as_subclass(Elsewhere), p.requires_grad)
            for name, b in m._buffers.items():
                if b is not None:
                    m._buffers[name] = b.as_subclass(Elsewhere)
        return x
    return tree_map(lambda t: t.as_subclass(Elsewhere) if isinstance(t, torch.Tensor) else t, x)


def on_other_device(x) -> bool:
    return all(type(t) is Elsewhere for t in tree_flatten(x)[0] if isinstance(t, torch.Tensor))


def _fake(d) -> bool:
    return d is not None and not isinstance(d, (int, torch.dtype)) and torch.device(d).type == "meta"


class _Mode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func == _DEVICE:
            return FAKE if type(args[0]) is Elsewhere else func(*args)
        made_there = _fake(kwargs.get("device"))
        if made_there:
            kwargs["device"] = "cpu"
            gen = kwargs.get("generator")
            if gen is not None and gen.device.type == "cpu":
                raise RuntimeError(f"{_name(func)}: a CPU generator drawing onto the other device")
        if func is torch.Tensor.cpu:
            return func(*args, **kwargs).as_subclass(torch.Tensor)
        leaves = tree_flatten((args, kwargs))[0]
        if func is torch.Tensor.to:
            target = FAKE if made_there else next((a for a in leaves[1:] if isinstance(a, (torch.device, str, torch.Tensor))), None)
            if isinstance(target, torch.Tensor):
                target = FAKE if type(target) is Elsewhere else torch.device("cpu")
            if target is not None:
                args = tuple("cpu" if isinstance(a, (torch.device, str)) and _fake(a) else a for a in args)
                out = func(*args, **kwargs)
                return out.as_subclass(Elsewhere if _fake(target) else torch.Tensor)
        tensors = [a for a in leaves if isinstance(a, torch.Tensor)]
        there = [a for a in tensors if type(a) is Elsewhere]
        here = [a for a in tensors if type(a) is not Elsewhere and a.dim() > 0]
        if there and here:
            raise RuntimeError(f"{_name(func)} mixes tensors on the other device with CPU tensors of shapes "
                               f"{[tuple(a.shape) for a in here]}")
        out = func(*args, **kwargs)
        if there or made_there:
            out = tree_map(lambda o: o.as_subclass(Elsewhere) if isinstance(o, torch.Tensor) else o, out)
        return out


def _name(func) -> str:
    return getattr(func, "__name__", repr(func))


@contextlib.contextmanager
def other_device():
    """Run the block with the checks of the module docstring (``torch.autocast`` on the stand-in
    device acts as on the CPU)."""
    real = torch.autocast

    def autocast(device_type, *args, **kwargs):
        return real("cpu" if device_type == FAKE.type else device_type, *args, **kwargs)

    torch.autocast = autocast
    try:
        with _Mode():
            yield
    finally:
        torch.autocast = real
