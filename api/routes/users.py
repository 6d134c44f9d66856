"""The caller's account, watchlist and webhook; admins manage roles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.core.revocation import revoke_access_tokens
from api.deps import PrincipalDep, RequireAdmin, RequireUser, SessionDep
from api.problems import problem_responses
from api.routes.stocks import CodePath
from api.schemas import RoleIn, UserList, UserOut, Watchlist, WatchlistItemOut, WebhookIn
from stock_insights.alerts.destinations import DestinationPolicy, RefusedDestination, masked
from stock_insights.settings import get_settings
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import Stock, User, WatchlistItem

router = APIRouter(
    prefix="/users", tags=["users"], dependencies=[RequireUser], responses=problem_responses(401, 403, 422)
)

UserIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="User id")]


def _for_admin(user: User) -> UserOut:
    """Another user's account as an admin sees it: the webhook URL masked (a Slack URL's path is its secret)."""
    out = UserOut.model_validate(user)
    return out.model_copy(update={"webhook_url": masked(out.webhook_url)})


async def _me(session: SessionDep, principal: PrincipalDep) -> User:
    user = await session.get(User, principal.user_id)
    if user is None:  # deleted after the token was issued
        raise HTTPException(401, "The account no longer exists.", headers={"WWW-Authenticate": "Bearer"})
    return user


async def _watchlist(session: SessionDep, user_id: int) -> Watchlist:
    rows = await session.execute(
        select(WatchlistItem.code, Stock.name, Stock.market, WatchlistItem.added_at)
        .join(Stock, Stock.code == WatchlistItem.code)
        .where(WatchlistItem.user_id == user_id)
        .order_by(WatchlistItem.added_at, WatchlistItem.code)
    )
    return Watchlist(items=[WatchlistItemOut(code=c, name=n, market=m, added_at=a) for c, n, m, a in rows])


@router.get("/me", response_model=UserOut, summary="The caller's account")
async def me(session: SessionDep, principal: PrincipalDep) -> UserOut:
    return UserOut.model_validate(await _me(session, principal))


@router.get("/me/watchlist", response_model=Watchlist, summary="The caller's watchlist")
async def watchlist(session: SessionDep, principal: PrincipalDep) -> Watchlist:
    return await _watchlist(session, (await _me(session, principal)).id)


@router.put(
    "/me/watchlist/{code}",
    response_model=Watchlist,
    summary="Add a stock to the watchlist (idempotent)",
    responses=problem_responses(404),
)
async def add_to_watchlist(code: CodePath, session: SessionDep, principal: PrincipalDep) -> Watchlist:
    user = await _me(session, principal)
    if await session.get(Stock, code) is None:
        raise HTTPException(404, f"stock {code} is not tracked")
    if await session.get(WatchlistItem, (user.id, code)) is None:
        session.add(WatchlistItem(user_id=user.id, code=code, added_at=utcnow()))
        await session.commit()
    return await _watchlist(session, user.id)


@router.delete(
    "/me/watchlist/{code}",
    status_code=204,
    summary="Remove a stock from the watchlist",
    responses=problem_responses(404),
)
async def remove_from_watchlist(code: CodePath, session: SessionDep, principal: PrincipalDep) -> Response:
    user = await _me(session, principal)
    item = await session.get(WatchlistItem, (user.id, code))
    if item is None:
        raise HTTPException(404, f"stock {code} is not on the watchlist")
    await session.delete(item)
    await session.commit()
    return Response(status_code=204)


@router.put(
    "/me/webhook",
    response_model=UserOut,
    summary="Set (or clear, with null) the notification webhook URL",
    description="The URL must use https (http only against the simulated market) and name a public host: "
    "loopback, private, link-local (cloud metadata), shared, multicast and reserved addresses, and local-only "
    "names such as `localhost` or `*.internal`, are refused with a 422, unless the operator admits the host "
    "(`WEBHOOK_ALLOWED_HOSTS`); no user-info. Each delivery checks the resolved address again and never "
    "follows a redirect.",
    responses=problem_responses(400),
)
async def set_webhook(body: WebhookIn, session: SessionDep, principal: PrincipalDep) -> UserOut:
    if body.url is not None:
        try:
            DestinationPolicy.from_settings(get_settings()).check_url(body.url)
        except RefusedDestination as exc:
            # The reason names the host at most, never the URL's path (its secret).
            raise RequestValidationError(
                [{"loc": ("body", "url"), "msg": f"webhook URL refused: {exc}", "type": "value_error"}]
            ) from None
    user = await _me(session, principal)
    user.webhook_url = body.url
    await session.commit()
    return UserOut.model_validate(user)


@router.get(
    "",
    response_model=UserList,
    summary="Every account (admin); webhook URLs masked to scheme and host",
    dependencies=[RequireAdmin],
)
async def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: CursorQuery = None,
) -> UserList:
    stmt = select(User).order_by(User.id).limit(limit + 1)
    if cursor:
        (last_id,) = decode_cursor(cursor, int)
        stmt = stmt.where(User.id > last_id)
    rows = (await session.execute(stmt)).scalars().all()
    page = rows[:limit]
    return UserList(
        items=[_for_admin(u) for u in page],
        next_cursor=encode_cursor(page[-1].id) if len(rows) > limit else None,
    )


@router.put(
    "/{user_id}/role",
    response_model=UserOut,
    summary="Change an account's role (admin; not one's own)",
    dependencies=[RequireAdmin],
    responses=problem_responses(400, 404, 409),
)
async def set_role(user_id: UserIdPath, body: RoleIn, session: SessionDep, principal: PrincipalDep) -> UserOut:
    if user_id == principal.user_id:
        # Otherwise the last admin could demote themself and nobody could undo it.
        raise HTTPException(409, "Admins cannot change their own role.")
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(404, f"user {user_id} does not exist")
    if user.role != body.role:
        # Tokens issued for the old role stop working at once (a demoted analyst keeps nothing).
        await revoke_access_tokens(session, user.id)
        user.role = body.role
    await session.commit()
    return _for_admin(user)
