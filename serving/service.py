"""The HTTP service (FastAPI): ``POST /v1/recommend``, ``POST /v1/feedback``, ``GET
/v1/model``, ``GET /healthz``, and (off by default) ``POST /v1/items``; OpenAPI schema at
``/openapi.json``, its interactive page at ``/docs`` (Swagger UI served from the installed
``swagger-ui-bundle`` package, so it works without internet).

Bad input is answered, never crashes the server: malformed JSON, wrong types and an
empty ``user_id`` -> 422 with the field; K out of range, histories over
``max_history``, history out of time order -> 422 with a message; bodies over
``max_body_bytes`` -> 413; feedback for a request this service did not serve (or has
forgotten) -> 404; feedback naming an item that was neither in the slate nor (for an
organic consumption) in the catalog, or more than one consumption for a request in one
call -> 422. Unknown item ids in a history are ignored (as no consumption) and
listed in the response. Every served slate and feedback event is appended to the
served log before the response is sent, with the catalog version it was drawn from.

``POST /v1/items`` adds items by their text while serving (the bundle's text encoder,
:meth:`Runtime.add_items`): it exists only when the app is given a token
(``ltvrec serve --allow-items`` reads it from ``LTVREC_ITEMS_TOKEN``), answers 401
without ``Authorization: Bearer <token>``, 422 for bad rows (empty text, an id given
twice or already in the catalog: nothing is added), and otherwise writes the next
catalog version into the bundle and serves it from the next request on.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections import OrderedDict
from threading import Lock
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Header, HTTPException
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ltvrec import __version__
from ltvrec.serving.bundle import ItemsError
from ltvrec.serving.log import ServedLog
from ltvrec.serving.runtime import Runtime

ItemId = int | str
UserId = int | Annotated[str, Field(min_length=1, pattern=r"\S")]
DOCS_ASSETS = "/docs-assets"


class HistoryEntry(BaseModel):
    """One past request of the user."""

    timestamp: float = Field(description="Seconds since the epoch (UTC).")
    item_id: ItemId | None = Field(None, description="The consumed item; null if none.")
    reward: float = 0.0
    session_id: ItemId | None = None


class RecommendRequest(BaseModel):
    user_id: UserId = Field(description="The user: an integer or a non-blank string.")
    timestamp: float | None = Field(None, description="Request time (s); default: now.")
    session_id: ItemId | None = Field(
        None, description="This request's session; with history session ids, sessions are "
        "taken as given, else a new one starts after the bundle's inactivity gap."
    )  # fmt: skip
    history: list[HistoryEntry] = Field(default_factory=list)
    k: int | None = Field(None, description="Slate size; default: the policy's.")
    mode: Literal["sample", "greedy"] = "sample"
    exclude: list[ItemId] | None = None
    candidates: list[ItemId] | None = None
    seed: int | None = Field(None, description="Seed for a reproducible sampled slate.")


class RecommendResponse(BaseModel):
    request_id: str
    items: list[ItemId]
    scores: list[float]
    pscore: float
    pscore_cascade: list[float]
    pscore_item_position: list[float] | None
    policy_version: str
    catalog_version: int
    unknown_items: list[ItemId]


class FeedbackEvent(BaseModel):
    item_id: ItemId | None = None
    position: int | None = None
    click: int = Field(1, ge=0, le=1)
    reward: float = 0.0
    organic: bool = Field(
        False,
        description="The user consumed item_id outside the slate after this request (from "
        "search, another page), instead of clicking in it: no position, reward the "
        "user's. Recorded so that tomorrow's replay moves the user's state as it moved.",
    )


class FeedbackRequest(BaseModel):
    request_id: str
    timestamp: float | None = None
    events: list[FeedbackEvent] = Field(min_length=1)


class NewItem(BaseModel):
    item_id: ItemId
    text: str = Field(description="The item's text (title, description): all it is known by.")


class ItemsRequest(BaseModel):
    items: list[NewItem] = Field(min_length=1)


class ItemsResponse(BaseModel):
    catalog_version: int
    n_items: int
    added: list[ItemId]


class BodyLimit:
    """Answer 413 to a body over ``limit`` bytes (and 411 to a POST that does not say its
    length) before anything reads it. Plain ASGI: no per-request task overhead."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            size = dict(scope["headers"]).get(b"content-length")
            problem = None
            if size is None:
                problem = (411, "send a Content-Length header")
            elif int(size) > self.limit:
                problem = (
                    413,
                    f"request body of {int(size)} bytes is over the limit ({self.limit})",
                )
            if problem is not None:
                await JSONResponse({"detail": problem[1]}, status_code=problem[0])(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def _organic_event(e: FeedbackEvent, index_of: dict[str, int]) -> tuple[Any, float]:
    """``(item_id, reward)`` of an organic consumption, or 422 with what is wrong."""
    if e.position is not None or e.item_id is None:
        raise HTTPException(
            422, "an organic consumption names its item_id and has no position (it was not "
            "in the slate)"
        )  # fmt: skip
    if str(e.item_id) not in index_of:
        raise HTTPException(422, f"organic item {e.item_id!r} is not in the catalog")
    if e.click != 1:
        raise HTTPException(422, "an organic event is a consumption: its click is 1")
    return e.item_id, e.reward


def _self_hosted_docs(app: FastAPI) -> None:
    """``/docs`` with Swagger UI's script, styles and icon served by this app (FastAPI's
    default page loads them from a CDN, a blank page offline)."""
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def create_app(
    runtime: Runtime,
    log: ServedLog | None = None,
    max_history: int = 1000,
    max_body_bytes: int = 1 << 20,
    item_position: bool = False,
    remember: int = 100_000,
    items_token: str | None = None,
) -> FastAPI:
    """The service over ``runtime``; served slates and feedback go to ``log``.
    ``items_token``: enables ``POST /v1/items`` for clients that send it (None: off)."""
    app = FastAPI(title="ltvrec", version=__version__, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    _self_hosted_docs(app)
    version = str(runtime.manifest["policy"]["weights_sha256"])[:12]
    served: OrderedDict[str, tuple[Any, list[Any]]] = OrderedDict()
    lock = Lock()
    seeds = np.random.SeedSequence()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/model")
    def model() -> dict[str, Any]:
        m = runtime.manifest
        keys = ("ltvrec_version", "item_dim", "state_size", "slate_size", "policy")
        cat = runtime.catalog
        return {
            "policy_version": version,
            "catalog_version": cat.version,
            "n_items": cat.n_items,
            "accepts_items": items_token is not None and runtime.can_add_items,
            **{k: m[k] for k in keys},
        }

    @app.post("/v1/recommend", response_model=RecommendResponse)
    async def recommend(req: RecommendRequest) -> RecommendResponse:
        if len(req.history) > max_history:
            raise HTTPException(
                422, f"history has {len(req.history)} entries; the limit is {max_history}"
            )
        now = time.time() if req.timestamp is None else req.timestamp
        h = req.history
        cat = runtime.catalog  # one catalog version for the whole request
        with_sessions = req.session_id is not None and all(e.session_id is not None for e in h)
        try:
            state, unknown = runtime.state(
                [e.item_id for e in h],
                np.array([e.timestamp for e in h]),
                np.array([e.reward for e in h]),
                now,
                sessions=[e.session_id for e in h] if with_sessions else None,
                session=req.session_id if with_sessions else None,
                catalog=cat,
            )
            rng = np.random.default_rng(req.seed if req.seed is not None else seeds.spawn(1)[0])
            consumed = (
                runtime.consumed([e.item_id for e in h], cat) if runtime.mask_consumed else None
            )
            slate = runtime.recommend(
                state, req.k, req.mode, rng, req.exclude, req.candidates, item_position, consumed,
                cat,
            )  # fmt: skip
        except ValueError as e:
            raise HTTPException(422, str(e)) from e
        request_id = uuid.uuid4().hex
        if log is not None:
            log.served(
                request_id, req.user_id, now, req.session_id, slate.items, slate.pscore,
                slate.pscore_cascade, slate.pscore_item_position, version, cat.version,
            )  # fmt: skip
        with lock:
            served[request_id] = (req.user_id, slate.items)
            while len(served) > remember:
                served.popitem(last=False)
        ipp = slate.pscore_item_position
        return RecommendResponse(
            request_id=request_id,
            items=slate.items,
            scores=slate.scores.tolist(),
            pscore=slate.pscore,
            pscore_cascade=slate.pscore_cascade.tolist(),
            pscore_item_position=None if ipp is None else ipp.tolist(),
            policy_version=version,
            catalog_version=cat.version,
            unknown_items=unknown,
        )

    @app.post("/v1/feedback")
    async def feedback(req: FeedbackRequest) -> dict[str, Any]:
        with lock:
            known = served.get(req.request_id)
        if known is None:
            raise HTTPException(404, f"unknown request_id {req.request_id!r}")
        user, items = known
        keys = [str(i) for i in items]
        events, organic = [], []
        for e in req.events:
            if e.organic:
                organic.append(_organic_event(e, runtime.index_of))
                continue
            if e.position is not None:
                if not 0 <= e.position < len(items):
                    raise HTTPException(422, f"position {e.position} is not in the slate")
                pos = e.position
            elif e.item_id is not None and str(e.item_id) in keys:
                pos = keys.index(str(e.item_id))
            else:
                raise HTTPException(422, f"item {e.item_id!r} was not in the served slate")
            events.append((pos, items[pos], e.click, e.reward))
        if len(organic) > 1 or (organic and any(click for _, _, click, _ in events)):
            raise HTTPException(
                422,
                "a request has at most one consumption: one click in the slate or one organic item",
            )
        if log is not None:
            now = time.time() if req.timestamp is None else req.timestamp
            log.feedback(req.request_id, user, now, events)
            for item, reward in organic:
                log.organic(req.request_id, user, now, item, reward)
        return {"request_id": req.request_id, "recorded": len(events) + len(organic)}

    if items_token is not None:
        if not items_token.strip():
            raise ValueError("the items token is empty; set a secret one")

        @app.post("/v1/items", response_model=ItemsResponse)
        def add_items(
            req: ItemsRequest, authorization: Annotated[str | None, Header()] = None
        ) -> ItemsResponse:
            given = (authorization or "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), items_token.encode()):
                raise HTTPException(401, "send Authorization: Bearer <the items token>")
            try:
                cat = runtime.add_items([i.model_dump() for i in req.items])
            except ItemsError as e:
                raise HTTPException(422, str(e)) from e
            added = cat.item_ids[len(cat.item_ids) - len(req.items) :]
            return ItemsResponse(catalog_version=cat.version, n_items=cat.n_items, added=added)

    return app
