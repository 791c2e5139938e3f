"""Field masking: a field the caller may not read comes back null (or empty), and the
response's `extensions.maskedFields` lists where. Which fields are hidden is decided from
the row's relation bits by authz.fields (O(1) per row, when the object is built); this
module only writes down the paths."""

from __future__ import annotations

from strawberry.types import Info

from authz.fields import STAFF
from resolvers.context import Context
from schema.user import User, load_user


def path_of(info: Info[Context, None]) -> str:
    return ".".join(str(p) for p in info.path.as_list())


def may_see_staff(ctx: Context) -> bool:
    # Granted under `any` to every internal role: no row needed.
    return ctx.plan.allows(STAFF, "read", 0)


async def staff_user(info: Info[Context, None], user_id: int | None) -> User | None:
    """A person behind a customer (event actor, former owner): null for a partner."""
    if user_id is None:
        return None
    if not may_see_staff(info.context):
        info.context.masked.append(path_of(info))
        return None
    return await load_user(info, user_id)
