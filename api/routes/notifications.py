"""The caller's notifications (written by the alerts pipeline), newest first; mark as read."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.core.pagination import CursorQuery, decode_cursor, encode_cursor
from api.deps import PrincipalDep, RequireUser, SessionDep
from api.problems import problem_responses
from api.queries import notifications_page_query
from api.schemas import NotificationMarked, NotificationOut, NotificationPage
from stock_insights.storage.db import utcnow
from stock_insights.storage.models import Notification

# Not cached: answers are per user and change when the user reads them.
router = APIRouter(
    prefix="/notifications",
    tags=["notifications"],
    dependencies=[RequireUser],
    responses=problem_responses(401, 403, 422),
)


@router.get("", response_model=NotificationPage, summary="The caller's notifications, newest first")
async def list_notifications(
    session: SessionDep,
    principal: PrincipalDep,
    unread: Annotated[bool, Query(description="Only those not yet read")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: CursorQuery = None,
) -> NotificationPage:
    after = decode_cursor(cursor, datetime, int) if cursor else None
    stmt = notifications_page_query(principal.user_id, unread=unread, after=after, limit=limit + 1)
    rows = (await session.execute(stmt)).scalars().all()
    page = rows[:limit]
    return NotificationPage(
        items=[NotificationOut.model_validate(n) for n in page],
        next_cursor=encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None,
    )


@router.post(
    "/{notification_id}/read",
    response_model=NotificationMarked,
    summary="Mark one of the caller's notifications as read (idempotent)",
    responses=problem_responses(404),
)
async def mark_read(
    notification_id: Annotated[int, Path(ge=1, le=2**31 - 1)], session: SessionDep, principal: PrincipalDep
) -> NotificationMarked:
    notification = await session.get(Notification, notification_id)
    # Someone else's notification is "not found", not "forbidden": ids do not leak.
    if notification is None or notification.user_id != principal.user_id:
        raise HTTPException(404, f"notification {notification_id} does not exist")
    if notification.read_at is None:
        notification.read_at = utcnow()
        await session.commit()
    return NotificationMarked.model_validate(notification)
