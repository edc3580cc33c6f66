"""The shell shows the Home tab (`/home`) and personal notifications, so a newcomer sees them without Slack."""

from bot.core.config import Settings


def test_the_shell_shows_the_home_tab_and_its_buttons_work(tmp_path):
    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        # The sandbox's person starts signed in (as Sam Rivera): the tab shows their work at once.
        console.handle_line("/bb subscribe api")
        lines.clear()
        console.handle_line("/home")
        shown = "\n".join(lines)
        assert "== your Home tab ==" in shown
        assert "Waiting on your review" in shown and "Your open pull requests" in shown and "Your notifications" in shown
        flip = next(s.button.number for s in console.buttons if s.button.action_id == "bb_notify_toggle" and '"k":"reviews"' in s.button.value)
        lines.clear()
        console.handle_line(str(flip))
        assert "reviews · :white_circle: off" in "\n".join(lines).replace("*", "")
    finally:
        console.close()


def test_the_shell_shows_a_direct_message_as_such(tmp_path):
    import time

    from bot.app.shell import Console

    lines: list[str] = []
    console = Console(Settings(database_path=str(tmp_path / "shell.db")), sandbox=True, write=lines.append)
    try:
        console.handle_line("/bb deploy api main to staging")
        console.handle_line(str(next(s.button.number for s in console.buttons if s.button.action_id == "bb_confirm_deploy")))
        deadline = time.monotonic() + 30  # the sandbox's pipelines run by themselves, in a few seconds
        while time.monotonic() < deadline and not any("You got this because you started this deploy" in line for line in lines):
            time.sleep(0.2)
            console.flush()
        shown = "\n".join(lines)
        assert "(a direct message to you)" in shown and "You got this because you started this deploy" in shown
    finally:
        console.close()
