"""The sandbox's two halves stay in step (defect 15): the bot's database and the simulated Bitbucket start
fresh together each time the shell starts, so a restart never leaves the bot subscribed to a Bitbucket that
has forgotten the webhook."""

from bot.core.config import Settings
from tests.shellkit import run


def test_a_restarted_sandbox_starts_both_halves_fresh(tmp_path):
    settings = Settings(database_path=str(tmp_path / "shell.db"))
    first = run(tmp_path, "/bb subscribe api", "/bb subscriptions", settings=settings)
    assert "acme/api" in first.answer_to("/bb subscriptions")

    again = run(tmp_path, "/bb subscriptions", "/simulate", settings=settings)
    subscriptions, simulated = again.answer_to("/bb subscriptions"), again.answer_to("/simulate")
    # The bot's database and the simulated Bitbucket agree: neither remembers the last run.
    assert "acme/api" not in subscriptions, subscriptions
    assert "`/bb subscribe api` first" in simulated
    assert "starts fresh" in again.banner


def test_the_sandbox_never_opens_the_configured_database(tmp_path):
    """The sandbox's fresh start wipes only its own file, never the database the settings name for real use."""
    real = tmp_path / "chatops.db"
    real.write_bytes(b"not touched")
    run(tmp_path, "/bb subscriptions", settings=Settings(database_path=str(real)))
    assert real.read_bytes() == b"not touched"
    assert (tmp_path / "sandbox.db").exists()
