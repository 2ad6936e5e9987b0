"""Shared helpers of the benchmark scripts: machine description, merging results files."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dgm._json import strict_json
from dgm.train.config import setting_differences

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RUNS = HERE / "runs"  # the benchmarks' run folders: this machine's only, never committed
KEPT = HERE / "weights"  # finished runs' weights, committed (keep_weights.py): a later
#                          session's --init-from, and trained models a user can load


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cores": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform(), "processor": platform.processor()}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    import numpy

    info["numpy"] = numpy.__version__
    return info


@contextlib.contextmanager
def locked_results(name: str) -> Iterator[dict[str, Any]]:
    """Read-modify-write ``results/name.json`` under a file lock (benchmarks running side by
    side, e.g. several jobs on one GPU, each merge their own figures without losing others')."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    with open(RESULTS / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.exists() else {}
        yield data
        tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(strict_json(data), indent=2, sort_keys=True,
                                  allow_nan=False) + "\n")
        os.replace(tmp, path)


def _score(value: Any) -> float:
    """A validation score as a number to compare; None (no validation) is +inf."""
    return float("inf") if value is None else float(value)


def saved_train_config(run_dir: Path, option: str = "--resume") -> dict[str, Any]:
    """The training settings saved with the run in ``run_dir``; a clear exit when none is."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise SystemExit(f"{option}: no run in {run_dir} (no config.json)")
    return json.loads(path.read_text())["train"]


def run_source(name: str, option: str = "--init-from") -> Path:
    """The finished run ``name`` a warm start reads: ``benchmarks/runs/name`` while this
    machine still has it, else the copy that keep_weights.py committed under
    ``benchmarks/weights/`` (a session's run folders end with it); a clear exit naming both
    places when neither holds it."""
    for root in (RUNS, KEPT):
        if (root / name / "summary.json").is_file():
            return root / name
    raise SystemExit(f"{option}: no finished run {name!r} in {RUNS} nor a kept copy in {KEPT} "
                     "(python benchmarks/keep_weights.py RUN_DIR keeps one)")


def keep_weights(run_dir: Path, root: Path = KEPT) -> Path:
    """Copy the finished run in ``run_dir`` to ``root/<its name>``, small enough to commit:
    its config.json, summary.json and metrics.jsonl, and checkpoints that hold the model's
    weights only (the weight average where the run kept one, as :func:`dgm.load` reads
    them): the last ones, and the early-stopping best ones where the run has them, each with
    its loop state, but no optimizer or generator state. ``dgm.load``, ``dgm eval``,
    ``dgm sample`` and ``dgm info`` work on the copy, and ``--init-from`` starts from it; a
    resume refuses it (no optimizer state), saying so."""
    import dgm
    from dgm.train.checkpoint import BEST, CHECKPOINT, read_checkpoint_header, save_weights_only

    run_dir = Path(run_dir)
    if not (run_dir / "summary.json").is_file():
        raise SystemExit(f"keep_weights: no finished run in {run_dir} (no summary.json)")
    dest = Path(root) / run_dir.name
    if dest.resolve() == run_dir.resolve():
        raise SystemExit(f"keep_weights: {run_dir} is already the kept copy")
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "summary.json", "metrics.jsonl"):  # the history: dgm info
        if name == "metrics.jsonl" and not (run_dir / name).is_file():
            (dest / name).unlink(missing_ok=True)  # no stale history from an earlier copy
            continue
        tmp = dest / f".{name}.tmp"
        tmp.write_bytes((run_dir / name).read_bytes())
        os.replace(tmp, dest / name)
    for name, which in ((CHECKPOINT, "last"), (BEST, "best")):
        if (run_dir / name).is_file():
            state = read_checkpoint_header(run_dir / name)["state"]
            save_weights_only(dest / name, dgm.load(run_dir, which=which),
                              f"kept from {run_dir} by benchmarks/keep_weights.py", state)
        else:
            (dest / name).unlink(missing_ok=True)
    return dest


def warm_start(model: Any, source: Path, option: str = "--init-from") -> dict[str, Any]:
    """Start ``model`` from the last weights of the finished run in ``source`` (its averaged
    weights when it kept an average: what was evaluated), for a longer training with a new
    schedule and a fresh optimizer. Returns what the record states about the source: its
    folder, epochs, seconds of training steps and device, so that a figure's training
    time counts both pieces. A clear exit when ``source`` holds no run or another model."""
    import dgm

    summary_path = source / "summary.json"
    if not summary_path.is_file():
        raise SystemExit(f"{option}: no finished run in {source} (no summary.json)")
    try:
        state = dgm.load(source, which="last").state_dict()
        missing = {name for name, _ in model.named_parameters()} - state.keys()
        if missing:
            raise ValueError(f"it lacks the parameters {sorted(missing)}")
        # the parameters and the buffers both hold (e.g. an RBM's data marginals); a
        # buffer of the source's schedule alone (a KL warm-up's step count) stays behind
        model.load_state_dict({k: v for k, v in state.items() if k in model.state_dict()},
                              strict=False)
    except (RuntimeError, ValueError, OSError) as err:
        raise SystemExit(f"{option}: the weights in {source} do not fit this model: {err}") from err
    summary = json.loads(summary_path.read_text())
    saved = json.loads((source / "config.json").read_text())
    return {"run": source.name, "epochs": summary["epochs"],
            "train_seconds": summary["train_seconds"],
            "device": saved["train"].get("device"), "weights": "last (averaged if kept)"}


def check_same_run(run_dir: Path, mine: dict[str, Any], saved: dict[str, Any],
                   free: tuple[str, ...] = ("data_dir",),
                   model_config: dict[str, Any] | None = None) -> None:
    """``--resume``: the arguments (``mine``, a TrainConfig's dict, and ``model_config``
    when the arguments shape the model) must describe the saved run; only the training
    settings in ``free`` may change (not the device: a figure's time and device label
    describe one machine). Exits naming each that differs."""
    differ = setting_differences(mine, saved, free)
    if model_config is not None:
        record = json.loads((run_dir / "config.json").read_text())["model_config"]
        differ.update({f"model.{k}": d for k, d in
                       setting_differences(model_config, record).items()})
    if differ:
        raise SystemExit(f"--resume {run_dir}: the arguments describe another run "
                         f"(setting: (now, saved)) {differ}; only {list(free)} may change")


def say_interrupted(key: str, stop: BaseException) -> None:
    """A run stopped by Ctrl-C or SIGTERM: where, and how to continue it."""
    print(f"{key}: {getattr(stop, 'where', stop)}; checkpoint saved: the same command with "
          f"--resume continues it", flush=True)


def run_record() -> dict[str, Any]:
    """The command, machine and time of this run, stored beside every stage's details."""
    return {"command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine(), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def device_label(device: Any = "cpu") -> str:
    """Where a figure was measured, for the results table: the GPU's name, or the CPU's cores
    and, when torch ran on fewer of them, its threads."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    cores = os.cpu_count()
    torch = sys.modules.get("torch")
    return cpu_label(cores, torch.get_num_threads() if torch is not None else cores)


def cpu_label(cores: int | None, threads: int | None) -> str:
    """"N-core CPU", and the torch threads when they were fewer than the cores."""
    if threads and cores and threads < cores:
        return f"{cores}-core CPU, {threads} torch thread{'s' if threads > 1 else ''}"
    return f"{cores or '?'}-core CPU"


def set_figures(data: dict[str, Any], figures: dict[str, Any], device: Any = "cpu",
                label: str | None = None) -> None:
    """Put ``figures`` at the top level of a results object, noting where each was measured:
    ``label`` when given (a figure measured earlier, elsewhere: its own record's label; this
    machine may have no GPU to name), else this machine's ``device``."""
    data.update(figures)
    where = data.setdefault("figure_device", {})
    where.update({k: label or device_label(device) for k in figures})


def update_results(name: str, figures: dict[str, Any], stage: str, details: dict[str, Any],
                   device: Any = "cpu") -> Path:
    """Merge ``figures`` (top level) and ``details`` (``stages[stage]``) into results/name.json."""
    with locked_results(name) as data:
        set_figures(data, figures, device)
        data.setdefault("stages", {})[stage] = {**details, **run_record()}
    return RESULTS / f"{name}.json"


def record_label(record: dict[str, Any]) -> str:
    """Where a stored record was measured (records before ``device_label``: its machine)."""
    if "device_label" in record:
        return record["device_label"]
    machine = record.get("machine", {})
    return machine.get("cuda") or cpu_label(machine.get("cores"), machine.get("torch_threads"))


def select_variant(name: str, stage: str, key: str, details: dict[str, Any],
                   figures: dict[str, Any], score: str, device: Any = "cpu",
                   figures_of: Any = None, label: str | None = None) -> bool:
    """Record variant ``key`` of ``stage`` under ``stages[key]`` of results/name.json; the
    top-level figures are those of the variant with the lowest ``details[score]`` (a
    validation figure: selection on validation, never on test). A variant without a score
    (inf or None, e.g. no validation split) replaces the held one. Returns whether ``key`` is
    chosen. ``figures_of(record)`` rebuilds the figures of a stored variant recorded before
    records carried them (else the figure names are looked up in the record itself).
    ``label``: where the figures were measured, when not this machine's ``device`` alone
    (a run trained in pieces on two machines)."""
    label = label or device_label(device)
    with locked_results(name) as data:
        stages = data.setdefault("stages", {})
        stages[key] = {**details, **run_record(), "variant_of": stage,
                       "figures": figures, "device_label": label}
        chosen = data.setdefault("selected", {}).get(stage, stage)
        mine = _score(details[score])
        held = _score(stages.get(chosen, {}).get(score))
        if chosen == key:  # rerun of the chosen one: the best stored variant may now beat it

            def figures_from(v: dict[str, Any]) -> dict[str, Any] | None:
                if "figures" in v:
                    return v["figures"]
                try:
                    got = (figures_of(v) if figures_of is not None
                           else {k: v[k] for k in figures if k in v})
                except KeyError:  # not a record of this stage's kind
                    return None
                return got if got and set(got) == set(figures) else None

            def of_stage(k: str, v: dict[str, Any]) -> bool:
                return v.get("variant_of", stage if k == stage or k.startswith(stage + "_")
                             else None) == stage

            rivals = [k for k, v in stages.items() if k != key and of_stage(k, v)
                      and _score(v.get(score)) < mine and figures_from(v) is not None]
            if rivals:
                best = min(rivals, key=lambda k: _score(stages[k][score]))
                data["selected"][stage] = best
                set_figures(data, figures_from(stages[best]),
                            label=record_label(stages[best]))
                return False
        if chosen == key or mine <= held or mine == float("inf"):
            data["selected"][stage] = key
            set_figures(data, figures, label=label)
            return True
    return False
