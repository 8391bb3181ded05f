"""The gateway benchmark runs and prints its ratio (speed itself is never asserted here)."""

import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gateway_benchmark_prints_rates_and_the_ratio_to_a_bare_route() -> None:
    completed = subprocess.run(
        [sys.executable, str(PROJECT / "benchmarks" / "run.py"), "gateway", "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    assert "[gateway]" in completed.stdout
    assert "bare Starlette route, requests" in completed.stdout
    assert "gateway, median latency" in completed.stdout
    assert ">= 0.8x" in completed.stdout
