"""Reproduces the study's Tables 1–3 and Figures 1–7: train, evaluate, report beside it.

  python -m experiments.reproduce --table 1 --budget cpu [--figures]
  python -m experiments.reproduce --table 2 --budget cpu --data celeba_sample
  python -m experiments.reproduce --table paper --budget cpu   # the VampPrior paper's MNIST
  python -m experiments.reproduce --table paper --budget cpu --seeds 0   # one seed per row
  python -m experiments.reproduce --table fashion --budget cpu   # the same on Fashion-MNIST
  python -m experiments.reproduce --table paper --budget full --status   # how far it got
  python -m experiments.reproduce --table paper --budget cpu --records-only   # what is done

Each row's config gets the budget's overrides, is trained in `<workdir-root>/<budget>/<data>/
<row run>` (a finished run is reused, an interrupted one resumes), evaluated, and the report
`<results-dir>/table<N>.md` (paper_mnist.md) is written from the numbers: nothing in it is typed by hand.
The tables are in `tables.py`, the runs in `run.py`, the report in `report.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from experiments import budgets as budgets_lib
from experiments import paper_report, records, report, run, status
from experiments import seeds as seeds_lib
from experiments.tables import TABLES
from vampjax import modes, preemption, xla_cpu

USER_ERRORS = (*modes.USER_ERRORS, records.RecordError)
INTERRUPTED = ("stopped (Ctrl-C); the finished trainings and evaluations are kept, and so are "
               "an interrupted evaluation's finished batches: run the same command to resume")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--table", type=lambda v: int(v) if v.isdigit() else v,
                      choices=list(TABLES), required=True,
                      help="1, 2, 3 (the study), paper (the VampPrior paper's MNIST) or "
                      "fashion (its one-level models on Fashion-MNIST)")
  parser.add_argument("--budget", choices=sorted(budgets_lib.BUDGETS), default="cpu")
  parser.add_argument("--figures", action="store_true", help="also write Figures 1–7")
  parser.add_argument("--data", choices=("celeba_sample", "celeba", "image_folder"),
                      default="celeba_sample", help="Tables 2 and 3: the CelebA source")
  parser.add_argument("--data-path", default="",
                      help="celeba: the TFDS data_dir; image_folder: the image folder")
  parser.add_argument("--rows", nargs="+", default=None,
                      help="only these rows (keys in tables.py), e.g. to train two in parallel "
                      "processes with --train-only; the report then covers these rows and "
                      "names the others")
  parser.add_argument("--seeds", type=int, nargs="+", default=None,
                      help="train and evaluate every row with each of these seeds, each in its "
                      "own workdir (seed 0's is the row's usual one); default: the budget's "
                      "(cpu paper rows: 0 1 2, else 0)")
  parser.add_argument("--no-extras", action="store_true",
                      help="leave out the rows marked extra (the smoke budget always does)")
  parser.add_argument("--train-only", action="store_true",
                      help="train (or resume) the rows, evaluate nothing, write no report")
  parser.add_argument("--reuse-records", action="store_true",
                      help="--table paper and fashion: a row whose run is not in the workdir "
                      "root is taken from the record its last report committed (test metrics, "
                      "training log, validation curve) instead of trained again")
  parser.add_argument("--records-only", action="store_true",
                      help="--table paper and fashion: write the report from the rows' "
                      "records alone, e.g. while other seeds still train; trains and "
                      "evaluates nothing, and leaves out (naming them) the rows and seeds "
                      "with no record yet")
  parser.add_argument("--status", action="store_true",
                      help="print each row and seed's progress (epochs trained, best "
                      "validation −ELBO, evaluation done or kept in part) and exit; trains, "
                      "evaluates and writes nothing")
  parser.add_argument("--workdir-root", default="runs/reproduce")
  parser.add_argument("--results-dir", default=None,
                      help="where table<N>.md and figures go "
                      "(default experiments/results/<budget>)")
  args = parser.parse_args(argv)
  if args.data != "celeba_sample" and not args.data_path:
    parser.error(f"--data {args.data} needs --data-path")
  for flag in ("reuse_records", "records_only"):
    if getattr(args, flag) and TABLES[args.table].family != "paper":
      parser.error(f"--{flag.replace('_', '-')} applies to --table paper and fashion (the "
                   "reports that keep records)")
  if args.records_only and args.train_only:
    parser.error("--records-only writes a report from records; --train-only writes none: "
                 "choose one")
  if args.seeds and len(args.seeds) > 1 and TABLES[args.table].family != "paper":
    parser.error("--seeds with several seeds applies to --table paper and fashion (their "
                 "reports give each row's mean ± sd); the study tables take one seed")
  return args


def main(argv: list[str] | None = None) -> str | None:
  """The report's path; None with `--train-only` or `--status`."""
  args = parse_args(argv)
  table, budget = TABLES[args.table], budgets_lib.BUDGETS[args.budget]
  began = time.perf_counter()
  out_dir = args.results_dir or os.path.join(ROOT, "experiments", "results", budget.name)
  own_records = (records.directory(out_dir, paper_report.OUTPUTS[table.number][0])
                 if table.family == "paper" else None)
  records_dir = own_records if args.reuse_records or args.records_only else None
  if args.status:
    print("\n".join(status.status_lines(table, budget, args, records_dir)))
    return None
  xla_cpu.use_compilation_cache()
  keep = ((lambda result: paper_report.keep_record(result, own_records))
          if own_records is not None else None)
  results = run.run_table(table, budget, args, records_dir, keep)
  if args.train_only:
    return None
  if not results:  # --records-only before any row of the selection has a record
    raise records.RecordError(f"no row of this selection has a record in {records_dir} yet: "
                              "nothing to report; leave out --records-only to train them")
  if table.family == "paper":  # the paper's benchmark and its Fashion-MNIST table
    asked = [(row.key, seeds_lib.seed_of(row)) for row in run.table_rows(table, budget, args)]
    path = paper_report.write_report(table, budget, results, out_dir, asked)
  else:
    figures: list[str] = []
    if args.figures:
      from experiments import study_figures  # pylint: disable=import-outside-toplevel
      figures = study_figures.write(table.number, results, out_dir)
    path = report.write_report(table, budget, results, out_dir, figures)
  print(f"wrote {path} ({time.perf_counter() - began:.0f} s)")
  return path


def cli() -> None:
  """`main` on the command line: a stop or an error in the user's hands is one line and an
  exit status (130 or 143 for a stop, 2 for an error), not a traceback."""
  try:
    main()
  except preemption.Preempted as stopped:  # a training, after saving its checkpoint
    print(stopped, file=sys.stderr)
    sys.exit(stopped.exit_status)
  except KeyboardInterrupt:  # an evaluation or a report
    print(INTERRUPTED, file=sys.stderr)
    sys.exit(modes.Interrupted.exit_status)
  except USER_ERRORS as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  cli()
