"""GET /exports/{id}.csv: an approved export, streamed to its requester.

The bearer token is checked and the plan built at download time, so the file holds the
rows and fields the requester may see now, not when they asked. Anything but the
requester's own approved, unexpired export answers 404, exactly as a missing one does.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from kernel.errors import DomainError
from resolvers import exports
from resolvers.context import Services, build_context
from resolvers.export_csv import csv_chunks
from schema.errors import error_body

STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "RATE_LIMITED": 429}


def _error(exc: DomainError) -> JSONResponse:
    status = STATUS.get(exc.code, 400)
    body = error_body(exc.message, exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


def export_routes(services: Services) -> list[Route]:
    async def download(request: Request) -> Response:
        ctx = await build_context(services, request.headers.get("authorization"))
        try:
            export = await exports.open_download(ctx, request.path_params["id"])
            spec = exports.export_filter(ctx, export)
        except DomainError as exc:
            return _error(exc)
        finally:
            await ctx.close()
        chunks = csv_chunks(
            services.db,
            ctx.plan,
            spec,
            list(export.fields),
            batch=services.settings.export_batch_size,
        )
        headers = {
            "Content-Disposition": f'attachment; filename="export-{export.id}.csv"',
            "Cache-Control": "no-store",
        }
        return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=headers)

    return [Route("/exports/{id}.csv", download, methods=["GET"])]
