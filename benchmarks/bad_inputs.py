"""The bad-input catalogue as a markdown table (docs/RELIABILITY.md, "Bad inputs").

Runs every case of ``tests/faults/bad_cases.py`` (the list the fault suite's
``tests/faults/test_bad_inputs.py`` runs; imported, not copied) through
``python -m landcover ...`` in a subprocess, on inputs built in a temporary folder, and
prints one row per case: the case, the command, the exit code, the message (paths
shortened: ``IN/`` the inputs, ``OUT/`` the case's output path, ``REPO/`` the checkout)
and whether every rule held (one line, ``error:``, the value named, nothing written,
no torch).  The inputs are constructed from the real sample, and named so.

    python benchmarks/bad_inputs.py [--only ID ...] [--repo CHECKOUT] > table.md

``--repo`` runs the CLI of another checkout (e.g. the main branch before these fixes)
on the same inputs, for a before/after comparison.

Exits 1 when a case breaks a rule (its row says which).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "faults"))

import bad_cases  # noqa: E402
from bad_cases import CASES, build_inputs, problems, run_case, shorten  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="case ids to run (default: all)")
    ap.add_argument("--repo", type=Path, help="checkout whose CLI to run (default: this one)")
    args = ap.parse_args(argv)
    if args.repo:
        bad_cases.REPO = args.repo.resolve()  # the subprocesses' cwd and PYTHONPATH
    cases = [c for c in CASES if not args.only or c.id in args.only]
    failed = 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = build_inputs(Path(tmp))
        print("| # | case | command | exit | message | rules |")
        print("|---|---|---|---|---|---|")
        for i, case in enumerate(cases, start=1):
            o = run_case(case, inputs)
            found = problems(o)
            failed += bool(found)
            lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
            msg = shorten(lines[-1] if lines else "(nothing on stderr)", inputs)
            cmd = shorten("landcover " + " ".join(a for a in o.args if a != "--no-progress"),
                          inputs)
            print(f"| {i} | {case.id}: {_cell(case.what)} | `{_cell(cmd)}` | {o.code} | "
                  f"`{_cell(msg)}` | {'ok' if not found else _cell('; '.join(found))} |")
    cpu = platform.processor() or platform.machine()
    print(f"\n{len(cases)} cases, {len(cases) - failed} held every rule; "
          f"{time.perf_counter() - t0:.0f} s on {cpu}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
