"""Checkpoints without pickle: one safetensors file holding tensors + a JSON header.

A checkpoint stores the model's parameters and buffers (``model.*``), their
moving average when the run keeps one (``average.*``), the optimizers' tensor
state (``optim.<name>.<param>.<key>``), the random generators' states
(``rng.*``) and everything else (epoch, step, early-stopping state, optimizer
hyperparameters) as JSON in the safetensors metadata. It is
written atomically: a temporary file in the same folder, fsync, then rename, so
a crash while saving never leaves a half-written checkpoint behind.

Loading never unpickles anything: safetensors holds raw tensors only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dgm._errors import DGMError
from dgm._files import atomic_write, atomic_write_bytes

MAGIC = "dgm-checkpoint-v1"
CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
CONFIG = "config.json"
AVERAGE = "average."


class CheckpointError(DGMError):
    """A checkpoint that is missing, corrupt, or not written by dgm."""


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def _split_optimizer(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimizer state -> (tensors, JSON); scalar tensors (Adam's ``step``) stay tensors."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{name}.{pid}.{key}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = val
    groups = [{k: float(v) if isinstance(v, torch.Tensor) else v for k, v in g.items()}
              for g in sd["param_groups"]]  # a tensor learning rate (cuda_graph) as a number
    return tensors, {"param_groups": groups, "scalars": scalars}


def _join_optimizer(name: str, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, val in tensors.items():
        if key.startswith(prefix):
            pid, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(pid), {})[field] = val
    for pid, st in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(st)
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: Path,
    model: torch.nn.Module | dict[str, torch.Tensor],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    state: dict[str, Any] | None = None,
    averaged: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write model (a module or a copy of its ``state_dict``), the averaged weights,
    optimizers, generator states and a JSON ``state`` atomically to ``path``."""
    weights = model if isinstance(model, dict) else model.state_dict()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in weights.items()}
    for k, v in (averaged or {}).items():
        tensors[f"{AVERAGE}{k}"] = v.detach().cpu().contiguous()
    optim_meta = {}
    for name, opt in (optimizers or {}).items():
        t, m = _split_optimizer(name, opt)
        tensors.update(t)
        optim_meta[name] = m
    for name, gen in (generators or {}).items():
        tensors[f"rng.{name}"] = gen.get_state().clone()
    header = {"state": state or {}, "optimizers": optim_meta}
    metadata = {"format": "pt", MAGIC: json.dumps(header)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def checkpoint_epochs(path: Path) -> int:
    """The number of epochs a checkpoint's run had completed (read from its header only)."""
    state = read_checkpoint_header(path).get("state", {})
    return int(state.get("loop", state).get("epoch", 0))


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run directory, with a clear error naming the file when the
    directory is not a run or the file is not a dgm run config."""
    cfg_path = Path(run_dir) / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir} is not a dgm run directory: {cfg_path} is missing")
    try:
        cfg = json.loads(cfg_path.read_text())
        missing = [k for k in ("model", "model_config", "input_shape", "train", "data")
                   if k not in cfg]
    except (json.JSONDecodeError, TypeError) as err:
        raise CheckpointError(f"{cfg_path} is not a valid dgm run config: {err}") from err
    if missing:
        raise CheckpointError(f"{cfg_path} is not a valid dgm run config: no {missing}")
    return cfg


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return (tensors, header) of a dgm checkpoint, with a clear error for anything else."""
    header = read_checkpoint_header(path)
    try:
        return load_file(str(path)), header
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): {err}"
        ) from err


def read_checkpoint_header(path: Path) -> dict[str, Any]:
    """The JSON header of a dgm checkpoint (no tensors read), with a clear error for
    anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path} is not a readable safetensors checkpoint (corrupt or truncated?): {err}"
        ) from err
    if MAGIC not in meta:
        raise CheckpointError(
            f"{path} is a safetensors file but not a dgm checkpoint (no '{MAGIC}' header)"
        )
    try:
        header = json.loads(meta[MAGIC])
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: the dgm header is not valid JSON: {err}") from err
    return header


def model_state(tensors: dict[str, torch.Tensor], prefix: str = "model.") -> dict:
    """The model's weights (``prefix="model."``) or their average (``AVERAGE``)."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    averaged: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """Restore what :func:`save_checkpoint` wrote; returns the JSON ``state``."""
    tensors, header = read_checkpoint(path)
    avg = model_state(tensors, AVERAGE)
    if averaged is not None and not avg:
        raise CheckpointError(f"{path} holds no averaged weights (the run had no --ema)")
    try:
        model.load_state_dict(model_state(tensors))
        if averaged is not None:
            averaged.load_state_dict(avg)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit this model: {err}") from err
    for name, opt in (optimizers or {}).items():
        if name not in header["optimizers"]:
            raise CheckpointError(f"{path} has no state for optimizer '{name}'")
        opt.load_state_dict(_join_optimizer(name, tensors, header["optimizers"][name]))
    for name, gen in (generators or {}).items():
        key = f"rng.{name}"
        if key not in tensors:
            raise CheckpointError(f"{path} has no state for random generator '{name}'")
        gen.set_state(tensors[key])
    return header["state"]


def build_run_model(cfg: dict[str, Any], cfg_path: str | os.PathLike):
    """The (untrained) model a run config (:func:`read_run_config`) describes; an unknown
    model, option or value is a :class:`CheckpointError` naming ``cfg_path``."""
    from dgm.registry import build_model

    try:
        return build_model(cfg["model"], cfg["model_config"], tuple(cfg["input_shape"]))
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{cfg_path} does not describe a model dgm can build: "
                              f"{err}") from err


def load_model(run_dir: str | os.PathLike, map_location: str = "cpu", which: str = "best"):
    """Rebuild the model of a run directory from its ``config.json`` and weights.

    ``which="best"`` takes the early-stopping best weights when present, else the
    last checkpoint: its averaged weights when the run kept an average (``ema``),
    else its trained weights. ``which="last"`` skips the best weights.
    """
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    run_dir = Path(run_dir)
    cfg_path = run_dir / CONFIG
    cfg = read_run_config(run_dir)
    model = build_run_model(cfg, cfg_path)
    use_best = which == "best" and (run_dir / BEST).is_file()
    path = run_dir / (BEST if use_best else CHECKPOINT)
    tensors, _ = read_checkpoint(path)
    weights = model_state(tensors, AVERAGE) or model_state(tensors)
    try:
        model.load_state_dict(weights)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit the model in {cfg_path}: {err}") from err
    model.data_spec = cfg.get("data", {}).get("spec")
    model.data_kind = cfg.get("data", {}).get("kind")
    return model.to(map_location).eval()
