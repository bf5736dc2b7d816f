"""The app's API routes as FastAPI finally serves them, whatever routers they came through."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from starlette.routing import compile_path


@dataclass(frozen=True)
class ServedRoute:
    path: str
    methods: frozenset[str]
    route: APIRoute

    def serves(self, path: str) -> bool:
        return compile_path(self.path)[0].match(path) is not None


def served_routes(app: FastAPI) -> Iterator[ServedRoute]:
    """Each API route with its full path; included routers are kept nested since FastAPI 0.120."""
    for context in routing.iter_route_contexts(app.routes):
        original = context.original_route
        if isinstance(original, APIRoute) and context.path is not None:
            yield ServedRoute(context.path, frozenset(context.methods or ()), original)
