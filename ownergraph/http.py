"""GraphQL over HTTP, to the letter of the spec (graphql-http's audit suite passes clean).

- Media types: `application/graphql-response+json` when the client accepts it, else the
  legacy `application/json`. Under the new type a request error (the document does not
  parse or validate, a variable does not coerce) is a 400 with no `data` key; under the
  legacy type it stays a 200, as older clients expect.
- Requests that are not GraphQL requests at all (a body that is not a JSON object, not
  UTF-8, nested past reason, a subscription with nowhere to stream) are a 4xx with a JSON
  body and a stable `extensions.code`, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from kernel.errors import DomainError, PersistedQueryNotFound
from kernel.messages import N_
from ownergraph.graphiql import GraphiQLPage
from ownergraph.origins import OriginPolicy
from ownergraph.persisted import PersistedQueries
from resolvers.context import Context
from schema.errors import error_body, format_error

GRAPHQL_RESPONSE = "application/graphql-response+json"
LEGACY_JSON = "application/json"
# No GraphQL request nests this deep; graphql-core's recursive coercion would overflow first.
MAX_JSON_DEPTH = 64
CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}
NO_STREAM = N_(
    "Subscriptions are not answered by a plain HTTP request. Open a WebSocket on this path "
    "(graphql-transport-ws), or POST with `Accept: multipart/mixed;subscriptionSpec=1.0` "
    "to receive the events as a multipart stream."
)


class RequestError(HTTPException):
    """The HTTP request is not a well-formed GraphQL request."""

    def __init__(
        self,
        reason: str,
        status_code: int = 400,
        code: str = "BAD_REQUEST",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, reason)
        self.code = code
        self.headers = headers or {}


# Apollo's answer to an unknown hash: 200 (so no client or proxy masks the body), and never
# cached, since the same request succeeds once the client has registered the query.
NOT_FOUND_HEADERS = {"cache-control": "private, no-cache, must-revalidate"}


def persisted_query_error(exc: DomainError) -> RequestError:
    if isinstance(exc, PersistedQueryNotFound):
        return RequestError(exc.message, 200, exc.code, NOT_FOUND_HEADERS)
    return RequestError(exc.message, 400, exc.code)


class UnreadableJSON(json.JSONDecodeError):
    """Also raised for what the json module reports otherwise (bad UTF-8, deep nesting),
    so every reader of `decode_json` (WebSocket frames too) handles one exception."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "", 0)
        self.reason = reason


def media_type_for(accept: str | None) -> str:
    """The response type for an Accept header: the new type only when asked for and not
    ranked below application/json (graphql-http's recommended header ranks it first)."""
    ranks: dict[str, float] = {}
    for part in (accept or "").split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranks[kind.lower()] = max(q, ranks.get(kind.lower(), 0.0))
    new = ranks.get(GRAPHQL_RESPONSE, 0.0)
    return GRAPHQL_RESPONSE if new > 0 and new >= ranks.get(LEGACY_JSON, 0.0) else LEGACY_JSON


