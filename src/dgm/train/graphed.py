"""A training step captured once as a CUDA graph and replayed on every full batch.

Small models on a GPU are bound by launching kernels, not by running them: the IWAE paper's
784-200-200-50 VAE runs a step (forward, backward, fused Adam) in about 0.3 ms of GPU time,
but launching its ~100 kernels one by one from Python takes about 3 ms. A CUDA graph records
the step's kernels once and launches them all with one call (``replay``).

What a captured step needs, and what ``Trainer(cuda_graph=True)`` sets up:

- static shapes: the batch is copied into one input buffer; a batch of another shape (the
  last, partial one of an epoch) runs eagerly;
- no host synchronization inside the step: no ``.item()``, no Python branch on a tensor's
  value (the VAE's KL warm-up weight is a tensor for this reason);
- a capturable optimizer whose learning rate is a tensor, changed in place between epochs;
- random numbers from a generator the graph knows (``register_generator_state``), so that
  each replay draws fresh noise from the run's seeded stream.

The first ``warmup`` steps run eagerly on a side stream (CUDA's rule before a capture: the
libraries allocate their workspaces there), the step is captured on the next batch, and that
batch, like every later one, is trained by a replay: each batch is still exactly one step.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor], dict[str, torch.Tensor]]


class GraphedStep:
    """Call ``step(x)`` through a captured CUDA graph (see the module docstring).

    ``generator``: the CUDA generator the step draws its noise from (registered with the
    graph). A step that cannot be captured (it synchronizes, or this PyTorch cannot register
    the generator) falls back to eager steps with a warning: slower, never wrong.
    """

    def __init__(self, step: Step, generator: torch.Generator | None = None, warmup: int = 3):
        self.step, self.generator, self.warmup = step, generator, warmup
        self.eager_calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_x: torch.Tensor | None = None  # (B, D), the graph's input buffer
        self.static_terms: dict[str, torch.Tensor] = {}
        self.failed: str | None = None  # why capturing failed, if it did

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.graph is not None and x.shape == self.static_x.shape:
            self.static_x.copy_(x)  # (B, D)
            self.graph.replay()
            return self.static_terms
        if self.graph is None and self.failed is None and self.eager_calls >= self.warmup:
            if self._capture(x):
                return self(x)
        return self._eager(x)

    def _eager(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step without the graph; the terms come back detached, so that no autograd
        graph outlives its step (a live one would tie the next capture to this stream)."""
        self.eager_calls += 1
        if self.graph is not None or self.failed is not None:
            return {k: v.detach() for k, v in self.step(x).items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = {k: v.detach() for k, v in self.step(x).items()}
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self, x: torch.Tensor) -> bool:
        """Record one step on a copy of ``x``; nothing runs until the first replay."""
        graph = torch.cuda.CUDAGraph()
        static_x = x.clone()
        try:
            if self.generator is not None:
                register = getattr(graph, "register_generator_state", None)
                if register is None:
                    raise RuntimeError("this PyTorch cannot register a generator with a graph")
                register(self.generator)
            with torch.cuda.graph(graph):
                terms = self.step(static_x)
        except Exception as err:  # a step that cannot be captured still trains, eagerly
            self.failed = repr(err)
            warnings.warn(f"cuda_graph: capturing the training step failed ({err!r}); "
                          "training continues with eager steps", RuntimeWarning, stacklevel=3)
            torch.cuda.synchronize()
            return False
        self.graph, self.static_x = graph, static_x
        self.static_terms = {k: v.detach() for k, v in terms.items()}
        return True
