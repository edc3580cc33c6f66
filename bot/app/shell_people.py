"""Who sits at the shell: its own person (an admin of the bot, signed in to the sandbox Bitbucket as Sam Rivera),
or, after `/as NAME`, another simulated member of the team, so refusals, approvals by someone else and direct
messages about other people's actions can be seen. Pure data and parsing."""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox.bitbucket.demo import PEOPLE

SHELL_USER, SHELL_CHANNEL, SHELL_TEAM = "USHELL", "CSHELL", "TSHELL"
# The sandbox Bitbucket account the shell's person signs in as: a newcomer to the team, author of nothing yet,
# so they may approve any pull request of the demo workspace.
PERSON_NICKNAME, PERSON_NAME = "sam", "Sam Rivera"


@dataclass(frozen=True)
class Person:
    key: str  # what `/as` takes
    slack_id: str
    name: str
    nickname: str | None  # their sandbox Bitbucket account, None: they have none
    admin: bool
    about: str

    @property
    def slack_name(self) -> str:
        return "you" if self.slack_id == SHELL_USER else self.key


YOU = Person("you", SHELL_USER, PERSON_NAME, PERSON_NICKNAME, True, "an admin of the bot")
GUEST = Person("guest", "UGUEST", "Gus Guest", None, False, "a guest with no roles")
TEAM = tuple(
    Person(nickname, f"U{nickname.upper()}", name, nickname, False, "a teammate with no roles")
    for nickname, name in PEOPLE.items()
)
ROSTER: tuple[Person, ...] = (YOU, *TEAM, GUEST)
ALIASES = {"me": "you", "sam": "you", "admin": "you"}


def person_named(word: str) -> Person | None:
    word = word.strip().lstrip("@").lower()
    word = ALIASES.get(word, word)
    return next((p for p in ROSTER if p.key == word or p.name.lower().split()[0] == word), None)


def who_line(person: Person) -> str:
    account = f"signed in to Bitbucket as `{person.nickname}`" if person.nickname else "no Bitbucket account"
    return f"{person.name} (@{person.slack_name}, {person.slack_id}): {person.about}; {account}."


def roster_line() -> str:
    return ", ".join(p.key for p in ROSTER)
