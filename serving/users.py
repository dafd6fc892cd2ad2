"""User routes: ``POST /identify`` (stitch an anonymous id to a user) and the admin ``DELETE /users/{user_id}``
(erasure), plus the id resolution every recommendation goes through.

A request's user id is resolved to the person it belongs to through the lake's identity map (links found at
ingestion and made by ``POST /identify`` in any worker; a service without a lake keeps its links in the online
store), so the anonymous and the signed-in id get the same answer. An erased id (a marker in the registry's
``_erasures/``) is handed to models trained before its erasure as an id they do not know, so they answer with
non-personal recommendations. Both are read through `IdentityView`, which notices changed files on the next
request.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, status
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from feature_store.online import OnlineStore
from feature_store.online.erasure import IDENTITY, erase_online, forget_everywhere, link_online
from recsys.errors import InputError
from recsys.forget import (
    ERASURES_DIR,
    ErasureReport,
    check_user_id,
    registry_erasures,
    subject_hash,
    trained_before,
)
from recsys.identity import IDENTITIES_DIR, MAX_ID_LENGTH, add_links, check_link, ids_of, lake_resolution
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.holder import LoadedModel
from serving.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["users"])
ERASED_ID = "\x00erased"
"""What a model trained before an erasure is given instead of the erased id: an id no model knows."""
_SETTLE_NS = 2_000_000_000
"""A folder changed this recently is re-read on every request: two changes within one file-time tick are not
told apart by its modification time alone."""


class IdentityView:
    """This worker's copy of the user state every worker shares through files: the lake's identity map
    (``LAKE/identities/``) and the registry's erasure markers (``REGISTRY/_erasures/``). Each request stats the
    two folders (microseconds) and re-reads one that changed, so a link or an erasure made by any process counts
    in every worker from the next request on, without a round trip to the online store."""

    def __init__(self, lake: Path | None, registry: Path | None = None) -> None:
        self.lake = lake
        self.registry = registry
        self.mapping: dict[str, str] = {}
        self.erased: dict[str, str] = {}
        # name -> (folder as a string, made once: this runs on every request; its last modification time)
        self._watched: dict[str, tuple[str, int | None]] = {}
        if lake is not None:
            self._watched["links"] = (str(lake / IDENTITIES_DIR), -1)
        if registry is not None:
            self._watched["erasures"] = (str(registry / ERASURES_DIR), -1)

    def refresh(self) -> IdentityView:
        if self.lake is not None and self._changed("links"):
            self.mapping = lake_resolution(self.lake)
        if self.registry is not None and self._changed("erasures"):
            self.erased = registry_erasures(self.registry)
        return self

    def _changed(self, name: str) -> bool:
        folder, seen = self._watched[name]
        try:
            stamp: int | None = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp == seen and (stamp is None or time.time_ns() - stamp >= _SETTLE_NS):
            return False
        self._watched[name] = (folder, stamp)
        return True


def start_identities(settings: Settings) -> IdentityView:
    """The worker's identity view, read once at start-up."""
    return IdentityView(settings.identity_lake, settings.registry).refresh()


def _people(svc: ServiceState, users: list[str]) -> list[str]:
    """The person each user id belongs to: the lake's links, or (a service without a lake) the online store's."""
    view: IdentityView | None = svc.identities.refresh() if svc.identities is not None else None
    if view is not None and view.lake is not None:
        return [view.mapping.get(u, u) for u in users]
    try:
        feats = svc.store.get_features("user", users, [IDENTITY])
    except Exception as err:  # any store failure: no stitching rather than an error
        log.debug("online store unavailable for id resolution: %s", err)
        feats = {}
    return [v if isinstance(v := feats.get(u, {}).get(IDENTITY), str) and v else u for u in users]


def serving_ids(svc: ServiceState, lm: LoadedModel, users: list[str]) -> tuple[list[str], list[str]]:
    """(ids to give the model, ids of the live histories) for requested `users`."""
    people = _people(svc, users)
    view: IdentityView | None = svc.identities
    if view is None or not view.erased:
        return people, people
    created = lm.manifest.get("created")
    model_ids = []
    for u, p in zip(users, people, strict=True):
        erased = [view.erased.get(subject_hash(x)) for x in {u, p}]
        masked = any(at is not None and trained_before(created, at) for at in erased)
        model_ids.append(ERASED_ID if masked else p)
    return model_ids, people


def resolve_records(svc: ServiceState, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live events filed under the person their user id belongs to."""
    users = sorted({str(r["user_id"]) for r in records})
    person = dict(zip(users, _people(svc, users), strict=True))
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
    lake = svc.settings.identity_lake
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
    lake = settings.identity_lake
    ids = ids_of(lake, user_id.strip()) if lake is not None else {user_id.strip()}
    report = forget_everywhere(user_id, lake, settings.registry, None, settings.landing_folder)
    erase_online(store, sorted(ids))
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
