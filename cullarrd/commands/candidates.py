"""Commands that answer "what is safe to delete?": the Plex users and the candidate query."""

from __future__ import annotations

import time
from typing import Any

from cullarrd.candidates.guards import get_view
from cullarrd.candidates.params import parse_query
from cullarrd.candidates.query import list_users, resolve_users, run_query
from cullarrd.errors import CullarrError
from cullarrd.metrics import CANDIDATE_QUERY_SECONDS
from cullarrd.service import Args, Caller, Service, command


@command("users.list")
async def users_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Plex users as Tautulli knows them (hidden ones too, marked)."""
    Args(args, set()).done()
    users = await svc.rt.store.read(list_users)
    return {"items": [u.to_dict() for u in users]}


@command("candidates.query")
async def candidates_query(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """One page of candidates with their blockers, reasons and diagnostics (writes nothing)."""
    started = time.perf_counter()
    settings = await svc.rt.store.read(svc.rt.settings.values)
    answer = await svc.rt.store.read(lambda: query_from_args(args, settings))
    # Labelled with the scope the query validated, never with what the caller sent; a refused
    # query raised above and is not observed.
    CANDIDATE_QUERY_SECONDS.labels(scope=answer["scope"]).observe(time.perf_counter() - started)
    return answer


def query_from_args(args: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """Resolve the saved view and user names in ``args``, validate, run (inside a read)."""
    errors: dict[str, list[str]] = {}
    view = None
    reference = args.get("saved_view_id", args.get("saved_view"))
    if reference is not None:
        key = "saved_view_id" if "saved_view_id" in args else "saved_view"
        too_big = isinstance(reference, int) and not 0 < reference < 2**63
        if isinstance(reference, bool) or not isinstance(reference, int | str) or too_big:
            errors[key] = ["must be a saved view id or name"]
        else:
            try:
                view = get_view(reference)
            except CullarrError as exc:
                errors[key] = [exc.message]
    resolved = None
    if args.get("users") is not None:
        tokens = args["users"]
        if not isinstance(tokens, list) or not tokens:
            errors["users"] = ["must be a non-empty list of usernames, friendly names or ids"]
        else:
            resolved, problems = resolve_users(tokens)
            if problems:
                errors["users"] = problems
    query = parse_query(args, view, resolved_users=resolved, errors=errors)
    return run_query(query, settings)
