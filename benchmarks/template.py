"""Wall-clock cost of the template itself: `copier copy`, `copier update`, copy-to-green.

Run from the repository root:

    uv run python benchmarks/template.py [--repeat 3] [--quick]

Each run copies monocell (default answers) and, beside it, a template comparable
to copier-uv (benchmarks/copier_uv_like.py: copier-uv lives on GitHub, which the
benchmarks cannot reach, so a stand-in of its size and features is written here);
both come from a committed git repository, as users get them. Then it updates the
monocell project (one answer changed) and takes it to green tests (`uv sync
--locked`, then its pytest; with a warm uv cache, as on a developer's machine).

Targets (medians of per-run ratios, every one printed with met/missed):
  copier copy <= 1.5x the copier-uv-like copy; copier update <= 2x copier copy and
  under 10 s; copy to green tests <= 45 s. Also printed, without a target: the copy
  with the hook's `uv lock` skipped, to tell Copier's rendering from the resolver.
--quick runs once and skips copy-to-green (a smoke run). Nothing here asserts:
compare numbers within one run, machines are noisy.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import copier_uv_like

TEMPLATE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TEMPLATE / "template" / "benchmarks"))  # the projects' report.Row

from report import Row  # noqa: E402
from verdicts import print_verdicts  # noqa: E402

BIN = Path(sys.executable).parent
UPDATE_BUDGET = 10.0  # seconds, for a default project on a 2-core machine
GREEN_BUDGET = 45.0  # seconds from `copier copy` to a passing pytest
TARGETS = {"copy": 1.5, "update": 2.0}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return time.perf_counter() - started


def committed(source: Path, git: dict[str, str]) -> Path:
    """`source` as a clean git repository: copies come from a commit, updates need one."""
    timed(["git", "init", "-q"], source, git)
    timed(["git", "add", "-A"], source, git)
    timed(["git", "commit", "-qm", "template"], source, git)
    return source


def monocell_repository(work: Path, git: dict[str, str]) -> Path:
    source = work / "template"
    source.mkdir()
    for name in ("copier.yml", "template", "hooks", "includes"):
        if (TEMPLATE / name).is_dir():
            shutil.copytree(TEMPLATE / name, source / name)
        else:
            shutil.copy2(TEMPLATE / name, source / name)
    return committed(source, git)


def peer_repository(work: Path, git: dict[str, str]) -> Path:
    source = work / "copier-uv-like"
    source.mkdir()
    copier_uv_like.write(source)
    return committed(source, git)


def measure_once(work: Path, env: dict[str, str], green: bool) -> dict[str, float]:
    git = {
        **env,
        "GIT_AUTHOR_NAME": "b",
        "GIT_AUTHOR_EMAIL": "b@example.com",
        "GIT_COMMITTER_NAME": "b",
        "GIT_COMMITTER_EMAIL": "b@example.com",
    }
    source = monocell_repository(work, git)
    peer = peer_repository(work, git)
    project = work / "project"
    copier = str(BIN / "copier")
    peer_data = [x for k, v in copier_uv_like.ANSWERS.items() for x in ("--data", f"{k}={v}")]
    peer_copy = timed(
        [copier, "copy", "--trust", "--defaults", *peer_data, str(peer), str(work / "peer")],
        work,
        env,
    )
    # Rendering alone: the post-copy hook skips `uv lock` (a resolution against the
    # package index, 1-8 s here depending on the network), which the peer never runs.
    rendered = timed(
        [copier, "copy", "--trust", "--defaults", str(source), str(work / "rendered")],
        work,
        {**env, "MONOCELL_SKIP_LOCK": "1"},
    )
    copy = timed([copier, "copy", "--trust", "--defaults", str(source), str(project)], work, env)
    timed(["git", "add", "-A"], project, git)
    timed(["git", "commit", "-qm", "generated"], project, git)
    times = {"peer copy": peer_copy, "copy": copy, "rendered": rendered}
    if green:
        sync_and_test = timed(["uv", "sync", "--locked", "--quiet"], project, env)
        sync_and_test += timed(
            ["uv", "run", "pytest", "-q", "-p", "no:cacheprovider"], project, env
        )
        times["green"] = copy + sync_and_test
    times["update"] = timed(
        [copier, "update", "--trust", "--defaults", "--data", "description=Benchmarked."],
        project,
        git,
    )
    return times


def rows(runs: list[dict[str, float]]) -> list[Row]:
    def samples(name: str) -> tuple[float, ...]:
        return tuple(run[name] for run in runs)

    def budget(seconds: float) -> Row:
        return Row(f"{seconds:g} s budget", (seconds,) * len(runs))

    copy = Row("copier copy", samples("copy"))
    update = Row("copier update", samples("update"))
    peer = Row("copier copy of copier-uv-like", samples("peer copy"))
    table = [
        Row(copy.name, copy.samples, baseline=peer, limit=TARGETS["copy"]),
        Row("copier copy without uv lock", samples("rendered"), baseline=peer),
        Row(update.name, update.samples, baseline=copy, limit=TARGETS["update"]),
        Row(update.name, update.samples, baseline=budget(UPDATE_BUDGET), limit=1.0),
    ]
    if "green" in runs[0]:
        green = Row("copy to green tests", samples("green"))
        table.append(Row(green.name, green.samples, baseline=budget(GREEN_BUDGET), limit=1.0))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (default 3)")
    parser.add_argument("--quick", action="store_true", help="one run, no copy-to-green")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat: expected a positive integer")
    repeat = 1 if args.quick else args.repeat
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "MONOCELL_SKIP_LOCK"}}
    runs: list[dict[str, float]] = []
    for _ in range(repeat):
        work = Path(tempfile.mkdtemp(prefix="monocell-bench-"))
        try:
            runs.append(measure_once(work, env, green=not args.quick))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    print_verdicts(f"template (medians of {repeat} run{'s' if repeat > 1 else ''})", rows(runs))
    if args.quick:
        print("copy to green tests: not measured with --quick")


if __name__ == "__main__":
    main()
