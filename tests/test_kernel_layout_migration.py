"""The kernel-layout migration rewrites the owner's old kernel imports, and only those."""

import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "hooks" / "migrations"))
from kernel_layout import MOVED, rewrite

SCRIPT = TEMPLATE / "hooks" / "migrations" / "kernel_layout.py"
KERNEL = TEMPLATE / "template" / "src" / "{{package_name}}" / "kernel"

OLD_CELL_TEST = """\
from shop.kernel import Cell, Context, snapshot
from shop.kernel.runtime import running
from shop.kernel.topology import Topology
from ...kernel.errors import RejectedError
target = "shop.kernel.triggers_cli.load_cells"
"""
NEW_CELL_TEST = """\
from shop.kernel import Cell, Context
from shop.kernel.devtools import snapshot
from shop.kernel.runtime.composition import running
from shop.kernel.config.topology import Topology
from ...kernel.core.errors import RejectedError
target = "shop.kernel.cli.triggers.load_cells"
"""

# What the script writes: the rewritten block re-sorted the way ruff (isort) sorts it.
SORTED_CELL_TEST = """\
from shop.kernel import Cell, Context
from shop.kernel.config.topology import Topology
from shop.kernel.devtools import snapshot
from shop.kernel.runtime.composition import running
from ...kernel.core.errors import RejectedError
target = "shop.kernel.cli.triggers.load_cells"
"""


def test_old_paths_become_new_ones_and_a_second_run_changes_nothing() -> None:
    assert rewrite(OLD_CELL_TEST) == NEW_CELL_TEST
    assert rewrite(NEW_CELL_TEST) == NEW_CELL_TEST


def test_every_new_path_exists_in_the_kernel() -> None:
    for new in MOVED.values():
        module = KERNEL / (new.replace(".", "/") + ".py")
        assert module.is_file(), new


def test_the_script_rewrites_owner_files_and_leaves_the_kernel(tmp_path: Path) -> None:
    cell_test = tmp_path / "tests" / "cells" / "test_billing.py"
    kernel_file = tmp_path / "src" / "shop" / "kernel" / "untouched.py"
    for path in (cell_test, kernel_file):
        path.parent.mkdir(parents=True)
        path.write_text(OLD_CELL_TEST, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "shop", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert cell_test.read_text(encoding="utf-8") == SORTED_CELL_TEST
    assert kernel_file.read_text(encoding="utf-8") == OLD_CELL_TEST
    assert "tests/cells/test_billing.py" in result.stdout


def test_a_bad_package_argument_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "Not A Package"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: kernel_layout.py PACKAGE [PROJECT_ROOT]"
