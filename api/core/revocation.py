"""Revocation of access tokens before they expire: a per-account *token generation*.

Every access token carries its account's generation (claim ``gen``). Logging out everywhere, a password
change and a role change add one to ``users.token_generation`` and bump the ``token_generations`` dataset
version in the same transaction; a request whose token carries an older generation is refused (401), so a
demoted analyst loses ``/experiments`` and a logged-out token stops working at once, not 15 minutes later.

Cheap on the hot path: the API reads the dataset versions on every request anyway (the cache keys and the
fast path need them), and the generations it has looked up are kept in process until that version moves.
So a request costs a dictionary lookup; after a bump (by any worker: the version is in the database), each
account's generation is read again once, on its next request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from api.core.security import Principal
from stock_insights.storage.datasets import Dataset
from stock_insights.storage.db import bump_dataset_version
from stock_insights.storage.models import User

TOKEN_GENERATIONS = Dataset.TOKEN_GENERATIONS  # the dataset version a generation bump moves
MAX_ID = 2**31 - 1


class TokenGenerations:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_entries: int = 100_000) -> None:
        self.sessions = sessions
        self.max_entries = max_entries
        self._version: int | None = None
        self._known: OrderedDict[int, int | None] = OrderedDict()  # user id -> generation (None: no account)
        self.reads = 0  # database lookups (tests look at it)

    async def current(self, user_id: int, versions: Mapping[str, int]) -> int | None:
        """The account's generation as of ``versions`` (read in this request), or None without an account."""
        version = versions.get(TOKEN_GENERATIONS, 0)
        if version != self._version:
            self._known.clear()
            self._version = version
        if user_id in self._known:
            self._known.move_to_end(user_id)
            return self._known[user_id]
        generation = None
        if 0 < user_id <= MAX_ID:
            self.reads += 1
            async with self.sessions() as session:
                generation = await session.scalar(select(User.token_generation).where(User.id == user_id))
        if self._version == version:  # not emptied by a newer request meanwhile
            self._known[user_id] = generation
            if len(self._known) > self.max_entries:
                self._known.popitem(last=False)
        return generation

    async def is_current(self, principal: Principal, versions: Mapping[str, int]) -> bool:
        return await self.current(principal.user_id, versions) == principal.generation


async def revoke_access_tokens(session: AsyncSession, user_id: int) -> None:
    """Make every access token of ``user_id`` issued so far invalid; commits with the caller's changes."""
    await session.execute(update(User).where(User.id == user_id).values(token_generation=User.token_generation + 1))
    bump_dataset_version(session.sync_session, TOKEN_GENERATIONS)


def revoke_access_tokens_sync(session: Session, user_id: int) -> None:
    """The same for synchronous sessions (the CLI)."""
    session.execute(update(User).where(User.id == user_id).values(token_generation=User.token_generation + 1))
    bump_dataset_version(session, TOKEN_GENERATIONS)
