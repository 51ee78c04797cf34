"""The studio's HTTP side: a Starlette app over one :class:`~.session.StudioSession`.

Routes (JSON unless said; errors are ``{"error": message}`` with a 4xx status, never a trace):

=====================================  ==========================================================
``GET /``                              the page (``static/index.html``); its script and style
``GET /api/project``                   video, objects, keyframes, presence, job
``GET /api/frames/{i}.jpg``            frame ``i`` (JPEG)
``GET /api/frames/{i}/labels.png``     its label map (grayscale PNG, value = object id), 404 if none
``PUT /api/frames/{i}/labels``         body: such a PNG -> the frame's decided mask (keyframe)
``DELETE /api/frames/{i}/labels``      the frame loses its mask
``POST /api/frames/{i}/keyframe``      ``{"keyframe": bool}``
``POST /api/frames/{i}/box``           ``{"object": id, "box": [x0, y0, x1, y1]}``
``POST /api/frames/{i}/clicks``        ``{"object": id, "positive": [[x, y]...], "negative": [...]}``
``POST /api/frames/{i}/import``        body: a mask image file
``POST /api/objects``                  ``{"name": ...}``; ``PATCH``/``DELETE /api/objects/{id}``
``POST /api/propagate``                ``{"frame", "direction", "stop", "stop_at_keyframe"}``
``POST /api/job/{pause,resume,cancel}``
``POST /api/export``                   ``{"mode"}``; ``GET /api/exports/{name}`` downloads it
``GET /api/events?after=N``            server-sent events: ``mask``, ``objects``, ``propagated``, ``job``
=====================================  ==========================================================

Only these routes exist: nothing outside the video and the workspace is ever served. Bound to
loopback, requests must name a loopback host (a web page elsewhere cannot reach the studio
through DNS rebinding); bound to another address, every request needs the session's token (in
the URL once; the page then keeps it in a cookie).
"""
from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import cv2
import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import AotVideoError, WorkspaceError
from .session import StudioSession

