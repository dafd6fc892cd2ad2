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
    forget_everywhere,
    link_online,
    put_tombstones,
    tombstone_key,
)
from recsys.errors import InputError
from recsys.forget import registry_erasures, subject_hash, trained_before
from recsys.identity import MAX_ID_LENGTH, add_links, check_link, lake_resolution, link_files
from serving.deps import AdminDep, ServiceDep, ServiceState
from serving.holder import LoadedModel
from serving.settings import Settings

log = logging.getLogger(__name__)

router = APIRouter(tags=["users"])
ERASED_ID = "\x00erased"
"""What a model trained before an erasure is given instead of the erased id: an id no model knows."""
_RECHECK_S = 5.0


class IdentityView:
    """The lake's identity map as this worker last read it; re-read when its files change (checked every few
    seconds, never on every request)."""

    def __init__(self, lake: Path | None) -> None:
        self.lake = lake
        self.mapping: dict[str, str] = {}
        self._files: list[Path] | None = None
        self._checked = 0.0

    def get(self) -> dict[str, str]:
        now = time.monotonic()
        if self.lake is not None and now - self._checked >= _RECHECK_S:
            self._checked = now
            files = link_files(self.lake)
            if files != self._files:
                self._files = files
                self.mapping = lake_resolution(self.lake) if files else {}
        return self.mapping


def start_identities(settings: Settings, store: OnlineStore) -> IdentityView:
    """At start-up: the lake's identity view, and the registry's erasures as tombstones in the online store."""
    try:
        put_tombstones(store, registry_erasures(settings.registry))
    except Exception as err:  # a store hiccup must not stop the service; tombstones from the CLI are already there
        log.warning("could not copy the registry's erasure markers into the online store: %s", err)
    view = IdentityView(settings.lake_folder)
    view.get()
    return view


def serving_ids(svc: ServiceState, lm: LoadedModel, users: list[str]) -> tuple[list[str], list[str]]:
    """(ids to give the model, ids of the live histories) for requested `users`."""
    keys = users + [tombstone_key(subject_hash(u)) for u in users]
    feats = svc.store.get_features("user", keys, [IDENTITY, ERASED_AT])
    lake_map = svc.identities.get() if svc.identities is not None else {}
    people = []
    for u in users:
        linked = feats.get(u, {}).get(IDENTITY)
        people.append(linked if isinstance(linked, str) and linked else lake_map.get(u, u))
    moved = [p for p, u in zip(people, users, strict=True) if p != u]
    if moved:
        feats |= svc.store.get_features("user", [tombstone_key(subject_hash(p)) for p in moved], [ERASED_AT])
    created = lm.manifest.get("created")
    model_ids = []
    for u, p in zip(users, people, strict=True):
        erased = [feats.get(tombstone_key(subject_hash(x)), {}).get(ERASED_AT) for x in {u, p}]
        masked = any(isinstance(at, str) and trained_before(created, at) for at in erased)
        model_ids.append(ERASED_ID if masked else p)
    return model_ids, people


def resolve_records(svc: ServiceState, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live events filed under the person their user id belongs to."""
    users = sorted({str(r["user_id"]) for r in records})
    feats = svc.store.get_features("user", users, [IDENTITY])
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


class ErasureResponse(BaseModel):
    subjects: int = Field(description="Ids erased: the user and the ids stitched to it.")
    rows_removed: int
    identity_links_removed: int
    conserved: bool
    manifest: str | None


_BAD_ID = {status.HTTP_400_BAD_REQUEST: {"description": "The ids are empty, too long or the same id."}}


@router.post("/identify", response_model=IdentifyResponse, responses=_BAD_ID)
async def identify(body: IdentifyRequest, svc: ServiceDep) -> IdentifyResponse:
    """Stitch `alias` to `user_id`: both ids get the user's recommendations from now on, in every worker, and
    the next training counts the alias's history for the user. Idempotent."""
    try:
        alias, user = check_link(body.alias, body.user_id)
    except InputError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    lake = svc.settings.lake_folder
    await run_in_threadpool(link_online, svc.store, alias, user)
    if lake is not None:
        await run_in_threadpool(add_links, lake, [(alias, user)], "service")
    return IdentifyResponse(alias=alias, user_id=user, lake=str(lake) if lake is not None else None)


@router.delete("/users/{user_id}", response_model=ErasureResponse, tags=["admin"], responses={
    **_BAD_ID, status.HTTP_401_UNAUTHORIZED: {"description": "Missing or wrong admin bearer token."},
    status.HTTP_403_FORBIDDEN: {"description": "Admin routes are disabled (no admin token configured)."}})
async def forget_user(user_id: Annotated[str, PathParam(min_length=1, max_length=MAX_ID_LENGTH)],
                      svc: ServiceDep, _: AdminDep) -> ErasureResponse:
    """Erase a user everywhere (lake, landing, identity links, online store, registry marker); from now on every
    worker answers them with non-personal recommendations. Running it again is harmless."""
    if not user_id.strip():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the user id is blank")
    settings = svc.settings
    report = await run_in_threadpool(forget_everywhere, user_id, settings.lake_folder, settings.registry, svc.store,
                                     settings.landing_folder)
    return ErasureResponse(subjects=len(report.subjects), rows_removed=report.rows_removed,
                           identity_links_removed=report.identity_links_removed, conserved=report.conserved,
                           manifest=report.manifest or None)
