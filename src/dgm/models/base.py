"""What every dgm model is: a typed config, an ``nn.Module`` that owns its loss.

The training loop (``dgm.train``) knows only this contract:

* ``model(x, generator)`` (i.e. ``forward``) returns a dict of named scalar
  terms; ``"loss"`` is the one minimized. Using ``forward`` lets
  DistributedDataParallel synchronize gradients without knowing the model.
* ``model.validation_terms(x, generator)`` returns per-example terms for the
  validation split; ``"loss"`` drives early stopping.
* models that generate expose ``sample(n, seed=...)``; models with a
  likelihood expose ``log_prob(x, ...)`` (per example, nats) and
  ``nll(x, **options)`` for ``dgm eval``: a dict of per-example tensors, where keys
  ending in ``_nats`` are per-example figures (reported as a mean with its standard error)
  and other keys hold one value for the whole split (e.g. ``log_z``, ``log_z_stderr``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dgm._checks import check_count, check_positive  # noqa: F401 (re-exported)
from dgm._rng import as_torch_generator


@dataclass
class ModelConfig:
    """Base class of the per-model configs (hyperparameters only, never learned state).

    ``presets`` maps a name to a dict of overrides (``dgm train MODEL --preset NAME``);
    every model has at least ``tiny`` (for smoke and contract tests).
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(names)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown option(s) {sorted(unknown)}")
        cfg = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        cfg.check()
        return cfg

    def check(self) -> None:
        """Every option's type (an int where an int is declared, a list of ints where
        ``tuple[int, ...]`` is), then :meth:`validate`; ValueError naming option and value."""
        for f in dataclasses.fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the option and value when a hyperparameter is invalid."""

    @classmethod
    def field_help(cls) -> dict[str, str]:
        """Each field's trailing comment in its class body, the text of its ``--help`` line.

        The comment next to a field is its one description; classes up the MRO are read
        too (a subclass's comment wins). Empty when the source is not available.

        >>> TrainConfig = __import__("dgm.train.config", fromlist=["x"]).TrainConfig
        >>> TrainConfig.field_help()["ema"]
        'decay of an exponential moving average of the weights (Polyak), 0 = off'
        """
        out: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if not dataclasses.is_dataclass(klass):
                continue
            try:
                lines = inspect.getsource(klass).splitlines()
            except (OSError, TypeError):
                continue
            for line in lines:
                m = _FIELD_COMMENT.match(line)
                if m:
                    out[m.group(1)] = m.group(2).strip()
        return out


_FIELD_COMMENT = re.compile(r"^    (\w+)\s*:[^#]*=[^#]*#\s*(.+)$")


def check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


_SCALAR_OK = {"int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "float": lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                                  and math.isfinite(v)),
              "bool": lambda v: isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}


def _check_type(name: str, value: Any, annotation: Any) -> None:
    """An option of the wrong type is named (e.g. epochs=2.5, which would run 3; hidden
    sizes (8.5,) or a bare 8 where a tuple of ints is expected)."""
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    tup = re.fullmatch(r"tuple\[(\w+), \.\.\.\]", kind.replace(" | None", ""))
    if tup:  # tuple[int, ...]: a tuple whose every element has the element type
        ok = _SCALAR_OK.get(tup.group(1))
        if value is None and "None" in kind:
            return
        if not isinstance(value, (tuple, list)) or (ok is not None and not all(map(ok, value))):
            raise ValueError(f"{name} must be a list of {tup.group(1)}s, got {value!r}")
        return
    ok = _SCALAR_OK.get(kind)
    if ok is not None and not ok(value):
        what = {"int": "an int", "float": "a finite number"}.get(kind, f"a {kind}")
        raise ValueError(f"{name} must be {what}, got {value!r}")


def init_uniform(layer: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default init of a linear/conv layer, drawn from ``gen``."""
    w = layer.weight
    fan_in = w.shape[1] * (w[0, 0].numel() if w.dim() > 2 else 1)
    if isinstance(layer, nn.ConvTranspose2d):
        fan_in = w.shape[1] * w[0, 0].numel()
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    # kaiming_uniform_(a=sqrt(5)) has bound sqrt(6 / ((1 + 5) fan_in)) = 1 / sqrt(fan_in)
    w.copy_(torch.rand(w.shape, generator=gen) * 2 * bound - bound)
    if layer.bias is not None:
        layer.bias.copy_(torch.rand(layer.bias.shape, generator=gen) * 2 * bound - bound)


class GenerativeModel(nn.Module):
    """Base class: holds ``config`` and the per-example ``input_shape``."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[ModelConfig]] = ModelConfig
    #: data kinds (see ``dgm.data``) the model accepts
    data_kinds: ClassVar[tuple[str, ...]] = ("binary",)
    #: what to change when the data's kind is refused (named in the error)
    data_kind_hint: ClassVar[str] = "binary data, e.g. --data mnist or digits (not :gray)"
    #: extra ``dgm eval`` options: flag -> (type, default, help)
    eval_options: ClassVar[dict[str, tuple[type, Any, str]]] = {}
    # the training step can be captured once as a CUDA graph and replayed (TrainConfig's
    # cuda_graph): it never synchronizes with the host, and all the state it carries from
    # step to step lives in tensors it updates in place (a rebound tensor, e.g. a persistent
    # Gibbs chain assigned anew, would be read stale by every replay)
    graph_safe: ClassVar[bool] = False
    # under DistributedDataParallel, rank 0's buffers are copied to every rank before each
    # forward (batch-norm statistics stay in step); False keeps each rank's own (an RBM's
    # persistent chains: one set per process, not rank 0's set run on every process)
    ddp_broadcast_buffers: ClassVar[bool] = True

    #: the kind of data the model was trained on ("binary", "unit", "pm1", "real"): set by
    #: the training loop and by ``dgm.load``; None for a model built by hand
    data_kind: str | None = None

    @property
    def valid_loss_name(self) -> str:
        """What the validation ``loss`` (early stopping's score) is, for the run's summary."""
        return "loss"

    def eval_settings(self, given: dict[str, Any]) -> dict[str, Any]:
        """The settings a ``dgm eval`` of this model used, for its record: each evaluation
        option as given, else its default (``iwae_k: 5000`` is stated, not implied)."""
        return {k: given.get(k, default) for k, (_, default, _) in self.eval_options.items()}

    @property
    def output_range(self) -> str:
        """The range of the model's own outputs when its data kind is not known."""
        return "unit"

    @property
    def data_range(self) -> str:
        """Where samples live: "pm1" ([-1, 1]: pictures and sample metrics map them to
        [0, 1]), "real", or "unit"; from the data trained on when known (a DCGAN trained on
        [0, 1] images has a tanh output but [0, 1] data), else :attr:`output_range`."""
        if self.data_kind is not None:
            return {"pm1": "pm1", "real": "real"}.get(self.data_kind, "unit")
        return self.output_range

    @property
    def min_batch(self) -> int:
        """The smallest batch the model's loss and validation terms work on: the training
        loop joins a shorter last batch (or validation chunk) to the one before it."""
        return 1

    def __init__(self, config: ModelConfig, input_shape: tuple[int, ...]):
        super().__init__()
        config.check()
        self.config = config
        self.input_shape = tuple(int(s) for s in input_shape)
        self.n_inputs = int(np.prod(self.input_shape))
        if self.n_inputs < 1:
            raise ValueError(f"{self.name}: an example needs at least one value, "
                             f"got input shape {tuple(input_shape)}")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Building a model leaves torch's global generator alone: the layers' default
        initialization (replaced by :meth:`reset_parameters` from an explicit seed, or by
        loaded weights) draws from a forked copy of it."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            @functools.wraps(init)
            def __init__(self, *args: Any, **kw: Any) -> None:
                with torch.random.fork_rng(devices=[]):
                    init(self, *args, **kw)

            cls.__init__ = __init__

    # -- the training contract -------------------------------------------------
    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict:
        raise NotImplementedError

    def configure_optimizers(self, make) -> dict[str, torch.optim.Optimizer]:
        """Optimizers by name; ``make(params, **overrides)`` builds one from the TrainConfig.

        Models with several players (a GAN's generator and discriminator) return several.
        """
        return {"main": make(self.parameters())}

    def training_step(self, net, x: torch.Tensor, optimizers: dict, generator,
                      grad_clip: float = 0.0) -> dict[str, torch.Tensor]:
        """One update on batch ``x``; returns the named terms (detached or not).

        ``net`` is ``self`` or its DistributedDataParallel wrapper: call it, not ``self``,
        so that gradients are synchronized across ranks. The default minimizes
        ``terms["loss"]`` with the ``main`` optimizer.
        """
        terms = net(x, generator)
        opt = optimizers["main"]
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.parameters(), grad_clip)
        opt.step()
        return terms

    def validation_terms(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-example validation terms; default: the training terms, averaged."""
        return {k: v.detach().expand(x.shape[0]) for k, v in self(x, generator).items()}

    # -- initialization ----------------------------------------------------------
    @torch.no_grad()
    def reset_parameters(self, seed: Any) -> GenerativeModel:
        """Re-initialize every parameter from ``seed`` (torch's default schemes, explicit RNG).

        Linear and convolution layers get PyTorch's defaults (Kaiming-uniform weights,
        uniform biases in +-1/sqrt(fan_in)); normalization layers their own reset; a model's
        own tensors its ``_reset_own(generator)``. Returns ``self``.
        """
        gen = as_torch_generator(seed)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)):
                init_uniform(m, gen)
            elif m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        self._reset_own(gen)
        return self

    def _reset_own(self, generator: torch.Generator) -> None:
        """Initialize parameters that belong to the model itself rather than to a layer."""

    # -- data checks -----------------------------------------------------------
    def accepted_kinds(self) -> tuple[str, ...]:
        """Data kinds (``dgm.data``: binary, unit, pm1, real) this model can be trained on."""
        return self.data_kinds

    def check_data(self, ds) -> None:
        """Refuse a data set of the wrong kind or shape, or with NaN/inf, with a clear message."""
        from dgm.data import check_data

        kind = "binary" if ds.dynamic_binarize else ds.kind
        if kind not in self.accepted_kinds():
            raise ValueError(
                f"{self.name} as configured takes {' or '.join(self.accepted_kinds())} data, "
                f"but {ds.name!r} is {kind!r}; {self.name}: {self.data_kind_hint}"
            )
        if tuple(ds.shape) != self.input_shape:
            raise ValueError(f"{self.name}: built for examples of shape {self.input_shape}, "
                             f"but {ds.name!r} has shape {tuple(ds.shape)}")
        check_data(ds.x, ds.kind, ds.name)

    # -- helpers ---------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the parameters, which inputs are cast to."""
        return next((p.dtype for p in self.parameters() if p.is_floating_point()),
                    torch.float32)

    def _generator(self, seed: Any) -> torch.Generator:
        """A generator on the model's device from ``seed`` (an int, a Generator or None)."""
        gen = as_torch_generator(seed, device=self.device)
        if gen.device.type != self.device.type:
            raise ValueError(f"seed is a generator on {gen.device} but the model is on "
                             f"{self.device}: pass an int seed or "
                             f"torch.Generator(device={self.device.type!r})")
        return gen

    def as_batch(self, x: torch.Tensor) -> torch.Tensor:
        """A training or validation batch (B, ...) as (B, n_inputs) in the weights' dtype,
        unchecked (the loop's batches come from checked data; see :meth:`check_input`)."""
        return x.reshape(x.shape[0], self.n_inputs).to(self.dtype)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Flatten to (B, n_inputs), with a clear error for a wrong shape or NaN."""
        if not isinstance(x, torch.Tensor):
            x = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: inputs stay untouched
        if x.dim() < 2 or math.prod(x.shape[1:]) != self.n_inputs:
            one = " (one example? pass a batch of one: x[None])" if (
                x.numel() == self.n_inputs) else ""
            raise ValueError(
                f"{self.name}: expected a batch (B, ...) of examples of shape "
                f"{self.input_shape} ({self.n_inputs} values each), got a tensor of shape "
                f"{tuple(x.shape)}{one}"
            )
        x = x.reshape(x.shape[0], self.n_inputs).to(self.device, self.dtype)
        # one reduction first: a sum is finite whenever every value is (unless it overflows,
        # when the elementwise check below decides)
        if not torch.isfinite(x.sum()) and not torch.isfinite(x).all():
            raise ValueError(f"{self.name}: input contains NaN or inf")
        return x

    def check_likelihood_input(self, x: Any) -> torch.Tensor:
        """:meth:`check_input`, and for a model of binary data, values 0 and 1 only: the
        Bernoulli likelihood of anything else is not a probability (e.g. grayscale pixels,
        whose log "probability" can come out positive). Used where likelihoods are reported;
        training batches are not checked (a check would stall a GPU at every step)."""
        x = self.check_input(x)
        if self.accepted_kinds() == ("binary",):
            bad = (x != 0) & (x != 1)
            if bad.any():
                i, j = (int(t) for t in bad.nonzero()[0])
                raise ValueError(
                    f"{self.name}: a model of binary data takes values 0 and 1; example {i}, "
                    f"input {j} is {float(x[i, j]):g} ({int(bad.sum())} such values; binarize "
                    f"the data first, e.g. --data mnist rather than mnist:gray)")
        return x
