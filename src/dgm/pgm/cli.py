"""``dgm pgm``: info, query, sample and draw for BIF / UAI networks.

NET is a file (``.bif``, ``.bif.gz``, ``.uai``; gzip is told by the first bytes) or the
name of a bnlearn network found as ``<data dir>/bnlearn/NAME.bif.gz``, where the data
directory is ``$DGM_DATA``, else ``$XDG_CACHE_HOME/dgm``, else ``~/.cache/dgm``.

    dgm pgm info NET
    dgm pgm query NET --target X --evidence A=yes B=no [--json]
    dgm pgm query NET --target X --evidence-csv rows.csv [-o posteriors.csv]
    dgm pgm sample NET -n 100000 -o samples.csv [--seed 0]
    dgm pgm sample NET -n 10000 -o s.csv --evidence A=yes [--chains 4 --burn-in 1000]  # Gibbs
    dgm pgm draw NET -o net.png   # or net.svg, net.pdf, net.jpg

Errors print one line ``dgm pgm CMD: error: ...`` and exit 2; Ctrl-C prints
``dgm pgm CMD: interrupted`` and exits 130; a closed stdout (``| head``) ends quietly
with status 0. Output folders are created.

Wire it into another parser with :func:`add_pgm_subparser` and :func:`run_pgm`,
or run ``python -m dgm.pgm.cli ...``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dgm.pgm._memory import check_sample_memory
from dgm.pgm.io.network import bnlearn_file, load_network

NET_HELP = (
    "the network: a .bif, .bif.gz or .uai file, or the name of a bnlearn network "
    "(asia, alarm, ...) found as <data dir>/bnlearn/NAME.bif.gz, the data directory "
    "being $DGM_DATA, else $XDG_CACHE_HOME/dgm, else ~/.cache/dgm"
)
NET_DESCRIPTION = """\
NET is a network file (.bif, .bif.gz or .uai; gzip is told by its first bytes)
or the name of a bnlearn network (asia, alarm, ...) found as
<data dir>/bnlearn/NAME.bif.gz, the data directory being $DGM_DATA, else
$XDG_CACHE_HOME/dgm, else ~/.cache/dgm. Give NET before the options."""
EXAMPLES = {
    "info": "NET",
    "query": "NET --target X --evidence A=yes B=no",
    "sample": "NET -n 1000 -o samples.csv",
    "draw": "NET -o net.png",
}


GIBBS_CHAINS, GIBBS_BURN_IN = 4, 1000  # dgm pgm sample's Gibbs defaults


def _output(path: str) -> str:
    """``path``, its folder created (called just before the file is written)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return path


def _parse_evidence(items: Sequence[str]) -> dict[str, str]:
    evidence = {}
    for item in items:
        var, sep, state = item.partition("=")
        if not sep or not var or not state:
            raise ValueError(f"evidence {item!r} must look like VARIABLE=STATE")
        if var in evidence:
            raise ValueError(f"evidence for {var!r} given twice ({evidence[var]!r} and {state!r})")
        evidence[var] = state
    return evidence


def _info(model: Any, args: argparse.Namespace) -> int:
    kind = type(model).__name__
    cards = [len(s) for s in model.states.values()]
    n, e = len(model.variables), len(model.edges)
    print(f"{model.name}: {kind}, {n} variable{'s' * (n != 1)}, {e} edge{'s' * (e != 1)}")
    if cards:
        print(f"states per variable: min {min(cards)}, max {max(cards)}")
    print(f"elimination order width: {_width(model)}")
    if hasattr(model, "parents"):
        for v in model.variables:
            ps = ", ".join(model.parents[v])
            print(f"  {v} [{', '.join(model.states[v])}]" + (f" | {ps}" if ps else ""))
    return 0


def _width(model: Any) -> int:
    from dgm.pgm.ordering import induced_width, interaction_graph

    graph = interaction_graph(v for v, _ in model._raw_tables())
    return induced_width(graph, model.elimination_order())


