"""What PostgreSQL is running right now, for tests that check a statement was stopped."""

from __future__ import annotations

import asyncio

import asyncpg


async def running_statements(admin_url: str, text: str, *, settle: float = 0.0) -> int:
    """Sessions (other than this one) inside a statement whose text contains ``text``.

    With ``settle``, waits up to that many seconds for the count to reach zero: stopping a
    statement and releasing its connection finish shortly after the consumer returns.
    """
    conn = await asyncpg.connect(admin_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settle
        while True:
            n = int(await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' "
                                        "AND state <> 'idle' AND pid <> pg_backend_pid()", text))
            if n == 0 or loop.time() >= deadline:
                return n
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
