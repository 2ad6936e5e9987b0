"""GraphedStep's bookkeeping, on a stand-in for CUDA's graph API (CI has no GPU; the real
capture is checked on one by benchmarks/gpu_step.py): eager warm-up, one capture, every batch
exactly one step, partial batches eager, a failed capture falls back to eager steps."""

from __future__ import annotations

import contextlib

import pytest
import torch

from dgm.train import graphed


class FakeGraph:
    capturing: FakeGraph | None = None

    def __init__(self):
        self.work, self.generators, self.replays = None, [], 0

    def register_generator_state(self, gen):
        self.generators.append(gen)

    def replay(self):
        self.replays += 1
        self.work()


@contextlib.contextmanager
def fake_capture(graph):
    FakeGraph.capturing = graph
    try:
        yield
    finally:
        FakeGraph.capturing = None


@pytest.fixture
def fake_cuda(monkeypatch):
    class Stream:
        def wait_stream(self, other):
            pass

    monkeypatch.setattr(torch.cuda, "CUDAGraph", FakeGraph)
    monkeypatch.setattr(torch.cuda, "graph", fake_capture)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)


class Counter:
    """A 'training step' that sums the batches it trained on; under capture it records its
    work for the graph instead of doing it, as CUDA does."""

    def __init__(self, fail: bool = False):
        self.total, self.fail = torch.zeros(()), fail

    def __call__(self, x):
        if FakeGraph.capturing is not None:
            if self.fail:
                raise RuntimeError("operation not permitted when stream is capturing")
            out = torch.zeros(())
            FakeGraph.capturing.work = lambda: (self.total.add_(x.sum()), out.copy_(self.total))
            return {"loss": out}
        self.total.add_(x.sum())
        return {"loss": self.total.clone().requires_grad_()}


def test_each_batch_is_one_step_eager_then_replayed(fake_cuda):
    step, gen = Counter(), torch.Generator()
    run = graphed.GraphedStep(step, gen, warmup=2)
    batches = [torch.full((4, 3), float(i)) for i in range(1, 7)] + [torch.ones(2, 3)]
    for i, xb in enumerate(batches):
        out = run(xb)
        assert float(step.total) == sum(float(b.sum()) for b in batches[: i + 1])
        assert not out["loss"].requires_grad  # no autograd graph outlives its step
    assert run.captured and run.graph.generators == [gen]
    assert run.graph.replays == 4  # batches 3..6; batches 1, 2 warmed up, the last is partial
    assert run.eager_calls == 3


def test_a_step_that_cannot_be_captured_trains_eagerly_with_a_warning(fake_cuda):
    step = Counter(fail=True)
    run = graphed.GraphedStep(step, None, warmup=1)
    run(torch.ones(2, 2))
    with pytest.warns(RuntimeWarning, match="capturing the training step failed"):
        run(torch.ones(2, 2))
    run(torch.ones(2, 2))
    assert not run.captured and "stream is capturing" in run.failed
    assert float(step.total) == 12.0 and run.eager_calls == 3
