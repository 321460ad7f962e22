"""What every command shares: the group, exit codes, logging, progress bars, options.

Errors a user can fix (bad workflow key, missing file, empty bbox, wrong
bands...) print one line and exit with code 2; nothing is written.  A run that
fails prints one line and exits with code 1 (a full disk: the file and "no space
left on device"; the traceback goes to run.log, and to stderr with -v).  Another
run writing into the same output folder: one line, exit code 3.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Protocol

import click

from ..errors import LandcoverError, LockedError, OutputWriteError, ServiceError
from ..io.remote import RedactingFormatter, redact_text

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_LOCKED = 3  # another run holds the output folder (or the monitoring job's store)

log = logging.getLogger("landcover")

# The stderr handler setup_logging adds to the root logger, once per process.
_stderr_handler: logging.Handler | None = None


class _Bar(Protocol):
    """What Progress uses of a tqdm bar."""

    n: int

    def refresh(self) -> None: ...

    def close(self) -> None: ...


class Progress:
    """tqdm bars, one per step, on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, _Bar] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(step)
        if bar is None:
            bar = self.bars[step] = tqdm(total=total, desc=step, unit="tile" if total > 1
                                         else "step", leave=True, file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def parse_bbox(value: str | None):
    if value is None:
        return None
    parts = [p for p in value.replace(" ", ",").split(",") if p]
    from ..errors import ConfigError

    try:
        nums = [float(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) != 4:  # one line, exit 2, naming the option
        raise ConfigError(f"--bbox {value!r} must be 4 numbers minx,miny,maxx,maxy")
    return nums


OFFSET_HELP = ("DN added to the stored values: auto (metadata, checked against the data) "
                "or a number, e.g. -1000 for products of processing baseline >= 04.00 "
                "without offset metadata, 0 when the data carry none.")

PRODUCT_HELP = ("Product level of scenes whose metadata or names do not say it: L1C (top of "
                "atmosphere) or L2A (surface reflectance); auto: the metadata.")


def parse_offset_option(value: str | None):
    """``--offset``: None (not given), ``auto`` or a number of DN."""
    if value is None:
        return None
    from ..config import parse_offset

    try:
        return parse_offset(value)
    except ValueError as exc:  # one line, exit 2 (not click's usage block)
        from ..errors import ConfigError

        raise ConfigError(f"--offset: {exc}") from None


#: loggers whose records reach the terminal only with -v (GDAL's own messages)
_GDAL_LOGGERS = ("rasterio", "pyogrio", "fiona", "osgeo")


class _TerminalFilter(logging.Filter):
    """Without -v the terminal gets one line per failure: records marked ``file_only``
    (a traceback, a message the CLI prints itself) and GDAL's messages stay off it."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if self.verbose:
            return True
        if record.name == "py.warnings":  # a Python warning raised inside rasterio/pyogrio
            return not any(f"/{n}/" in str(record.msg) for n in _GDAL_LOGGERS)
        return not (getattr(record, "file_only", False)
                    or record.name.split(".")[0] in _GDAL_LOGGERS)


FILE_ONLY = {"file_only": True}

_terminal_filter = _TerminalFilter()


def setup_logging(verbose: int, log_file: Path | None = None, *,
                  info: bool = False) -> logging.Handler | None:
    """Logging on stderr at the level of ``-v`` (``info``: INFO records at least, as
    ``monitor run`` prints for cron), to ``log_file`` at INFO.  Tracebacks and GDAL's
    messages reach the terminal only with ``-v``."""
    level = logging.WARNING - 10 * min(max(verbose, 1 if info else 0), 2)
    global _stderr_handler
    root = logging.getLogger()
    if _stderr_handler is None:
        _stderr_handler = logging.StreamHandler(sys.stderr)
        _stderr_handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        _stderr_handler.addFilter(_terminal_filter)
        root.addHandler(_stderr_handler)
        logging.captureWarnings(True)  # through the filter above
        if not verbose:  # libtiff prints some I/O errors itself; GDAL raises them anyway
            from ..faults import quiet_libtiff

            quiet_libtiff()
    _stderr_handler.setLevel(level)
    _terminal_filter.verbose = verbose
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    logging.getLogger("landcover").setLevel(min(level, logging.INFO))
    for noisy in ("pyogrio", "distributed", "rasterio", "fiona"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # pystac-client's retries (urllib3 warns at each): one line at the end, or all with -v
    logging.getLogger("urllib3").setLevel(logging.WARNING if verbose else logging.ERROR)
    if log_file is None:
        return None
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="a")
    # URL query strings (signatures, tokens) never reach the log
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger("landcover").addHandler(handler)
    return handler


@contextlib.contextmanager
def logged_run(handler: logging.Handler | None, progress: Progress, failure: str,
                *, locked: type[Exception] = LockedError, out: Path | None = None):
    """Around a long run: user errors are logged then re-raised (one line, exit 2 by
    the group); ``locked`` prints "locked: ..." and exits 3; a failure of the machine while
    writing under ``out`` (disk full, permission denied) prints ``error: cannot write
    PATH: CAUSE``, anything else ``error: {failure}``, both with exit 1 and the traceback
    in the log file (on stderr too with -v).  Progress bars and the log file handler are
    closed in every case."""
    from ..faults import write_error

    try:
        yield
    except LandcoverError as exc:
        if isinstance(exc, locked):
            log.warning("%s", exc, extra=FILE_ONLY)
            click.echo(f"locked: {one_line(redact_text(str(exc)))}", err=True)
            sys.exit(EXIT_LOCKED)
        if isinstance(exc, (OutputWriteError, ServiceError)):
            log.error("run failed: %s", exc, exc_info=True, extra=FILE_ONLY)
            click.echo(f"error: {one_line(redact_text(str(exc)))}", err=True)
            sys.exit(EXIT_FAILED)
        log.error("%s", exc, extra=FILE_ONLY)
        raise
    except Exception as exc:
        log.exception("run failed", extra=FILE_ONLY)
        fault = write_error(exc, out) if out is not None else None
        said = fault if fault is not None else failure
        click.echo(f"error: {one_line(redact_text(str(said)))}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        progress.close()
        if handler:
            logging.getLogger("landcover").removeHandler(handler)
            handler.close()


EXIT_TERMINATED = 128 + 15


def one_line(text: str) -> str:
    """``text`` with its line breaks folded into spaces (an error is one line)."""
    return " ".join(text.split())


class _Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stop, kill): unwinds like Ctrl-C, so temporary files are removed."""


def _on_sigterm(signum, frame):
    raise _Terminated()


class _Group(click.Group):
    """Turns user errors into one line and exit code 2."""

    def invoke(self, ctx):
        import signal

        with contextlib.suppress(ValueError):  # not the main thread (tests calling main())
            signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            return super().invoke(ctx)
        except LockedError as exc:
            click.echo(f"locked: {one_line(redact_text(str(exc)))}", err=True)
            sys.exit(EXIT_LOCKED)
        except (OutputWriteError, ServiceError) as exc:
            click.echo(f"error: {one_line(redact_text(str(exc)))}", err=True)
            sys.exit(EXIT_FAILED)
        except LandcoverError as exc:
            click.echo(f"error: {one_line(redact_text(str(exc)))}", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as exc:  # one line, not click's three-line usage block
            sub = exc.ctx.command_path if exc.ctx is not None else ctx.command_path
            click.echo(f"error: {one_line(exc.format_message())} (see '{sub} --help')",
                       err=True)
            sys.exit(EXIT_BAD_INPUT)
        except KeyboardInterrupt as exc:
            click.echo("interrupted: no partial output was left under a final name", err=True)
            sys.exit(EXIT_TERMINATED if isinstance(exc, _Terminated) else 130)
        finally:
            # the command is over (its outputs renamed or removed): a SIGTERM during the
            # interpreter's shut-down takes the default action instead of raising inside an
            # atexit callback (a traceback on stderr, then exit 0)
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, signal.SIG_DFL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="landcover")
def main() -> None:
    """landcover: land-cover maps and change polygons from satellite scenes.

    \b
    Quick start (real Sentinel-2 sample shipped in data/):
      landcover run workflows/sample.yaml
    writes out/sample/: one land-cover COG per date, change.gpkg, summary.json, run.log.

    Exit codes: 0 ok, 1 failed run (disk full...), 2 bad input (the message says what to
    fix), 3 the output folder is in use by another landcover run.
    """
    # GDAL's block cache defaults to 5% of the RAM and fills with the blocks of every map
    # read or written, so a run's memory grew with its area: 64 MB unless the user says
    # (the environment variable counts MB; io.env.gdal_env gives rasterio bytes)
    os.environ.setdefault("GDAL_CACHEMAX", "64")

