"""The kernel-layout migration rewrites the owner's old kernel imports, and only those."""

import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "hooks" / "migrations"))
from kernel_layout import MOVED, rewrite, sort_first_party_imports

SCRIPT = TEMPLATE / "hooks" / "migrations" / "kernel_layout.py"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


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
    assert rewrite(OLD_CELL_TEST, "shop") == NEW_CELL_TEST
    assert rewrite(NEW_CELL_TEST, "shop") == NEW_CELL_TEST


LEFT_ALONE = """\
from shop.kernel import runtime, cli
self.kernel.files.append(1)
engine.kernel.deploy()
from jupyter_client.kernel import files
from other.kernel.errors import X
"""


def test_names_that_are_not_the_projects_old_kernel_paths_are_left_alone() -> None:
    assert rewrite(LEFT_ALONE, "shop") == LEFT_ALONE


def test_parenthesised_aliased_and_commented_imports() -> None:
    old = (
        "from shop.kernel import (\n    snapshot,\n    Cell,\n)\n"
        "from shop.kernel import deploy as shipping  # noqa: F401\n"
    )
    assert rewrite(old, "shop") == (
        "from shop.kernel import Cell\n"
        "from shop.kernel.devtools import snapshot\n"
        "from shop.kernel.ops import deploy as shipping  # noqa: F401\n"
    )


def test_sorting_keeps_a_parenthesised_import_whole() -> None:
    text = (
        "from shop.zzz import (\n    early,\n    Envelope)\nfrom shop.aaa import x\nX = early()\n"
    )
    assert sort_first_party_imports(text, "shop") == (
        "from shop.aaa import x\nfrom shop.zzz import (\n    early,\n    Envelope)\nX = early()\n"
    )


def test_line_endings_bom_and_links_are_respected(tmp_path: Path) -> None:
    crlf = tmp_path / "tests" / "test_crlf.py"
    crlf.parent.mkdir()
    crlf.write_bytes(b"\xef\xbb\xbffrom shop.kernel.errors import X\r\nY = 1\r\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside.write_text("from shop.kernel.errors import X\n", encoding="utf-8")
    (tmp_path / "tests" / "linked.py").symlink_to(outside)
    latin = tmp_path / "tests" / "latin.py"
    latin.write_bytes(b"# caf\xe9\nfrom shop.kernel.errors import X\n")
    result = run_script("shop", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert crlf.read_bytes() == b"\xef\xbb\xbffrom shop.kernel.core.errors import X\r\nY = 1\r\n"
    assert outside.read_text(encoding="utf-8") == "from shop.kernel.errors import X\n"
    assert "skipped tests/latin.py (not UTF-8)" in result.stdout


def test_a_missing_project_folder_is_refused(tmp_path: Path) -> None:
    result = run_script("shop", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith("nowhere: no such project folder")


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
    result = run_script("shop", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert cell_test.read_text(encoding="utf-8") == SORTED_CELL_TEST
    assert kernel_file.read_text(encoding="utf-8") == OLD_CELL_TEST
    assert "tests/cells/test_billing.py" in result.stdout


def test_a_bad_package_argument_is_refused() -> None:
    result = run_script("Not A Package")
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: kernel_layout.py PACKAGE [PROJECT_ROOT]"
