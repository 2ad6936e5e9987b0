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
WEIGHTS_ONLY = "weights_only"  # a header state key: a checkpoint no run can resume from


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
    atomic_write(path, lambda tmp: _save_file(path, tensors, tmp, metadata))


def save_weights_only(path: Path, model: torch.nn.Module, why: str,
                      state: dict[str, Any] | None = None) -> None:
    """A checkpoint of ``model``'s weights alone, without optimizer, generator or average
    states (about the model's size): :func:`load_model` reads it, and a resume refuses it
    with ``why`` (e.g. where the weights were copied from). ``state``: the source
    checkpoint's, kept for the record (its epochs)."""
    save_checkpoint(path, model, state={**(state or {}), WEIGHTS_ONLY: why})


def _save_file(path: Path, tensors: dict[str, torch.Tensor], tmp: str,
               metadata: dict[str, str]) -> None:
    """safetensors' writer, its I/O errors (a full or read-only disk) as an OSError naming
    ``path`` (its own SafetensorError names neither, and the CLI would show a traceback)."""
    try:
        save_file(tensors, tmp, metadata=metadata)
    except SafetensorError as err:
        raise OSError(f"{path}: the checkpoint could not be written: {err}") from err


def checkpoint_epochs(path: Path) -> int:
    """The number of epochs a checkpoint's run had completed (read from its header only):
    the loop state's ``epoch`` (``best.safetensors``: its state's)."""
    state = read_checkpoint_header(path)["state"]
    loop = state.get("loop", state)
    epoch = loop.get("epoch") if isinstance(loop, dict) else None
    if not is_count(epoch):
        raise CheckpointError(f"{path}: the dgm header is damaged: its epoch count is "
                              f"{epoch!r}, not an integer >= 0")
    return epoch


def is_count(value: Any) -> bool:
    """An int >= 0 as JSON gives it (not a bool, a float or a string)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


#: the keys of a run's config.json and the JSON type each holds: checked when it is read, so
#: that a damaged or foreign file is named, not met later as a KeyError or a TypeError
RUN_CONFIG_TYPES = {"model": str, "model_config": dict, "input_shape": list, "train": dict,
                    "data": dict}
_JSON_NAMES = {dict: "an object", list: "an array", str: "a string"}


def read_run_config(run_dir: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a run directory, with a clear error naming the file when the
    directory is not a run or the file is not a dgm run config."""
    cfg_path = Path(run_dir) / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir} is not a dgm run directory: {cfg_path} is missing")
    try:
        cfg = json.loads(cfg_path.read_text())
    except ValueError as err:  # not JSON, or not UTF-8 text (a UnicodeDecodeError)
        raise CheckpointError(f"{cfg_path} is not a valid dgm run config: {err}") from err
    problem = _run_config_problem(cfg)
    if problem:
        raise CheckpointError(f"{cfg_path} is not a valid dgm run config: {problem}")
    return cfg


def _run_config_problem(cfg: Any) -> str | None:
    """What is wrong with a parsed config.json (None: nothing): not an object, a missing key,
    a value of the wrong JSON type, an input shape that is not a list of sizes."""
    if not isinstance(cfg, dict):  # (for a string, `key in cfg` would test substrings)
        return f"it must hold a JSON object, got {json.dumps(cfg)[:60]}"
    missing = [k for k in RUN_CONFIG_TYPES if k not in cfg]
    if missing:
        return f"no {missing}"
    for key, kind in RUN_CONFIG_TYPES.items():
        if not isinstance(cfg[key], kind):
            return f"'{key}' must be {_JSON_NAMES[kind]}, got {json.dumps(cfg[key])[:60]}"
    if not all(is_count(n) and n > 0 for n in cfg["input_shape"]):
        return f"'input_shape' must be a list of sizes > 0, got {cfg['input_shape']}"
    return None


def saved_data(cfg: dict[str, Any], cfg_path: Path) -> tuple[str, str | None]:
    """(the data set spec, the data directory) a run config (:func:`read_run_config`) saved,
    for evaluating on that data; a damaged record is an error naming ``cfg_path``."""
    spec, data_dir = cfg["data"].get("spec"), cfg["train"].get("data_dir")
    if not isinstance(spec, str):
        raise CheckpointError(f"{cfg_path}: 'data' must name the run's data set in 'spec' "
                              f"(e.g. \"digits\"), got {json.dumps(cfg['data'])[:60]}")
    if data_dir is not None and not isinstance(data_dir, str):
        raise CheckpointError(f"{cfg_path}: 'train' 'data_dir' must be a folder or null, got "
                              f"{json.dumps(data_dir)[:60]}")
    return spec, data_dir


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
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the dgm header is damaged: a JSON object is "
                              f"expected, got {meta[MAGIC][:60]!r}")
    lost = [k for k in ("state", "optimizers") if not isinstance(header.get(k), dict)]
    if lost:  # (save_checkpoint writes both, maybe empty)
        raise CheckpointError(f"{path}: the dgm header is damaged: no {' or '.join(lost)} "
                              "object in it")
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
        try:  # torch's own checks (a KeyError, a ValueError...) would not name the file
            opt.load_state_dict(_join_optimizer(name, tensors, header["optimizers"][name]))
        except (ValueError, KeyError, TypeError, AttributeError, IndexError,
                RuntimeError) as err:
            raise CheckpointError(f"{path}: the state of optimizer '{name}' is damaged or "
                                  f"does not fit this model's optimizer: {err!r}") from err
    for name, gen in (generators or {}).items():
        key = f"rng.{name}"
        if key not in tensors:
            raise CheckpointError(f"{path} has no state for random generator '{name}'")
        set_generator_state(gen, tensors[key], f"{path}: random generator '{name}'")
    return header["state"]


def set_generator_state(gen: torch.Generator, state: Any, what: str) -> None:
    """``gen.set_state(state)``; a state of the wrong size or type (a damaged checkpoint)
    is a :class:`CheckpointError` naming ``what`` (the file and the generator)."""
    try:
        gen.set_state(state)
    except (RuntimeError, TypeError, ValueError) as err:
        raise CheckpointError(f"{what}: its saved state is damaged: {err}") from err


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
