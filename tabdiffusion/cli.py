"""The `tabdiffusion` command line: a thin typer layer, one library call per command."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Callable, Optional, TypeVar

import typer

from .errors import ParameterError, TabDiffusionError

app = typer.Typer(
    help="Synthetic tabular data with diffusion models: fit a table, sample new rows, check them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# Set by the app's callback on every invocation: re-raise errors so that Python prints their traceback.
_debug = False
# Errors that come from the user's input or environment (bad values, files, paths): reported as their message only.
USER_ERRORS: tuple[type[BaseException], ...] = (TabDiffusionError, ValueError, TypeError, KeyError, OSError)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option(
        "--debug", envvar="TABDIFFUSION_DEBUG", help="Show the full Python traceback of an error.")] = False,
) -> None:
    """Options for every command."""
    global _debug
    _debug = debug


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_message(error: Exception) -> str:
    """The one-line message for an error: the message of a user error, the type as well for anything else."""
    if isinstance(error, OSError) and error.strerror:  # without the "[Errno 13]" prefix
        if error.filename:
            return _one_line(f"{error.strerror}: {error.filename!r}. Check the path and its permissions.")
        return _one_line(f"{error.strerror}.")
    if isinstance(error, KeyError):  # str() of a KeyError is only the quoted key
        return _one_line(f"No column or key {error.args[0]!r}." if error.args else "A column or key is missing.")
    arrow = sys.modules.get("pyarrow")  # its errors are user errors too, where it has been imported
    if isinstance(error, USER_ERRORS) or (arrow is not None and isinstance(error, arrow.ArrowException)):
        return _one_line(str(error)) or type(error).__name__
    return _one_line(f"unexpected {type(error).__name__}: {error} (run with --debug for the traceback)")


def _fail(error: Exception) -> None:
    typer.secho(f"Error: {error_message(error)}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


Command = TypeVar("Command", bound=Callable[..., None])


def _report_errors(command: Command) -> Command:
    """Turn any error of `command` into one line on stderr and exit code 1 (130 for Ctrl-C); with --debug, raise it."""

    @functools.wraps(command)
    def run(*args, **kwargs) -> None:
        try:
            command(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own exits and usage errors
            raise
        except KeyboardInterrupt:
            if _debug:
                raise
            typer.secho("Interrupted.", err=True)
            raise typer.Exit(code=130) from None
        except Exception as error:
            if _debug:
                raise
            _fail(error)

    return run  # type: ignore[return-value]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file, through links and different spellings (./x, ../dir/x)."""
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a link loop
        return os.path.abspath(a) == os.path.abspath(b)
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)  # hard links
    except OSError:
        return False


def check_outputs(inputs: dict[str, Optional[Path]], outputs: dict[str, Optional[Path]]) -> None:
    """Refuse, before any work, an output that is one of the command's inputs or another of its outputs."""
    named = [(name, path, "input") for name, path in inputs.items() if path is not None]
    for name, path in outputs.items():
        if path is None:
            continue
        for other, earlier, role in named:
            if _same_file(path, earlier):
                raise ParameterError(
                    f"{name} {str(path)!r} is the same file as {other} {str(earlier)!r}; writing it would replace that "
                    f"{role}. Choose another path for {name}."
                )
        named.append((name, path, "output"))


Threads = Annotated[Optional[int], typer.Option(
    help="CPU threads to use (default: all cores). Give each of several jobs on one machine its share, e.g. "
         "--threads 1 for two jobs on two cores: jobs that each use every core slow each other down many times over.")]


def verdict_lines(verdicts: dict[str, dict]) -> str:
    """One line per area: level and headline."""
    return "\n".join(f"{area:<10} {v['level']:<5} {v['headline']}" for area, v in verdicts.items())


def _parse_column_types(values: list[str] | None) -> dict[str, str]:
    types = {}
    for item in values or []:
        name, sep, kind = item.rpartition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r} is not COLUMN=KIND, e.g. zip=categorical.", param_hint="--column-type")
        types[name] = kind
    return types


