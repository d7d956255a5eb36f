"""vampjax command line: train, evaluate or sample a VAE described by a config file.

  python main.py --config=configs/mnist_vamp.py --workdir=runs/mnist_vamp
  python main.py --config=configs/mnist_vamp.py --workdir=runs/mnist_vamp --mode=sample

Errors in the user's hands (a bad config value, missing data, a workdir of another run or
in use by another training, no readable checkpoint) print one line and exit with status 2;
nothing already written is lost. A training stopped by SIGTERM or SIGINT saves the step in
flight, prints one line and exits with 143 or 130 (128 + the signal's number); Ctrl-C in
another mode prints one line naming the files it had written whole, and exits with 130.
"""

import difflib
import glob
import os
import shlex
import sys

from vampjax import xla_cpu

if __name__ == "__main__":
  xla_cpu.configure_process()  # may re-execute this command: before the heavy imports

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app, flags, logging
import jax
from ml_collections import config_flags

from vampjax import config_validation, modes, preemption, sharding
from vampjax.config_validation import ConfigError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Experiment config file (configs/*.py).",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and figures.")
flags.DEFINE_enum("mode", "train", list(modes.MODES), "What to do with the run in --workdir.")
flags.DEFINE_bool("overwrite", False, "Train: delete a run of another config in --workdir.")
flags.mark_flags_as_required(["config", "workdir"])

USAGE_ERROR_STATUS = 2


def config_file(argv: list[str]) -> str | None:
  """The path of --config=PATH[:ARGS], if given."""
  paths = [a[len("--config="):].split(":", 1)[0] for a in argv if a.startswith("--config=")]
  return paths[-1] if paths else None


def check_config_file(path: str | None) -> None:
  """A --config file that does not exist, named with the closest one that does."""
  if path is not None and not os.path.isfile(path):
    folder = os.path.dirname(path) or "."
    close = difflib.get_close_matches(path, glob.glob(os.path.join(folder, "*.py")), n=1)
    raise ConfigError(f"config file {path} does not exist; "
                      + (f"did you mean {close[0]}?" if close
                         else "see configs/ for the experiment configs."))


def _innermost(error: BaseException) -> str:
  """The first cause of an error, in one line (a config file's SyntaxError or exception)."""
  while error.__cause__ or error.__context__:
    error = error.__cause__ or error.__context__
  return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, with bad flags reported in one line and status 2, like other user errors."""
  path = config_file(argv)
  broken = f"config file {path} cannot be loaded: "
  try:
    check_config_file(path)
    config_validation.check_override_keys(argv)
    remaining = FLAGS(argv)
    _ = FLAGS.config  # a config file that fails to load fails here, if not above
    if len(remaining) > 1:
      raise ConfigError(f"unexpected argument(s) {' '.join(remaining[1:])}; every option is a "
                        "flag such as --mode=eval (python main.py --help lists them).")
    return remaining
  except (ConfigError, flags.Error) as error:  # a multi-line one is the config file's
    many = len(str(error).splitlines()) > 1
    message = f"{broken}{_innermost(error)}; fix it." if many else str(error)
  except Exception as error:  # pylint: disable=broad-except  # the config file's own code
    message = f"{broken}{_innermost(error)}; fix it."
  print(f"error: {message}", file=sys.stderr)
  sys.exit(USAGE_ERROR_STATUS)


def next_commands(workdir: str) -> str:
  """This command line with each other --mode, and TensorBoard on the workdir."""
  argv = [a for a in sys.argv[1:] if not a.startswith(("--mode", "--overwrite", "--nooverwrite"))]
  base = shlex.join(["python", "main.py", *argv])
  return ("next:\n"
          f"  {base} --mode=sample    # samples.png: images from the prior\n"
          f"  {base} --mode=eval      # eval.json and a table of every metric, figures/\n"
          f"  {base} --mode=figures   # figures/ only\n"
          f"  tensorboard --logdir {shlex.quote(workdir)}")


def main(argv):
  del argv  # parse_flags refuses any left over
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every file it writes at INFO
  xla_cpu.use_compilation_cache()
  sharding.initialize_distributed(FLAGS.config)  # multi-host: before any other JAX call
  print(f"vampjax: {FLAGS.mode} on {jax.device_count()} {jax.default_backend()} device(s)")
  try:
    config_validation.validate(FLAGS.config, jax.device_count())
    if FLAGS.mode == "train":
      modes.run_train(FLAGS.config, FLAGS.workdir, overwrite=FLAGS.overwrite)
      if jax.process_index() == 0:
        print(next_commands(FLAGS.workdir))
    else:
      modes.run_interruptible(FLAGS.mode, FLAGS.config, FLAGS.workdir)
  except modes.USER_ERRORS as error:
    print(f"error: {error}", file=sys.stderr)
    sys.exit(USAGE_ERROR_STATUS)
  except (preemption.Preempted, modes.Interrupted) as stopped:
    print(stopped, file=sys.stderr, flush=True)
    sys.stdout.flush()
    # All is saved and closed: skip the XLA runtime's teardown (seconds on a busy machine)
    # within a preempted job's short grace period.
    os._exit(stopped.exit_status)  # pylint: disable=protected-access


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
