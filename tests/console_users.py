"""The console's users of the browser tests and the screenshot script: one per role, signed in through the real
login form (tests/console_support.py, the console's own helpers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.console_support import add_user, sign_in_page

USERS = {
    "comms": ("comms-user", ("comms",)),
    "agent": ("agent-user", ("agent",)),
    "ops": ("ops-user", ("ops",)),
    "management": ("management-user", ("management",)),
}


async def make_users(world: Any, tmp: Path) -> None:
    for name, roles in USERS.values():
        await add_user(world.database_url, name, roles)


async def login(page: Any, base: str, role: str) -> None:
    await sign_in_page(page, base, USERS[role][0])