def _parse_categories(values: list[str] | None) -> dict[str, list[str]] | None:
    """--categories COLUMN=A,B,C (repeatable) as {COLUMN: [A, B, C]}; None where none is given."""
    levels = {}
    for item in values or []:
        name, sep, listed = item.partition("=")
        if not sep or not name or not listed:
            raise typer.BadParameter(f"{item!r} is not COLUMN=A,B,..., e.g. fraud=0,1.", param_hint="--categories")
        levels[name] = listed.split(",")
    return levels or None


@app.command()
@_report_errors
def fit(
    data: Annotated[Path, typer.Argument(help="Training table (.csv or .parquet, or a folder of .parquet files).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the model file (e.g. model.tdm).")],
    target: Annotated[Optional[str], typer.Option(help="Target column: class labels are conditioned on.")] = None,
    streaming: Annotated[Optional[bool], typer.Option(
        "--streaming/--no-streaming",
        help="Read the table in record batches, never whole (default: for tables over 512 MiB on disk).")] = None,
    max_memory_rows: Annotated[Optional[int], typer.Option(
        help="Streaming: rows of the sample that the schema and quantiles are learned from; bounds memory "
             "(default 200,000).")] = None,
    work_dir: Annotated[Optional[Path], typer.Option(
        help="Streaming: folder for the encoded table's temporary files (default: the system's temporary folder).")] = None,
    time_budget: Annotated[Optional[float], typer.Option(help="Stop training after this many seconds.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Training steps (default: the preset's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed for reproducible fits.")] = None,
    preset: Annotated[str, typer.Option(help="Hyperparameter preset: default, flow (samples in one step) or tabddpm.")] = "default",
    column_type: Annotated[Optional[list[str]], typer.Option(help="Override a column kind: COLUMN=KIND (repeatable).")] = None,
    min_proximity: Annotated[Optional[float], typer.Option(
        help="Memorisation stop: end training when sampled rows sit closer to training rows than this share of the "
             "training rows' own spacing (default: the preset's, 0.8; 0: off).")] = None,
    compute_columns: Annotated[bool, typer.Option(
        help="Compute numeric columns that others fix exactly (totals, copies, lengths) instead of modelling them.",
    )] = False,
    value_protection: Annotated[bool, typer.Option(
        help="Keep no value that fewer than 5 rows hold in the model file or the rows (docs/privacy.md).",
    )] = True,
    dp_epsilon: Annotated[Optional[float], typer.Option(
        help="Train with differential privacy at this epsilon (needs the [dp] extra; docs/privacy.md).")] = None,
    dp_delta: Annotated[Optional[float], typer.Option(help="The delta of --dp-epsilon (default: 1 / rows^1.1).")] = None,
    categories: Annotated[Optional[list[str]], typer.Option(
        help="With --dp-epsilon: the levels a categorical column or the target can take, known without the data: "
             "COLUMN=A,B,C (repeatable); released without the threshold that hides rare levels.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    checkpoint_dir: Annotated[Optional[Path], typer.Option(
        help="Folder for the training's checkpoint (the latest only), so a killed fit can --resume.")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        help="Training steps between checkpoints (default: 500; the last step is always saved).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue from the checkpoint in --checkpoint-dir (none there: start from scratch).")] = False,
) -> None:
    """Fit a synthesizer to a table and save it."""
    from .checkpoint import FILE_NAME
    from .distributed import is_main_process
    from .synthesizer import Synthesizer
    from .tables import TABLE_SUFFIXES, check_writable

    start = time.perf_counter()
    check_outputs({"DATA": data}, {"--out": out, "--checkpoint-dir": checkpoint_dir and checkpoint_dir / FILE_NAME})
    if out.suffix.lower() in TABLE_SUFFIXES:
        raise ParameterError(f"--out {str(out)!r} names a table ({out.suffix}), but fit writes a model file. "
                             f"Pass a .tdm name, e.g. {str(out.with_suffix('.tdm'))!r}.")
    check_writable(out)  # before the fit, not after it
    synth = Synthesizer(preset=preset, seed=seed, steps=steps, time_budget=time_budget, min_proximity=min_proximity,
                        compute_columns=compute_columns or None, value_protection=value_protection,
                        dp_epsilon=dp_epsilon, dp_delta=dp_delta, device=device, threads=threads, verbose=not quiet)
    synth.fit(data, target=target, column_types=_parse_column_types(column_type), checkpoint_dir=checkpoint_dir,
              checkpoint_every=checkpoint_every, resume=resume, streaming=streaming, max_memory_rows=max_memory_rows,
              work_dir=work_dir, categories=_parse_categories(categories))
    if not is_main_process():  # under torchrun, rank 0 writes the model and reports; the other ranks only trained
        return
    synth.save(out)
    reflow = f" + {synth.reflow_history_.steps} reflow" if synth.reflow_history_ is not None else ""
    typer.echo(f"Fitted {synth.history_.steps}{reflow} steps in {time.perf_counter() - start:.1f}s; model written to {out}")
    if synth.privacy_ is not None:
        typer.echo(f"Differential privacy: epsilon {synth.privacy_.epsilon:.3g}, delta {synth.privacy_.delta:.2g} "
                   f"(preprocessing {synth.privacy_.epsilon_preprocessing:.3g}, training {synth.privacy_.epsilon_training:.3g}).")
    history = synth.history_
    if history.stopped_by == "memorisation" and history.kept_step is not None:
        typer.echo(f"Memorisation stop: at step {history.steps} sampled rows came too close to training rows "
                   f"(proximity {history.checks[-1]['proximity']:.2f}); the model keeps the weights of step {history.kept_step}.")
    derived = [f"{column.name} (from {column.source})" for column in synth.encoder_.derived_]
    if derived:
        typer.echo("Read off a categorical column, not modelled: " + ", ".join(derived))
    computed = [column.describe() for column in synth.encoder_.computed_]
    if computed:
        typer.echo("Computed from other numeric columns, not modelled: " + "; ".join(computed))


