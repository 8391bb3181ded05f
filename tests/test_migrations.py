"""The worked migration: move a topology.toml key, keeping comments and layout."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE

sys.path.insert(0, str(TEMPLATE / "hooks" / "migrations"))
from move_topology_key import MigrationError, move_key

SCRIPT = TEMPLATE / "hooks" / "migrations" / "move_topology_key.py"
TOPOLOGY = """# ops notes
[bus]
transport = "memory"

[triggers]
# thresholds
p99_latency_ms = 250.0   # latency
message_rate = 500.0     # rate
cpu_share = 0.5

[cells.orders]
placement = "inprocess"  # moved back on Monday
"""


def test_rename_in_place_keeps_everything_else() -> None:
    migrated, account = move_key(TOPOLOGY, "triggers.message_rate", "triggers.messages_per_second")
    assert account == "moved triggers.message_rate to triggers.messages_per_second"
    assert migrated == TOPOLOGY.replace("message_rate = 500.0 ", "messages_per_second = 500.0 ")


def test_move_to_another_table_keeps_the_comment() -> None:
    migrated, _ = move_key(TOPOLOGY, "cells.orders.placement", "cells.billing.placement")
    assert 'placement = "inprocess"  # moved back on Monday' in migrated
    assert "[cells.billing]" in migrated
    assert "# ops notes" in migrated


def test_absent_key_is_left_alone() -> None:
    assert move_key(TOPOLOGY, "bus.url", "bus.server_url") == (
        TOPOLOGY,
        "bus.url not present; nothing to move",
    )


def test_both_keys_set_is_refused() -> None:
    both = TOPOLOGY.replace("cpu_share = 0.5", "cpu_share = 0.5\nmessages_per_second = 1.0")
    with pytest.raises(MigrationError, match=r"both triggers\.message_rate and"):
        move_key(both, "triggers.message_rate", "triggers.messages_per_second")


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(MigrationError, match="not valid TOML"):
        move_key("[bus\n", "bus.url", "bus.server_url")


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_script_is_idempotent_and_writes_nothing_on_refusal(tmp_path: Path) -> None:
    path = tmp_path / "topology.toml"
    path.write_text(TOPOLOGY)
    first = run_script("triggers.message_rate", "triggers.messages_per_second", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    migrated = path.read_text()
    second = run_script("triggers.message_rate", "triggers.messages_per_second", cwd=tmp_path)
    assert second.returncode == 0
    assert "nothing to move" in second.stdout
    assert path.read_text() == migrated
    path.write_text("[bus\n")
    refused = run_script("bus.url", "bus.server_url", cwd=tmp_path)
    assert refused.returncode == 1
    assert "not valid TOML" in refused.stderr
    assert path.read_text() == "[bus\n"
    assert run_script("only-one-argument", cwd=tmp_path).returncode == 2


KEEP_ANSWERS = TEMPLATE / "hooks" / "migrations" / "keep_answers.py"


def test_a_package_renamed_at_the_prompt_is_refused_after_the_update_with_the_undo(
    tmp_path: Path,
) -> None:
    """A name typed at the update's prompt is known only once the update has run:
    the check then compares the recorded answer with the committed one."""
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
    answers = tmp_path / ".copier-answers.yml"
    answers.write_text("_commit: 1.0.0\npackage_name: shop\n")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", *identity, "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run(["git", *identity, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)

    def after() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(KEEP_ANSWERS), ".copier-answers.yml", "after"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )

    answers.write_text("_commit: 2.0.0\npackage_name: shop\n")
    assert after().returncode == 0  # the same name: a plain update
    answers.write_text("_commit: 2.0.0\npackage_name: store\n")
    refused = after()
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "package_name: an update cannot rename the package ('shop' to 'store'): the owner's "
        "code under src/shop/ would be left behind; rename it by hand, or `copier copy` anew; "
        "undo this update with `git reset --hard && git clean -fd`"
    )
    answers.write_text("_commit: 2.0.0\npackage_name: shop\nexample_cells: true\n")
    assert after().returncode == 0  # example cells added at the prompt: fine
    app = tmp_path / "src" / "shop" / "app.py"
    app.parent.mkdir(parents=True)
    app.write_text("CELLS = (orders.cell, billing.cell)\n")  # the owner uses an example
    subprocess.run(["git", *identity, "-C", str(tmp_path), "add", "-A"], check=True)
    subprocess.run(["git", *identity, "-C", str(tmp_path), "commit", "-qm", "y"], check=True)
    answers.write_text("_commit: 3.0.0\npackage_name: shop\nexample_cells: false\n")
    dropped = after()
    assert dropped.returncode == 1
    assert dropped.stderr.startswith("example_cells: an update cannot remove the example cells")
    assert dropped.stderr.strip().endswith("`git reset --hard && git clean -fd`")
    app.write_text("CELLS = (billing.cell,)\n")
    subprocess.run(["git", *identity, "-C", str(tmp_path), "commit", "-qam", "z"], check=True)
    assert after().returncode == 0  # removed by hand first: the answer is recorded
