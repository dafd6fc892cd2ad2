"""User routes: ``POST /identify`` (stitch an anonymous id to a user) and the admin ``DELETE /users/{user_id}``
(erasure), plus the id resolution every recommendation goes through.

A request's user id is resolved to the person it belongs to: first through the online store (links made by
``POST /identify`` in any worker), then through the lake's identity map (links found at ingestion), so the
anonymous and the signed-in id get the same answer. An erased id (a tombstone in the online store) is handed to
models trained before its erasure as an id they do not know, so they answer with non-personal recommendations.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from feature_store.online import OnlineStore
from feature_store.online.erasure import (
    ERASED_AT,
    IDENTITY,
    erase_online,
    forget_everywhere,
    link_online,
    put_tombstones,
    tombstone_key,
)
from recsys.errors import InputError
from recsys.forget import (
    ERASURES_DIR,
    ErasureReport,
    check_user_id,
    registry_erasures,
    subject_hash,
    trained_before,
)
from recsys.identity import MAX_ID_LENGTH, add_links, check_link, ids_of, lake_resolution, link_files
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.holder import LoadedModel
from serving.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["users"])
ERASED_ID = "\x00erased"
"""What a model trained before an erasure is given instead of the erased id: an id no model knows."""
_RECHECK_S = 5.0


class IdentityView:
    """This worker's copy of the durable user state: the lake's identity map and the registry's erasure markers,
    re-read when their files change (checked every few seconds, never on every request). The online store is
    the live layer on top; this copy answers when the store is down or was flushed."""

    def __init__(self, lake: Path | None, registry: Path | None = None) -> None:
        self.lake = lake
        self.registry = registry
        self.mapping: dict[str, str] = {}
        self.erased: dict[str, str] = {}
        self._files: list[Path] | None = None
        self._markers: int | None = None
        self._checked = -_RECHECK_S

    def get(self) -> dict[str, str]:
        """alias -> user id from the lake."""
        self._refresh()
        return self.mapping

    def erased_at(self, subject: str) -> str | None:
        """When the registry marked `subject` erased (None: never)."""
        self._refresh()
        return self.erased.get(subject)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < _RECHECK_S:
            return
        self._checked = now
        if self.lake is not None:
            files = link_files(self.lake)
            if files != self._files:
                self._files = files
                self.mapping = lake_resolution(self.lake) if files else {}
        if self.registry is not None:
            folder = self.registry / ERASURES_DIR
            stamp = folder.stat().st_mtime_ns if folder.is_dir() else None
            if stamp != self._markers:
                self._markers = stamp
                self.erased = registry_erasures(self.registry)


def start_identities(settings: Settings, store: OnlineStore) -> IdentityView:
    """At start-up: the worker's identity view, and the registry's erasures as tombstones in the online store."""
    view = IdentityView(settings.lake_folder, settings.registry)
    view.get()
    try:
        put_tombstones(store, view.erased)
    except Exception as err:  # the store may be down at start-up: the view still masks erased users
        log.warning("could not copy the registry's erasure markers into the online store: %s", err)
    return view


def _store_users(svc: ServiceState, keys: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    """User features from the online store; {} while it is down (the worker's `IdentityView` answers then)."""
    try:
        return svc.store.get_features("user", keys, names)
    except Exception as err:  # any store failure: resolution degrades to the durable copy, never to an error
        log.debug("online store unavailable for id resolution: %s", err)
        return {}


def serving_ids(svc: ServiceState, lm: LoadedModel, users: list[str]) -> tuple[list[str], list[str]]:
    """(ids to give the model, ids of the live histories) for requested `users`."""
    view: IdentityView | None = svc.identities
    subjects = {u: subject_hash(u) for u in users}
    feats = _store_users(svc, users + [tombstone_key(h) for h in subjects.values()], [IDENTITY, ERASED_AT])
    lake_map = view.get() if view is not None else {}
    people = []
    for u in users:
        linked = feats.get(u, {}).get(IDENTITY)
        people.append(linked if isinstance(linked, str) and linked else lake_map.get(u, u))
    moved = [p for p, u in zip(people, users, strict=True) if p != u]
    if moved:
        subjects |= {p: subject_hash(p) for p in moved}
        feats |= _store_users(svc, [tombstone_key(subjects[p]) for p in moved], [ERASED_AT])
    created = lm.manifest.get("created")
    model_ids = []
    for u, p in zip(users, people, strict=True):
        erased = []
        for x in {u, p}:
            erased += [feats.get(tombstone_key(subjects[x]), {}).get(ERASED_AT),
                       view.erased_at(subjects[x]) if view is not None else None]
        masked = any(isinstance(at, str) and trained_before(created, at) for at in erased)
        model_ids.append(ERASED_ID if masked else p)
    return model_ids, people


def resolve_records(svc: ServiceState, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live events filed under the person their user id belongs to."""
    users = sorted({str(r["user_id"]) for r in records})
    feats = _store_users(svc, users, [IDENTITY])
    lake_map = svc.identities.get() if svc.identities is not None else {}
    person = {u: feats.get(u, {}).get(IDENTITY) or lake_map.get(u, u) for u in users}
    return [r if person[str(r["user_id"])] == r["user_id"] else dict(r, user_id=person[str(r["user_id"])])
            for r in records]


class IdentifyRequest(BaseModel):
    alias: str = Field(min_length=1, max_length=MAX_ID_LENGTH, description="The anonymous or device id.")
    user_id: str = Field(min_length=1, max_length=MAX_ID_LENGTH, description="The id the person signed in with.")


class IdentifyResponse(BaseModel):
    alias: str
    user_id: str
    lake: str | None = Field(description="The lake whose identity map holds the link (None: online store only).")
    live: bool = Field(description="False when the online store was down: the link is in the lake and every "
                                   "worker picks it up within seconds.")


class ErasureResponse(BaseModel):
    subjects: int = Field(description="Ids erased: the user and the ids stitched to it.")
    rows_removed: int
    identity_links_removed: int
    conserved: bool
    manifest: str | None


_BAD_ID = {status.HTTP_400_BAD_REQUEST: {"description": "The ids are empty, too long, not valid text, or the same."}}
_STORE_DOWN = {status.HTTP_503_SERVICE_UNAVAILABLE: {
    "description": "The online store is down (and, for /identify, no lake is configured): retry; it is harmless."}}


@router.post("/identify", response_model=IdentifyResponse, responses={**_BAD_ID, **_STORE_DOWN})
async def identify(body: IdentifyRequest, svc: ServiceDep) -> IdentifyResponse:
    """Stitch `alias` to `user_id`: both ids get the user's recommendations from now on, in every worker, and
    the next training counts the alias's history for the user. Idempotent."""
    try:
        alias, user = check_link(body.alias, body.user_id)
    except InputError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    lake = svc.settings.lake_folder
    if lake is not None:  # durable first
        await run_in_threadpool(add_links, lake, [(alias, user)], "service")
    try:
        await run_in_threadpool(link_online, svc.store, alias, user)
        live = True
    except Exception as err:  # any store failure: the lake holds the link; without a lake, say so
        if lake is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"online store unavailable: {err}") from None
        log.warning("identity link kept in the lake only, the online store is down: %s", err)
        live = False
    return IdentifyResponse(alias=alias, user_id=user, lake=str(lake) if lake is not None else None, live=live)


def erase(settings: Settings, store: OnlineStore, user_id: str) -> ErasureReport:
    """Erase from the lake, landing and registry first (durable), then the online store (may raise)."""
    lake = settings.lake_folder
    ids = ids_of(lake, user_id.strip()) if lake is not None else {user_id.strip()}
    report = forget_everywhere(user_id, lake, settings.registry, None, settings.landing_folder)
    erase_online(store, sorted(ids), report.subjects, report.erased_at)
    return report


@router.delete("/users/{user_id}", response_model=ErasureResponse, tags=["admin"], responses={
    **_BAD_ID, **_STORE_DOWN, status.HTTP_401_UNAUTHORIZED: {"description": "Missing or wrong admin bearer token."},
    status.HTTP_403_FORBIDDEN: {"description": "Admin routes are disabled (no admin token configured)."}})
async def forget_user(user_id: Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH)],
                      svc: ServiceDep, _: AdminDep) -> ErasureResponse:
    """Erase a user everywhere (lake, landing, identity links, online store, registry marker); from now on every
    worker answers them with non-personal recommendations. Running it again is harmless."""
    try:
        check_user_id(user_id)
        report = await run_in_threadpool(erase, svc.settings, svc.store, user_id)
    except InputError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    except Exception as err:  # the lake and the registry are done; the store is not: ask for a re-run
        log.error("erasure could not reach the online store: %s", err)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "erased from the lake and the registry, but the "
                            "online store is unavailable: run the erasure again once it is back") from None
    return ErasureResponse(subjects=len(report.subjects), rows_removed=report.rows_removed,
                           identity_links_removed=report.identity_links_removed, conserved=report.conserved,
                           manifest=report.manifest or None)