def _query(model: Any, args: argparse.Namespace) -> int:
    from dgm.pgm.data import write_csv

    if args.evidence_csv and (args.evidence or args.json):
        option = "--evidence" if args.evidence else "--json"
        raise ValueError(f"{option} cannot be combined with --evidence-csv")
    if args.output and not args.evidence_csv:
        raise ValueError("-o/--output needs --evidence-csv (a single query prints its posterior)")
    states = model.states.get(args.target)
    if states is None:
        from dgm.pgm._hints import did_you_mean

        hint = did_you_mean(args.target, model.variables)
        raise ValueError(f"unknown target variable {args.target!r}{hint}")
    if args.evidence_csv:
        post = _csv_posteriors(model, args.target, args.evidence_csv)
        header = [f"P({args.target}={s})" for s in states]
        if args.output:
            write_csv(_output(args.output), header, ([f"{p:.10g}" for p in r] for r in post))
            print(f"wrote {len(post)} posteriors to {args.output}")
        else:
            print(",".join(header))
            for r in post:
                print(",".join(f"{p:.10g}" for p in r))
        return 0
    evidence = _parse_evidence(args.evidence or [])
    post = model.query(args.target, evidence)
    if args.json:
        out = {
            "target": args.target,
            "evidence": evidence,
            "posterior": dict(zip(states, post.values.tolist())),
        }
        print(json.dumps(out, indent=2))
    else:
        for s, p in zip(states, post.values):
            print(f"P({args.target}={s} | evidence) = {p:.6f}")
    return 0


def _csv_posteriors(model: Any, target: str, path: str) -> np.ndarray:
    """``P(target | row)`` for every row of an evidence CSV; errors name the file and line."""
    from dgm.pgm.data import TableError, read_csv_with_lines
    from dgm.pgm.inference import ImpossibleEvidenceError, ZeroPartitionError

    rows, lines = read_csv_with_lines(path)
    if rows.pop(target, None) is not None:
        print(f"note: ignoring the {target!r} column of {path}", file=sys.stderr)
    try:
        if rows:
            return model.query_batch(target, rows)
        return np.tile(model.query(target).values, (len(lines), 1))  # no evidence: the prior
    except TableError as err:
        where = f"{path}, line {lines[err.row]}, column {err.column!r}"
        raise ValueError(f"{where}: {err.detail}") from None
    except ZeroPartitionError:  # the network is to blame, not a row: see _run
        raise
    except ImpossibleEvidenceError as err:
        at = ", ".join(str(lines[r]) for r in err.rows)  # the first 10 impossible rows
        where = f", line{'s' if len(err.rows) > 1 else ''} {at}" if err.rows else ""
        raise ValueError(f"{path}{where}: the evidence has probability 0") from None
    except ValueError as err:  # about the file as a whole (an unknown column)
        raise ValueError(f"{path}: {err}") from None


def _sample(model: Any, args: argparse.Namespace) -> int:
    """Forward samples of a Bayesian network; Gibbs samples (every variable, the observed
    ones at their evidence) of a Markov network, of any network given ``--evidence``, or
    with ``--gibbs``, their convergence diagnostics on stderr."""
    from dgm.pgm.data import write_csv

    if args.n < 1:
        raise ValueError(f"-n must be at least 1, got {args.n}")
    suffix = Path(args.output).suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise ValueError(f"-o must end in .csv (state names) or .npy (state indices, an (N, "
                         f"variables) int64 array in the network's order), got {args.output}")
    evidence = _parse_evidence(args.evidence or [])
    gibbs = args.gibbs or bool(evidence) or not hasattr(model, "sample")
    if not gibbs and (args.chains, args.burn_in) != (None, None):
        raise ValueError("--chains and --burn-in set up Gibbs sampling: add --gibbs (forward "
                         "samples of a Bayesian network are exact and independent)")
    if gibbs:
        codes, how = _gibbs_codes(model, evidence, args)
    else:
        check_sample_memory(args.n, len(model.variables), f"-n {args.n}")
        codes, how = model.sample(args.n, seed=args.seed), "forward"  # (N, variables)
    if suffix == ".npy":
        from dgm._files import atomic_save_npy

        atomic_save_npy(_output(args.output), np.asarray(codes, dtype=np.int64))
    else:
        write_csv(_output(args.output), model.variables, _csv_rows(model, codes))
    given = f" given {evidence}" if evidence else ""
    print(f"wrote {args.n} {how} samples{given} to {args.output}")
    return 0


