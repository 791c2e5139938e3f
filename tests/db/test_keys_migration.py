"""Migration 0012 recomputes the stored duplicate keys of existing customers."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from db.migrate import alembic_config
from db.models import Contact, Customer, CustomerKey

PHONE = "+86 138 0013 9999"


async def _rows(url: str) -> tuple[int, int]:
    """A customer with a phone contact, its keys rewritten the first release's way."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            cid, name = (
                await conn.execute(select(Customer.id, Customer.name).order_by(Customer.id))
            ).first()  # type: ignore[misc]
            await conn.execute(
                update(Customer).where(Customer.id == cid).values(name=f"{name} 集团")
            )
            await conn.execute(
                Contact.__table__.insert().values(customer_id=cid, name="Old", phone=PHONE)  # type: ignore[attr-defined]
            )
            await conn.execute(delete(CustomerKey).where(CustomerKey.customer_id == cid))
            await conn.execute(
                CustomerKey.__table__.insert(),  # type: ignore[attr-defined]
                [{"kind": "phone", "value": "13800139999", "customer_id": cid}],
            )
            total = len((await conn.execute(select(CustomerKey.kind))).all())
        return int(cid), total
    finally:
        await engine.dispose()


async def _keys(url: str, cid: int) -> tuple[set[tuple[str, str]], str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            keys = {
                (k, v)
                for k, v in await conn.execute(
                    select(CustomerKey.kind, CustomerKey.value).where(
                        CustomerKey.customer_id == cid
                    )
                )
            }
            name_key = await conn.scalar(select(Customer.name_key).where(Customer.id == cid))
        return keys, str(name_key)
    finally:
        await engine.dispose()


async def test_upgrade_recomputes_every_stored_key(database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(command.downgrade, config, "0010")
    cid, _ = await _rows(database_url)
    await asyncio.to_thread(command.upgrade, config, "head")
    keys, name_key = await _keys(database_url, cid)
    assert ("phone", "+8613800139999") in keys
    assert ("phone", "13800139999") not in keys
    assert name_key.endswith("集团") and ("name", name_key) in keys
