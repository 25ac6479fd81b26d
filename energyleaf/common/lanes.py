"""A shorter middleware chain for a few hot paths, chosen by path before Django is entered.

Every sensor posts its reading every 15 s; on one 2-core machine 10 000 of them are about 670
requests a second, and each request through the whole `MIDDLEWARE` list pays for middleware that
cannot change a sensor's answer: sessions, CSRF (the sensor views are exempt), authentication
(sensors carry a token in the body, not a user), messages, WhiteNoise's static files and the
history middleware's thread-local request. `LanedApplication` sends the requests for the paths of a
lane to a `ShortChainHandler`: Django's own WSGI handler (the same URL resolving, request
signals, so the same database-connection handling, and the same conversion of exceptions into
answers) with only the middleware that remains, and with each of its paths resolved to its view
once, at start-up. Every other path goes to the full application.

The skipped middleware is named, not the kept: middleware added to `MIDDLEWARE` later runs in the
lane too unless it is named as safe to skip. Each skipped entry must be one that does nothing for a
request that never reads `request.user`, `request.session` or messages and whose view is exempt
from CSRF; `energyleaf/tests/test_lanes.py` checks that the lane's answers equal the full chain's,
byte for byte, headers included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest
from django.urls import ResolverMatch, get_resolver, reverse
from django.utils.module_loading import import_string

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# Hooks that Django's handler calls around the view itself; a middleware in a short chain may only
# wrap the request (process_request/process_response or __call__).
_VIEW_HOOKS = ("process_view", "process_template_response", "process_exception")


def lane_middleware(skipped: Iterable[str]) -> list[str]:
    """`MIDDLEWARE` in its order, without `skipped` (entries of `skipped` that `MIDDLEWARE` does
    not have, such as WhiteNoise under the test settings, are nothing to skip)."""
    skip = set(skipped)
    return [path for path in settings.MIDDLEWARE if path not in skip]


def short_chain_for(url_names: Iterable[str], skipped: Iterable[str]) -> ShortChainHandler:
    """The handler of a lane: `MIDDLEWARE` without `skipped`, for the paths of `url_names`
    (its `matches` are the paths to send to it)."""
    return ShortChainHandler(lane_middleware(skipped), paths=[reverse(name) for name in url_names])


class ShortChainHandler(WSGIHandler):
    """Django's WSGI handler with `middleware` (dotted paths, outermost first) as its chain, for
    requests to `paths`, each resolved once here (the handler serves other paths too, resolving
    them as Django does, but `LanedApplication` sends it only these)."""

    def __init__(self, middleware: Iterable[str], paths: Iterable[str]) -> None:
        self.chain_paths = tuple(middleware)
        super().__init__()
        resolver = get_resolver()
        self.matches = {path: resolver.resolve(path) for path in paths}

    def resolve_request(self, request: HttpRequest) -> ResolverMatch:
        match = self.matches.get(request.path_info)
        if match is None or hasattr(request, "urlconf"):
            return super().resolve_request(request)
        request.resolver_match = match
        return match

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("ShortChainHandler serves WSGI only")
        # The lists and the chain BaseHandler.load_middleware fills (Django's stubs leave out
        # these private names); none of the lane's middleware hooks the view.
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]
        for path in reversed(self.chain_paths):
            instance = import_string(path)(handler)
            hooks = [hook for hook in _VIEW_HOOKS if hasattr(instance, hook)]
            if hooks:
                raise ImproperlyConfigured(
                    f"{path} has {', '.join(hooks)}: skip it in the lane or serve the path in full"
                )
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class LanedApplication:
    """The WSGI application of `lanes[PATH_INFO]` when there is one, else `default`. Paths are
    compared exactly, without the SCRIPT_NAME a server may put before them:
    `/api/v1/sensor_input/` (a trailing slash) goes to `default`."""

    def __init__(self, default: WSGIApplication, lanes: Mapping[str, WSGIApplication]) -> None:
        self.default = default
        self.lanes = dict(lanes)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        application = self.lanes.get(environ.get("PATH_INFO", ""), self.default)
        return application(environ, start_response)