def is_request_error(result: Any) -> bool:
    """Nothing was executed: parse, validation or variable errors (they carry no path)."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


def check_json_value(value: object) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH (iteratively: no recursion to exhaust)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise RequestError(
                    N_(
                        "The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.",
                        MAX_JSON_DEPTH=MAX_JSON_DEPTH,
                    )
                )
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class GraphQLOverHTTP(GraphQL[Context, None]):
    """The HTTP half of the GraphQL view: negotiation, status codes, request errors, and
    which foreign origins may open a WebSocket (browsers apply no CORS to those)."""

    origins: OriginPolicy = OriginPolicy(frozenset())
    graphiql: GraphiQLPage = GraphiQLPage()
    persisted: PersistedQueries | None = None

    def is_websocket_origin_allowed(self, request: Any, origin: str) -> bool:
        return self.origins.allows(origin)

    def should_render_graphql_ide(self, request: Any) -> bool:
        # A GET naming only a persisted query's hash is an operation (Apollo Client 3
        # sends `Accept: */*`), not a browser asking for the page.
        params = request.query_params
        return super().should_render_graphql_ide(request) and "extensions" not in params

    async def render_graphql_ide(self, request: Request) -> Response:
        return self.graphiql.render()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except HTTPException as exc:
            code = getattr(exc, "code", None) or CODES.get(exc.status_code, "BAD_REQUEST")
            response = Response(
                self.encode_json(error_body(exc.reason, code)),
                status_code=exc.status_code,
                media_type=media_type_for(request.headers.get("accept")),
                headers=getattr(exc, "headers", None),
            )
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
        except UnicodeDecodeError as exc:
            raise UnreadableJSON(
                N_("The body is not valid UTF-8 (byte {start}).", start=exc.start)
            ) from exc
        try:
            return json.loads(text)
        except RecursionError as exc:
            raise UnreadableJSON(N_("The JSON body is nested too deeply.")) from exc

    def parse_json(self, data: str | bytes) -> Any:
        try:
            value = self.decode_json(data)
        except UnreadableJSON as exc:
            raise RequestError(exc.reason) from exc
        except json.JSONDecodeError as exc:
            reason = N_(
                "The body is not valid JSON: {msg} at position {pos}.", msg=exc.msg, pos=exc.pos
            )
            raise RequestError(reason) from exc
        if not isinstance(value, dict):
            raise RequestError(
                N_(
                    'Expected a JSON object, such as {{"query": "{{ me {{ name }} }}", '
                    '"variables": {{}}}}.'
                )
            )
        check_json_value(value)
        return value

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            name: object = data.operation_name
            if name is not None and not isinstance(name, str):
                raise RequestError(N_("`operationName` must be a string or null."))
            if isinstance(name, str) and has_lone_surrogate(name):
                raise RequestError(N_("`operationName` contains a lone UTF-16 surrogate."))
        if self.persisted is not None:
            for item in data if isinstance(data, list) else [data]:
                try:
                    item.query = await self.persisted.resolve(item.query, item.extensions)
                except DomainError as exc:
                    raise persisted_query_error(exc) from exc
        return data

    async def execute_single(
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> Any:
        # Subscriptions only where they can stream (multipart requests take another path).
        allowed = OperationType.from_http(request_adapter.method) - {OperationType.SUBSCRIPTION}
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise RequestError(exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.SUBSCRIPTION:
                raise RequestError(NO_STREAM) from exc
            raise RequestError(
                exc.as_http_error_reason(request_adapter.method),
                status_code=405,
                code="METHOD_NOT_ALLOWED",
            ) from exc
        except MissingQueryError as exc:
            raise RequestError(
                N_('No GraphQL query found: send {{"query": "..."}} (or ?query= with GET).')
            ) from exc

    async def get_sub_response(self, request: Request | Any) -> Response:
        sub = await super().get_sub_response(request)
        # Negotiated once; process_result may turn a request error into a 400 on it.
        sub.media_type = media_type_for(request.headers.get("accept"))
        request.state.sub_response = sub
        return sub

    async def process_result(self, request: Request, result: Any) -> GraphQLHTTPResponse:
        # Parse errors skip the schema extensions; format them the same way here.
        if result.errors:
            result.errors = [format_error(e) for e in result.errors]
        body = await super().process_result(request, result)
        sub: Response | None = getattr(request.state, "sub_response", None)
        if sub is not None:
            self.shape_response(result, body, sub)
        return body

    def shape_response(self, result: Any, body: GraphQLHTTPResponse, sub: Response) -> None:
        """Status and headers from the result (the hook for e.g. 429 and Retry-After):
        under the new media type a request error is a 400 without `data`."""
        if sub.media_type == GRAPHQL_RESPONSE and is_request_error(result):
            body.pop("data", None)
            sub.status_code = 400

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or LEGACY_JSON
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response