__all__ = ["LOOPBACK_HOSTS", "StudioServer", "is_loopback", "make_app"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_STATIC = {"studio.js": "text/javascript", "studio.css": "text/css"}
Handler = Callable[[Request], Awaitable[Response]]


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _guarded(handler: Callable[..., Any]) -> Handler:
    """Run a blocking handler in the thread pool; turn errors into messages for the page."""
    async def endpoint(request: Request) -> Response:
        try:
            return await run_in_threadpool(handler, request, *await _body(request))
        except (AotVideoError, ValueError, KeyError, IndexError) as exc:
            return _error(_message(exc))
        except Exception as exc:  # a bug: a message, not a stack trace
            return _error(f"internal error ({type(exc).__name__}): {exc}", 500)
    return endpoint


async def _body(request: Request) -> tuple[Any, ...]:
    if request.method in ("GET", "DELETE"):
        return ()
    return (await request.body(),)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc) or type(exc).__name__


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise ValueError(f"the request is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError("the request must be a JSON object")
    return value


def _index(request: Request) -> int:
    return int(request.path_params["index"])


@contextmanager
def _as_file(body: bytes) -> Iterator[str]:
    """An uploaded image as a temporary file, for the readers that take a path (read_mask)."""
    with tempfile.NamedTemporaryFile(suffix=".png") as handle:
        handle.write(body)
        handle.flush()
        yield handle.name


def _labels_from_png(body: bytes) -> np.ndarray:
    """A label map from a PNG: a palette PNG's indices, else the gray value (the red channel of
    an RGB(A) PNG, which is what the page sends: R = G = B = object id)."""
    if body[:8] != b"\x89PNG\r\n\x1a\n" or len(body) < 26:
        raise WorkspaceError("the mask is not a PNG image")
    if body[25] == 3:  # IHDR colour type 3: palette
        from ..io.masks import read_mask

        with _as_file(body) as path:
            return read_mask(path).astype(np.uint8)
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise WorkspaceError("the mask PNG cannot be decoded")
    if image.dtype != np.uint8:
        raise WorkspaceError("the mask PNG must have 8 bits per channel")
    return (image if image.ndim == 2 else image[:, :, 2]).astype(np.uint8)  # OpenCV: BGR(A)


def make_app(session: StudioSession, *, token: str | None = None,
             loopback_only: bool = True) -> Starlette:
    """The studio app for ``session``. ``token``: required on every request (given once as
    ``?token=`` in the URL, then sent back as a cookie); ``loopback_only``: refuse requests that
    do not name a loopback host (bound to 127.0.0.1)."""

    def project(request: Request) -> Response:
        return JSONResponse(session.project())

    def frame_jpeg(request: Request) -> Response:
        return Response(session.frame_jpeg(_index(request)), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})

    def get_labels(request: Request) -> Response:
        data = session.labels_png(_index(request))
        if data is None:
            return _error(f"frame {_index(request)} has no mask", 404)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    def put_labels(request: Request, body: bytes) -> Response:
        session.set_labels(_index(request), _labels_from_png(body))
        return JSONResponse({"ok": True})

    def delete_labels(request: Request) -> Response:
        session.clear(_index(request))
        return JSONResponse({"ok": True})

    def keyframe(request: Request, body: bytes) -> Response:
        session.set_keyframe(_index(request), bool(_json(body).get("keyframe", True)))
        return JSONResponse({"ok": True})

    def box(request: Request, body: bytes) -> Response:
        data = _json(body)
        coords = [int(round(float(v))) for v in data.get("box", [])]
        if len(coords) != 4:
            raise ValueError("a box is [x0, y0, x1, y1]")
        session.box(_index(request), int(data["object"]), coords)
        return JSONResponse({"ok": True})

    def clicks(request: Request, body: bytes) -> Response:
        data = _json(body)
        points = {k: [(float(p[0]), float(p[1])) for p in data.get(k, [])] for k in ("positive", "negative")}
        session.clicks(_index(request), int(data["object"]), points["positive"], points["negative"])
        return JSONResponse({"ok": True})

    def import_mask(request: Request, body: bytes) -> Response:
        with _as_file(body) as path:
            ids = session.import_mask(_index(request), path)
        return JSONResponse({"ok": True, "objects": ids})

    def add_object(request: Request, body: bytes) -> Response:
        info = session.add_object(_json(body).get("name"))
        return JSONResponse({"id": info.id, "name": info.name})

    def change_object(request: Request, *body: bytes) -> Response:
        object_id = int(request.path_params["object_id"])
        if request.method == "DELETE":
            session.remove_object(object_id)
            return JSONResponse({"ok": True})
        info = session.rename_object(object_id, str(_json(body[0]).get("name", "")))
        return JSONResponse({"id": info.id, "name": info.name})

    def start_propagation(request: Request, body: bytes) -> Response:
        data = _json(body)
        stop = data.get("stop")
        status = session.propagate(int(data["frame"]), str(data.get("direction", "forward")),
                                   stop=None if stop in (None, "") else int(stop),
                                   stop_at_keyframe=bool(data.get("stop_at_keyframe", True)))
        return JSONResponse(status.to_json())

    def job_action(request: Request, body: bytes) -> Response:
        action = request.path_params["action"]
        actions = {"pause": session.pause, "resume": session.resume, "cancel": session.cancel}
        if action not in actions:
            return _error(f"unknown job action {action!r}", 404)
        actions[action]()
        return JSONResponse({"ok": True})

    def export(request: Request, body: bytes) -> Response:
        status = session.export(str(_json(body).get("mode", "overlay")))
        return JSONResponse(status.to_json())

    def download(request: Request) -> Response:
        folder = (session.workspace.root / "exports").resolve()
        target = (folder / request.path_params["name"]).resolve()
        if target.parent != folder or not target.is_file():
            return _error("no such export", 404)
        return FileResponse(target, filename=target.name)

    async def events(request: Request) -> Response:
        seen = int(request.query_params.get("after", session.events.last))

        async def stream():  # type: ignore[no-untyped-def]
            nonlocal seen
            yield "retry: 1000\n\n"
            while not session.events.closed and not await request.is_disconnected():
                batch = await run_in_threadpool(session.events.since, seen, 10.0)
                if not batch:
                    yield ": keep-alive\n\n"
                for number, event in batch:
                    seen = number
                    yield f"id: {number}\ndata: {json.dumps(event)}\n\n"
        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def page(request: Request) -> Response:
        text = resources.files(__package__).joinpath("static/index.html").read_text("utf-8")
        return Response(text, media_type="text/html", headers={"Cache-Control": "no-store"})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return _error("not found", 404)
        data = resources.files(__package__).joinpath(f"static/{name}").read_bytes()
        return Response(data, media_type=_STATIC[name], headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/project", _guarded(project)),
        Route("/api/frames/{index:int}.jpg", _guarded(frame_jpeg)),
        Route("/api/frames/{index:int}/labels.png", _guarded(get_labels)),
        Route("/api/frames/{index:int}/labels", _guarded(put_labels), methods=["PUT"]),
        Route("/api/frames/{index:int}/labels", _guarded(delete_labels), methods=["DELETE"]),
        Route("/api/frames/{index:int}/keyframe", _guarded(keyframe), methods=["POST"]),
        Route("/api/frames/{index:int}/box", _guarded(box), methods=["POST"]),
        Route("/api/frames/{index:int}/clicks", _guarded(clicks), methods=["POST"]),
        Route("/api/frames/{index:int}/import", _guarded(import_mask), methods=["POST"]),
        Route("/api/objects", _guarded(add_object), methods=["POST"]),
        Route("/api/objects/{object_id:int}", _guarded(change_object), methods=["PATCH", "DELETE"]),
        Route("/api/propagate", _guarded(start_propagation), methods=["POST"]),
        Route("/api/job/{action}", _guarded(job_action), methods=["POST"]),
        Route("/api/export", _guarded(export), methods=["POST"]),
        Route("/api/exports/{name}", _guarded(download)),
        Route("/api/events", events),
    ]
    async def guard(request: Request, call_next: Handler) -> Response:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0]
        if loopback_only and host not in LOOPBACK_HOSTS:
            return _error("the studio answers only on this machine (127.0.0.1 / localhost)", 403)
        if token is not None:
            given = request.query_params.get("token") or request.cookies.get("aotvideo_token")
            if given is None or not secrets.compare_digest(given, token):
                return _error("this studio needs its token: open the URL it printed", 403)
        response = await call_next(request)
        if token is not None and request.query_params.get("token"):
            response.set_cookie("aotvideo_token", token, httponly=True, samesite="strict")
        return response

    return Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])



