"""The route class of every router with a JSON body model: FastAPI reads such bodies with
``Request.json``, here made to refuse what ``POST /v1/metrics`` refuses (a body in UTF-16 or
UTF-32) through the same check, ``forecaster.json_encoding.utf8_json``."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from forecaster.json_encoding import utf8_json


class Utf8JsonRequest(Request):
    """A request whose JSON body must be UTF-8."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(utf8_json(await self.body()))
        return self._json


class Utf8JsonRoute(APIRoute):
    """An ``APIRoute`` whose handler reads its body through :class:`Utf8JsonRequest`; what the
    check raises reaches ``api.errors`` as the cause of FastAPI's "error parsing the body"."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(Utf8JsonRequest(request.scope, request.receive))

        return handle
