"""The sandbox has history enough for /bb stats to draw a real chart, and the shell saves it and says where."""

from __future__ import annotations

import re
from pathlib import Path

from bot.core.config import Settings
from tests.test_insights_stats import png_size


def test_the_shell_shows_the_sandbox_stats_and_saves_the_chart(tmp_path):
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    console.files_dir = str(tmp_path / "files")
    Path(console.files_dir).mkdir()
    try:
        console.handle_line("/bb stats api 90d")
        shown = "\n".join(lines)
        assert "Working on the figures of `acme/api` for the last 90 days" in shown
        merged = int(re.search(r"\*Merged\* (\d+)", shown).group(1))
        assert merged >= 40  # three months of merged history
        assert "Covered 63 pull requests" in shown
        saved = re.search(r"saved to (\S+\.png)", shown).group(1)
        assert Path(saved).parent == tmp_path / "files"
        assert png_size(Path(saved).read_bytes()) == (800, 400)
    finally:
        console.close()


def test_the_charts_folder_the_shell_made_is_gone_after_quit(tmp_path):
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        console.handle_line("/bb stats api 7d")
        shown = "\n".join(lines)
        saved = Path(re.search(r"saved to (\S+\.png)", shown).group(1))
        assert saved.is_file() and "removed when you quit" in shown
    finally:
        console.close()
    assert not saved.parent.exists()
