"""/openapi.json describes every public route the server has, and only those."""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bot.app import create_app
from bot.settings import FileConfig, MobileAppConfig, Settings
from tests.conftest import environment


def public_routes(app: object) -> set[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():  # type: ignore[attr-defined]
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "HEAD" and not path.startswith("/slack") and path != "/openapi.json":
            routes.add((route.method.lower(), path))
    return routes


async def test_every_route_is_documented(settings: Settings, file_config: FileConfig) -> None:
    apps = {"shop-app": MobileAppConfig(secret_env="SB_TEST_OPENAPI_SECRET")}
    config = file_config.model_copy(update={"mobile": file_config.mobile.model_copy(update={"apps": apps})})
    with environment({"SB_TEST_OPENAPI_SECRET": "openapi-test-secret-0123"}):
        app = create_app(settings, config)
    [route] = [
        r
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical == "/openapi.json" and r.method == "GET"
    ]
    response = await route.handler(make_mocked_request("GET", "/openapi.json", app=app))
    assert isinstance(response, web.Response)
    assert isinstance(response.body, bytes)
    document = json.loads(response.body)
    assert document["openapi"].startswith("3.1")
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == public_routes(app)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["responses"], (method, path)