def _csv_rows(model: Any, codes: np.ndarray):
    """The state names of each row of ``codes`` (N, variables); N empty rows for a network
    without variables (a zip of no columns would give no rows at all)."""
    if not model.variables:
        return ([] for _ in range(len(codes)))
    names = [np.asarray(model.states[v], dtype=object) for v in model.variables]
    return zip(*(names[j][codes[:, j]] for j in range(len(names))))


def _gibbs_codes(model: Any, evidence: dict[str, str], args: argparse.Namespace):
    """``(n, variables)`` state indices from ``--chains`` Gibbs chains (``ceil(n / chains)``
    draws each after ``--burn-in`` sweeps, interleaved chain by chain), and how they were
    drawn. The worst split R-hat and the least effective sample size over the variables go
    to stderr, with a warning when R-hat exceeds 1.01."""
    from dgm.pgm.gibbs import GibbsSampler

    chains = GIBBS_CHAINS if args.chains is None else args.chains
    burn_in = GIBBS_BURN_IN if args.burn_in is None else args.burn_in
    if chains < 1 or burn_in < 0:
        raise ValueError(f"--chains must be at least 1 and --burn-in at least 0, got "
                         f"{chains} and {burn_in}")
    draws = -(-args.n // chains)
    flags = f"-n {args.n}" + (f" with --chains {chains}" if args.chains is not None else "")
    check_sample_memory(chains * draws, len(model.variables), flags)
    sampler = GibbsSampler(model, evidence)
    res = sampler.run(draws, chains=chains, burn_in=burn_in, seed=args.seed)
    codes = np.empty((args.n, len(model.variables)), dtype=np.int64)
    # the shape in full: with every variable observed (none sampled) -1 is ambiguous
    drawn = res.samples.transpose(1, 0, 2).reshape(chains * draws, len(res.variables))
    drawn = drawn[: args.n]
    for j, v in enumerate(model.variables):
        codes[:, j] = (drawn[:, res.variables.index(v)] if v in res.variables
                       else sampler.evidence[v])
    if res.variables and draws >= 4:
        rhat, n_eff = max(res.rhat().values()), min(res.ess().values())
        print(f"gibbs: {chains} chains x {draws} draws after {burn_in} sweeps; "
              f"worst split R-hat {rhat:.4f}, least ESS {n_eff:.0f}"
              + ("  WARNING: R-hat > 1.01, the chains have not mixed: raise --burn-in or -n"
                 if rhat > 1.01 else ""), file=sys.stderr)
    elif not res.variables:
        print("gibbs: no variable is left to sample (every one is observed): each sample is "
              "the evidence", file=sys.stderr)
    return codes, "Gibbs"


def _draw(model: Any, args: argparse.Namespace) -> int:
    from dgm.pgm.draw import draw_network, picture_path

    picture_path(args.output)  # a suffix it cannot write, before its folder is made
    path = draw_network(model, _output(args.output))
    print(f"wrote {path}")
    return 0


COMMANDS = {"info": _info, "query": _query, "sample": _sample, "draw": _draw}


def _net_out_of_evidence(args: list[str]) -> list[str]:
    """``... --evidence A=yes NET`` as ``... NET --evidence A=yes``.

    ``--evidence`` takes any number of values, so argparse would count NET among them; a
    token after the VAR=STATE items that is no option and names an existing file or
    bnlearn network is moved before ``--evidence``. Anything else is left to the errors.
    """
    if "--evidence" not in args:
        return args
    i = len(args) - 1 - args[::-1].index("--evidence")
    j = i + 1
    while j < len(args) and not args[j].startswith("-") and "=" in args[j]:
        j += 1
    if j < len(args) and not args[j].startswith("-"):
        if Path(args[j]).exists() or bnlearn_file(args[j]) is not None:
            return [*args[:i], args[j], *args[i:j], *args[j + 1 :]]
    return args


class _PgmParser(argparse.ArgumentParser):
    """A ``dgm pgm`` subcommand's parser: NET may follow an ``--evidence`` list, and a
    missing NET is explained."""

    def parse_known_args(self, args=None, namespace=None):
        if args is not None:
            args = _net_out_of_evidence(list(args))
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        if "required" in message and "NET" in message:
            command = self.prog.split()[-1]
            message += (
                " (NET, a network file or bnlearn name, goes first: "
                f"{self.prog} {EXAMPLES.get(command, 'NET ...')})"
            )
        super().error(message)


def add_pgm_subparser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``pgm`` command (info/query/sample/draw) to an argparse subparsers object."""
    pgm = subparsers.add_parser(
        "pgm",
        help="Bayesian / Markov networks: exact inference, sampling",
        description="Bayesian / Markov networks: exact inference, sampling, pictures.\n\n"
        + NET_DESCRIPTION,
        epilog="examples:\n" + "\n".join(f"  dgm pgm {c} {ex}" for c, ex in EXAMPLES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = pgm.add_subparsers(dest="pgm_command", required=True, parser_class=_PgmParser,
                             metavar="{" + ",".join(COMMANDS) + "}")

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}.\n\n{NET_DESCRIPTION}",
            epilog=f"example:\n  dgm pgm {name} {EXAMPLES[name]}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("net", metavar="NET", help=NET_HELP)
        return parser

    command("info", "summarize a network")
    query = command("query", "posterior of a target variable")
    query.add_argument("--target", required=True, help="the variable whose posterior is printed")
    query.add_argument(
        "--evidence",
        nargs="*",
        default=[],
        metavar="VAR=STATE",
        help="observed values (not with --evidence-csv)",
    )
    query.add_argument("--evidence-csv", help="CSV of evidence rows (empty cell = unobserved)")
    query.add_argument("-o", "--output", help="CSV of posteriors (only with --evidence-csv)")
    query.add_argument("--json", action="store_true", help="print JSON (not with --evidence-csv)")
    sample = command("sample", "samples to CSV or .npy: forward (Bayesian network) or Gibbs "
                     "(Markov network, or given evidence)")
    sample.add_argument("-n", type=int, default=1000, help="number of samples (at least 1)")
    sample.add_argument("-o", "--output", required=True,
                        help=".csv (state names, a header of variables) or .npy (state indices, "
                        "(N, variables) int64, the network's variable order); folders are "
                        "created")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--evidence", nargs="*", default=[], metavar="VAR=STATE",
                        help="sample P(. | evidence) by Gibbs (the observed columns hold "
                        "their evidence)")
    sample.add_argument("--gibbs", action="store_true",
                        help="Gibbs sampling for a Bayesian network too (a Markov network, "
                        "or any given --evidence, is always Gibbs-sampled)")
    sample.add_argument("--chains", type=int,
                        help=f"Gibbs chains (default: {GIBBS_CHAINS})")
    sample.add_argument("--burn-in", type=int, dest="burn_in",
                        help=f"Gibbs sweeps discarded per chain (default: {GIBBS_BURN_IN})")
    draw = command("draw", "picture of the network (PNG, SVG, PDF or JPEG)")
    draw.add_argument("-o", "--output", required=True,
                      help="picture file: .png, .svg, .pdf, .jpg or .jpeg (.png added if no "
                      "suffix)")
    return pgm


def _run(args: argparse.Namespace) -> int:
    """Load NET and run the command; a network with ``Z = 0`` is named in the error."""
    from dgm.pgm.inference import ZeroPartitionError

    try:
        return COMMANDS[args.pgm_command](load_network(args.net), args)
    except ZeroPartitionError as err:
        raise ValueError(f"{args.net}: {err}") from None


def run_pgm(args: argparse.Namespace) -> int:
    """Run a parsed ``pgm`` command: 0, or 2 after a one-line error, 130 after Ctrl-C."""
    from dgm._errors import run_command

    return run_command(f"dgm pgm {args.pgm_command}", lambda: _run(args), (ValueError, OSError))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``python -m dgm.pgm.cli``."""
    parser = argparse.ArgumentParser(prog="dgm")
    add_pgm_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pgm", *(sys.argv[1:] if argv is None else argv)])
    return run_pgm(args)


if __name__ == "__main__":
    raise SystemExit(main())
