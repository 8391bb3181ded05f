"""The template's benchmarks run and print every row (not whether targets are met: CI is noisy).

benchmarks/template.py times copier against a copier-uv-like template;
benchmarks/peers.py renders a project and measures its gateway and bus beside
FastAPI + pydantic and FastStream (installed from PyPI into the render).
"""

import os
import re
import subprocess
import sys

import pytest
from conftest import TEMPLATE

pytestmark = pytest.mark.slow

# A compared row: name, both medians, the ratio, the target (or "-") and the verdict.
ROW = re.compile(r"^(?P<name>.+?) vs .+ [\d,.]+ (s|us|req/s|msg/s) +[\d.]+x +(<=|>=|-)")


def run_benchmark(script: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    result = subprocess.run(
        [sys.executable, str(TEMPLATE / "benchmarks" / script), "--quick"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, f"{script} --quick failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def compared_rows(output: str) -> list[str]:
    rows = [line for line in output.splitlines() if ROW.match(line)]
    assert all(line.rstrip().endswith((" met", " missed", " -")) for line in rows), output
    return rows


def test_template_benchmark_prints_every_target() -> None:
    output = run_benchmark("template.py")
    rows = compared_rows(output)
    assert [ROW.match(row)["name"] for row in rows] == [  # type: ignore[index]
        "copier copy",
        "copier copy without uv lock",
        "copier update",
        "copier update",
    ], output
    assert "copier-uv-like" in rows[0]
    assert "copier-uv-like" in rows[1]
    assert "4 rows," in output
    assert "copy to green tests: not measured with --quick" in output


def test_peers_benchmark_prints_every_row() -> None:
    output = run_benchmark("peers.py")
    rows = compared_rows(output)
    expected = [
        ("gateway, every layer", "bare Starlette + msgspec route", ">= 0.5x"),
        ("gateway, every layer", "FastAPI + pydantic", ">= 1.5x"),
        ("POST /orders, event chain", "gateway, every layer", "-"),
        ("memory bus send round trip", "FastStream TestBroker request", "<= 1x"),
        ("memory bus events (publish -> handled)", "FastStream TestBroker publish", ">= 1x"),
        ("NATS bus send round trip", "FastStream NatsBroker request", "<= 1x"),
        (
            "NATS bus events (publish -> handled -> ack)",
            "FastStream NatsBroker JetStream events",
            ">= 1x",
        ),
    ]
    assert len(rows) == len(expected), output
    for row, (name, peer, target) in zip(rows, expected, strict=True):
        assert row.startswith(f"{name} vs {peer} "), row
        assert f" {target} " in row, row
    assert "3 rows," in output
    assert "4 rows," in output
