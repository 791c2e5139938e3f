"""Charging operations to rate-limit buckets, and `extensions.cost` on every response.

An operation is charged its estimated cost (schema/cost.py) after validation and before it
runs, so a refused one runs no SQL: to its token's bucket, or to its IP's when it has no
principal (authz/ratelimit.py). Once it has run, the charge is brought to what it
actually built. The response says what was asked, what it cost and what is left, the way
Shopify's `extensions.cost` does: `{requested, actual, limit, remaining, restoreRate}`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from authz.ratelimit import Quota
from resolvers.context import Context
from schema.cost import operation_cost

# Estimates are walks of the document; requests repeat documents, so remember a few.
ESTIMATES_KEPT = 256


def cost_report(requested: int, quota: Quota, actual: int | None = None) -> dict[str, Any]:
    rate = quota.restore_rate
    cost: dict[str, Any] = {"requested": requested}
    if actual is not None:
        cost["actual"] = actual
    cost["limit"] = quota.limit
    cost["remaining"] = quota.remaining
    cost["restoreRate"] = int(rate) if rate.is_integer() else rate
    return {"cost": cost}


def built(data: dict[str, Any] | None) -> int:
    """What a result cost to build, counted like the estimate: each field's value and
    each item of a list; like the estimate, introspection (`__schema`, `__type`) is not counted."""
    roots = {name: value for name, value in (data or {}).items() if not name.startswith("__")}
    count, stack = 0, [roots]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            count += len(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            count += len(value)
            stack.extend(value)
    return count


def charge_cost(page_cap: int) -> Callable[[], SchemaExtension]:
    """A factory of per-operation ChargeCost extensions sharing one estimate cache."""
    estimates: OrderedDict[tuple[str | None, str | None], int] = OrderedDict()

    def estimate(extension: SchemaExtension) -> int:
        ec = extension.execution_context
        assert ec.graphql_document is not None
        key = (ec.query, ec.operation_name)
        if ec.query and key in estimates:
            estimates.move_to_end(key)
            return estimates[key]
        value = operation_cost(ec.schema._schema, ec.graphql_document, ec.operation_name, page_cap)
        if ec.query:  # a document without its text (a persisted one) is not kept
            estimates[key] = value
            if len(estimates) > ESTIMATES_KEPT:
                estimates.popitem(last=False)
        return value

    class ChargeCost(SchemaExtension):
        report: dict[str, Any] | None = None

        async def on_execute(self) -> AsyncIterator[None]:
            ctx = self.execution_context.context
            limiter = ctx.services.limiter if isinstance(ctx, Context) else None
            if limiter is None:
                yield
                return
            requested = estimate(self)
            bucket, key = limiter.bucket_for(ctx.principal, ctx.client_ip)
            quota = await limiter.charge(bucket, key, requested)
            self.report = cost_report(requested, quota)
            subscription = self.execution_context.operation_type is OperationType.SUBSCRIPTION
            if quota.retry_after is not None:
                ctx.retry_after = quota.retry_after
                refusal = quota.refusal("this token" if ctx.principal else "this address")
                if subscription:
                    raise refusal  # strawberry answers it as the subscription's error
                # A result set here is returned instead of executing the operation.
                self.execution_context.result = ExecutionResult(
                    None, [GraphQLError(refusal.message, original_error=refusal)]
                )
                yield
                return
            yield
            result = self.execution_context.result
            # What failed keeps its estimate: the work it did is not in its data.
            if subscription or not isinstance(result, ExecutionResult) or result.errors:
                return
            actual = max(1, built(result.data))  # nothing is free: every request is work
            if actual != quota.charged:
                quota = await limiter.settle(bucket, key, quota, actual)
            self.report = cost_report(requested, quota, actual)

        async def get_results(self) -> dict[str, Any]:
            if self.report is not None:
                return self.report
            # It did not parse or validate, so it ran nothing; reading it was still work.
            ctx = self.execution_context.context
            limiter = ctx.services.limiter if isinstance(ctx, Context) else None
            if limiter is None:
                return {}
            bucket, key = limiter.bucket_for(ctx.principal, ctx.client_ip)
            self.report = cost_report(0, await limiter.take_up_to(bucket, key, 1))
            return self.report

    return ChargeCost