def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name to bind) stays on this machine."""
    return host.strip("[]") in ("127.0.0.1", "localhost", "::1")


class _Server(uvicorn.Server):
    """uvicorn's server that, when told to stop (Ctrl-C, SIGTERM), first ends the pages' event
    streams, so that it stops at once and without cancelling them."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self.interrupted = False

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.interrupted = True
        self._on_exit()
        super().handle_exit(sig, frame)


class StudioServer:
    """The studio served over HTTP on ``host``:``port`` (0: any free port), in this thread
    (:meth:`run`) or a background one (:meth:`start`, for tests and scripts).

    Loopback hosts need no token; any other host gets a random token, required on every
    request (:attr:`url` carries it).
    """

    def __init__(self, session: StudioSession, host: str = "127.0.0.1", port: int = 0) -> None:
        import socket

        self.session = session
        self.token = None if is_loopback(host) else secrets.token_urlsafe(18)
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host.strip("[]"), port))
        except OSError as exc:
            self._socket.close()
            raise WorkspaceError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        self._socket.listen(128)  # connections wait from here on, even before run() serves them
        self.host, self.port = host, self._socket.getsockname()[1]
        app = make_app(session, token=self.token, loopback_only=is_loopback(host))
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=5)
        self._server = _Server(config, on_exit=session.events.close)
        self._thread: Any = None

    @property
    def url(self) -> str:
        """The page's address (with the token when there is one)."""
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        shown = f"[{shown.strip('[]')}]" if ":" in shown else shown
        query = f"/?token={self.token}" if self.token else "/"
        return f"http://{shown}:{self.port}{query}"

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C, SIGTERM).

        Raises:
            KeyboardInterrupt: the server stopped on a signal.  uvicorn passes the signal on to
                the handler it replaced, which does nothing where the process started with
                SIGINT ignored (a background job of a shell), so it is raised here too.
        """
        self._server.run(sockets=[self._socket])
        if self._server.interrupted:
            raise KeyboardInterrupt

    def start(self) -> None:
        """Serve from a background thread; returns once it answers."""
        import threading
        import time

        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="studio-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise WorkspaceError("the studio server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving (after :meth:`start`)."""
        self.session.events.close()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()