@app.command()
@_report_errors
def sample(
    model: Annotated[Path, typer.Argument(help="Model file written by `tabdiffusion fit`.")],
    out: Annotated[str, typer.Option(
        "--out", "-o", help="Output table (.csv or .parquet), or a folder (a name ending in / or an existing folder) "
                            "for a partitioned Parquet dataset: part-00000.parquet, ... and a manifest.")],
    rows: Annotated[Optional[int], typer.Option("--rows", "-n", help="Number of rows to generate (not with --known).")] = None,
    where: Annotated[Optional[list[str]], typer.Option(
        help="A condition every row satisfies (repeatable): COLUMN=VALUE, COLUMN=LOW..HIGH (either end may be empty), "
             "COLUMN=A,B (one of these levels), COLUMN= (missing).")] = None,
    known: Annotated[Optional[Path], typer.Option(
        help="A table of known cells (.csv or .parquet): one row generated per row, its non-missing cells kept.")] = None,
    seed: Annotated[Optional[int], typer.Option(
        help="Random seed for reproducible samples (a folder: drawn and recorded in its manifest where not given).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    chunk_rows: Annotated[Optional[int], typer.Option(help="Rows generated and written at a time, which bounds memory (default: 100,000).")] = None,
    rows_per_file: Annotated[Optional[int], typer.Option(
        help="A folder: rows per Parquet file (default: 1,000,000; the last file may be shorter).")] = None,
    workers: Annotated[int, typer.Option(
        help="A folder: processes generating files in parallel, each on its share of the CPU threads.")] = 1,
    resume: Annotated[bool, typer.Option(
        help="A folder: complete an interrupted run (keep its complete files, write the missing ones); the arguments "
             "must match its manifest.")] = False,
    threads: Threads = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Generate synthetic rows from a saved model, written chunk by chunk; optionally under conditions."""
    from .hardware import thread_limit
    from .synthesizer import Synthesizer
    from .tables import check_writable, read_table, write_chunks, write_table
    from .transforms.conditions import from_text

    start = time.perf_counter()
    if (rows is None) == (known is None):
        raise ParameterError("Pass exactly one of --rows (how many rows) or --known (a table of known cells).")
    if known is not None and where:
        raise ParameterError("--where applies to --rows; with --known, each row's known cells are its conditions.")
    if out.endswith(("/", os.sep)) or Path(out).is_dir():
        if known is not None:
            raise ParameterError("--known writes one table: pass a .csv or .parquet file name as --out, not a folder.")
        _sample_partitioned(model, Path(out), rows, where, seed, device, chunk_rows, rows_per_file, workers, resume,
                            threads, quiet, start)
        return
    folder_only = [name for name, used in (("--rows-per-file", rows_per_file is not None), ("--workers", workers != 1),
                                           ("--resume", resume)) if used]
    if folder_only:
        raise ParameterError(f"{folder_only[0]} applies to a partitioned dataset: pass a folder as --out "
                             f"(a name ending in /, e.g. {str(Path(out).with_suffix(''))!r} + '/').")
    out = Path(out)
    check_outputs({"MODEL": model, "--known": known}, {"--out": out})
    check_writable(out)
    with thread_limit(threads):
        synth = Synthesizer.load(model, device=device)
        if known is not None:
            generated = synth.sample_remaining_columns(read_table(known), seed=seed)
            write_table(generated, out)
            written = len(generated)
        else:
            conditions = dict(from_text(synth.encoder_, text) for text in where or [])
            _, written = write_chunks(synth.sample_chunks(rows, seed=seed, chunk_rows=chunk_rows,
                                                          conditions=conditions or None), out)
    typer.echo(f"Wrote {written} rows to {out} in {time.perf_counter() - start:.1f}s")


def _sample_partitioned(model: Path, out: Path, rows: int, where: list[str] | None, seed: int | None, device: str,
                        chunk_rows: int | None, rows_per_file: int | None, workers: int, resume: bool,
                        threads: int | None, quiet: bool, start: float) -> None:
    """`sample --out DIR/`: a partitioned Parquet dataset (partitioned.write_partitioned)."""
    from .partitioned import write_partitioned
    from .synthesizer import Synthesizer
    from .transforms.conditions import from_text

    conditions = None
    if where:
        encoder = Synthesizer.load(model, device="cpu").encoder_
        conditions = dict(from_text(encoder, text) for text in where)
    run = write_partitioned(model, out, rows, rows_per_file=rows_per_file, seed=seed, chunk_rows=chunk_rows,
                            conditions=conditions, workers=workers, threads=threads, device=device, resume=resume,
                            progress=not quiet)
    kept = f" (kept {len(run.kept)} complete files of the earlier run)" if run.kept else ""
    typer.echo(f"Wrote {run.plan.rows} rows in {run.plan.files} files to {out}{kept} with seed {run.plan.seed} "
               f"in {time.perf_counter() - start:.1f}s")


@app.command()
@_report_errors
def impute(
    model: Annotated[Path, typer.Argument(help="Model file written by `tabdiffusion fit`.")],
    data: Annotated[Path, typer.Argument(help="Table with missing cells to fill (.csv or .parquet).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.csv or .parquet).")],
    draws: Annotated[int, typer.Option(
        help="Completed copies to draw (multiple imputation); with more than one, a leading `draw` column numbers "
             "them.")] = 1,
    seed: Annotated[Optional[int], typer.Option(help="Random seed for reproducible imputations.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = None,
) -> None:
    """Fill the missing cells of a table, each row consistent with its observed cells."""
    import pandas as pd

    from .hardware import thread_limit
    from .synthesizer import Synthesizer
    from .tables import check_writable, read_table, write_table

    start = time.perf_counter()
    check_outputs({"MODEL": model, "DATA": data}, {"--out": out})
    check_writable(out)
    table = read_table(data)
    with thread_limit(threads):
        filled = Synthesizer.load(model, device=device).impute(table, draws=draws, seed=seed)
    if draws > 1:
        label = next(name for name in ("draw", "imputation_draw", "_draw") if name not in table.columns)
        filled = pd.concat([pd.concat([pd.Series(k, index=copy.index, name=label), copy], axis=1)
                            for k, copy in enumerate(filled)], ignore_index=True)
    write_table(filled, out)
    typer.echo(f"Filled {int(table.isna().sum().sum())} missing cells of {len(table)} rows"
               + (f" ({draws} draws)" if draws > 1 else "") + f"; wrote {out} in {time.perf_counter() - start:.1f}s")


@app.command()
@_report_errors
def oversample(
    data: Annotated[Path, typer.Argument(help="Training table (.csv or .parquet) with a class column.")],
    target: Annotated[str, typer.Option(help="The class column whose classes are grown.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table: the original rows, then the generated ones.")],
    strategy: Annotated[str, typer.Option(
        help="Which classes to grow to the majority's count: auto (= not majority), minority, not minority, "
             "not majority or all.")] = "auto",
    time_budget: Annotated[Optional[float], typer.Option(help="Stop training after this many seconds.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Training steps (default: the preset's).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed for reproducible rows.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    threads: Threads = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Grow the rare classes of a table with rows generated by a diffusion model fitted to the whole table."""
    import pandas as pd

    from . import DiffusionOversampler
    from .tables import check_writable, read_table, write_table

    start = time.perf_counter()
    strategies = ("auto", "minority", "not minority", "not majority", "all")
    if strategy not in strategies:
        raise ParameterError(f"--strategy {strategy!r} is not one of {', '.join(strategies)}.")
    check_outputs({"DATA": data}, {"--out": out})
    check_writable(out)
    table = read_table(data)
    if target not in table.columns:
        raise ParameterError(f"--target {target!r} is not a column of {str(data)!r}. Columns are: {list(table.columns)}.")
    if table[target].isna().any():
        raise ParameterError(f"--target {target!r} has {int(table[target].isna().sum())} missing values; drop those rows "
                             "or fill them first.")
    sampler = DiffusionOversampler(sampling_strategy=strategy, random_state=seed, time_budget=time_budget, steps=steps,
                                   device=device, threads=threads, verbose=not quiet)
    X, y = sampler.fit_resample(table.drop(columns=[target]), table[target])
    grown = pd.concat([X, y.rename(target)], axis=1)[list(table.columns)]
    write_table(grown, out)
    added = y.iloc[len(table):].value_counts().to_dict()
    typer.echo(f"Added {len(grown) - len(table)} rows ({', '.join(f'{k}: {v}' for k, v in added.items()) or 'none'}) "
               f"to {len(table)}; wrote {out} in {time.perf_counter() - start:.1f}s")


@app.command()
@_report_errors
def report(
    real: Annotated[Path, typer.Option(help="The real (training) table, .csv or .parquet.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML report.")],
    synthetic: Annotated[Optional[Path], typer.Option(help="The synthetic table to judge.")] = None,
    model: Annotated[Optional[Path], typer.Option(help="Or a model file to sample the synthetic table from.")] = None,
    rows: Annotated[Optional[int], typer.Option(help="Rows to sample with --model (default: as many as --real).")] = None,
    holdout: Annotated[Optional[Path], typer.Option(help="Real rows not used for training (recommended).")] = None,
    target: Annotated[Optional[str], typer.Option(help="Target column for ML efficacy.")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the scores as JSON.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Threads = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score a synthetic table against the real one (fidelity, detection, ML efficacy, privacy) as HTML."""
    from .evaluation import report_cli
    from .hardware import thread_limit
    from .synthesizer import Synthesizer
    from .tables import check_writable, read_table

    if (synthetic is None) == (model is None):
        raise ParameterError("Pass exactly one of --synthetic (a table) or --model (a model file to sample from).")
    if rows is not None and rows <= 0:
        raise ParameterError(f"--rows must be a positive number of rows, got {rows}.")
    check_outputs({"--real": real, "--synthetic": synthetic, "--model": model, "--holdout": holdout},
                  {"--out": out, "--json": json_out})
    for path in (out, json_out):
        if path is not None:
            check_writable(path)
    real_table = read_table(real)
    with thread_limit(threads):
        guarantee = None
        if model is not None:
            loaded = Synthesizer.load(model)
            synthetic_table, guarantee = loaded.sample(rows or len(real_table), seed=seed), loaded.privacy_
        else:
            synthetic_table = read_table(synthetic)
        result = report_cli(real_table, synthetic_table, holdout, target, out, json_out, seed=seed, verbose=not quiet,
                            n_jobs=threads or -1, guarantee=guarantee)
    typer.echo(verdict_lines(result.verdicts))
    typer.echo(f"Report written to {out}" + (f" and {json_out}" if json_out else ""))


@app.command()
@_report_errors
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's files.")] = Path("tabdiffusion-demo"),
    time_budget: Annotated[float, typer.Option(help="Training budget in seconds.")] = 120.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    threads: Threads = None,
) -> None:
    """Fit the bundled Palmer Penguins table, generate a synthetic copy and compare them."""
    from .demo import run_demo
    from .hardware import thread_limit

    with thread_limit(threads):
        typer.echo(run_demo(out, time_budget=time_budget, seed=seed))


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
