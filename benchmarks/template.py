"""Wall-clock cost of the template itself: `copier copy`, `copier update`, copy-to-green.

Run from the repository root:

    uv run python benchmarks/template.py [--repeat 3]

Prints the median of each measurement and its ratio to the limit it is held to
(an update of a default project must take under 10 s on a 2-core machine).
Nothing here asserts: compare numbers within one run, machines are noisy.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LIMITS = {"copier copy": None, "copier update": 10.0, "copy to green tests": None}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def committed_copy(work: Path, git: dict[str, str]) -> Path:
    """The template as a clean git repository: updates need a commit to come from."""
    source = work / "template"
    source.mkdir()
    for name in ("copier.yml", "template", "hooks", "includes"):
        if (TEMPLATE / name).is_dir():
            shutil.copytree(TEMPLATE / name, source / name)
        else:
            shutil.copy2(TEMPLATE / name, source / name)
    timed(["git", "init", "-q"], source, git)
    timed(["git", "add", "-A"], source, git)
    timed(["git", "commit", "-qm", "template"], source, git)
    return source


def measure_once(work: Path, env: dict[str, str]) -> dict[str, float]:
    git = {
        **env,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    source = committed_copy(work, git)
    project = work / "project"
    copier = str(BIN / "copier")
    copy = timed([copier, "copy", "--trust", "--defaults", str(source), str(project)], work, env)
    timed(["git", "add", "-A"], project, git)
    timed(["git", "commit", "-qm", "generated"], project, git)
    sync_and_test = timed(["uv", "sync", "--locked", "--quiet"], project, env)
    sync_and_test += timed(["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    update = timed(
        [copier, "update", "--trust", "--defaults", "--data", "description=Benchmarked."],
        project,
        git,
    )
    return {
        "copier copy": copy,
        "copier update": update,
        "copy to green tests": copy + sync_and_test,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: expected a positive integer")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    runs: list[dict[str, float]] = []
    for _ in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix="monocell-bench-"))
        try:
            runs.append(measure_once(work, env))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print(f"{'measurement':<22} {'median':>8}  {'limit':>7}  ratio   (n={args.repeat})")
    for name, limit in LIMITS.items():
        median = statistics.median(run[name] for run in runs)
        ratio = f"{median / limit:.2f}" if limit else "-"
        limit_text = f"{limit:.1f}s" if limit else "-"
        print(f"{name:<22} {median:>7.2f}s  {limit_text:>7}  {ratio}")


if __name__ == "__main__":
    main()
