"""The Candidates page's filter form: from the URL to a query, and from the answer back to the form.

The filter form is a GET form, so an empty field means "not given". It also carries
``applied_view`` (the saved view the page showed): a newly chosen view is then applied as saved,
while otherwise the form's values are explicit — also when unticked (no users = every visible
user, include_blocked off) — and override the view's. The sort and next-page links carry the
same state, so they show the page they come from, sorted or continued.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from cullarrd.candidates.params import SCOPES, SORTS


def query_from_form(raw: dict[str, Any]) -> dict[str, Any]:
    """The ``candidates.query`` arguments the form (or a link) asks for."""
    submitted = "applied_view" in raw
    applied = str(raw.pop("applied_view", "") or "")
    args = {k: v for k, v in raw.items() if v != "" and v != []}
    if submitted:
        chosen = args.get("saved_view_id")
        if chosen is not None and str(chosen) != applied:
            args = {k: v for k, v in args.items() if k in ("saved_view_id", "limit")}
        else:
            args.setdefault("include_blocked", False)
            if "users" not in args and "plex_user_ids" not in args:
                args["plex_user_ids"] = []
    if "saved_view_id" not in args and "saved_view" not in args:
        args.setdefault("scope", "movie")
    return args


def _names(user: dict[str, Any]) -> set[str]:
    return {n.casefold() for n in (user["username"], user["friendly_name"]) if n}


def _user_value(user: dict[str, Any], users: list[dict[str, Any]]) -> str:
    """How ``users`` names ``user``: by name when that is unambiguous, else its Tautulli id."""
    for token in (user["username"], user["friendly_name"]):
        if not token or "," in token:  # "," splits lists
            continue
        named = [
            u["id"]
            for u in users
            if token == str(u["tautulli_user_id"]) or token.casefold() in _names(u)
        ]
        if named == [user["id"]]:
            return token
    return str(user["tautulli_user_id"])


def _user_choices(
    args: dict[str, Any], result: dict[str, Any] | None, users: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One checkbox per user, ticked as the answer applied it (else, refused, as asked)."""
    if result is not None:
        ticked_ids, tokens = set(result["filters"]["plex_user_ids"]), set()
    else:
        ids, given = args.get("plex_user_ids"), args.get("users")
        ticked_ids = {i for i in ids if isinstance(i, int)} if isinstance(ids, list) else set()
        tokens = {str(t).strip().casefold() for t in given} if isinstance(given, list) else set()
    choices = []
    for user in users:
        value = _user_value(user, users)
        aliases = _names(user) | {value.casefold(), str(user["tautulli_user_id"])}
        choices.append({
            "value": value,
            "label": user["friendly_name"] or user["username"] or value,
            "username": user["username"],
            "hidden": user["hidden"],
            "checked": user["id"] in ticked_ids or bool(tokens & aliases),
        })  # fmt: skip
    return choices


def form_state(
    args: dict[str, Any], result: dict[str, Any] | None, users: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the form shows: the filters the answer applied, or what was asked when refused."""
    if result is not None:
        filters = result["filters"]
        form = {
            "scope": result["scope"],
            "watched_match_mode": filters["watched_match_mode"],
            "include_blocked": filters["include_blocked"],
            "saved_view_id": filters["saved_view_id"],
            "sort": filters["sort"],
            "order": filters["order"],
        }
    else:
        sort = args.get("sort") if args.get("sort") in SORTS else "reclaimable_bytes"
        view = args.get("saved_view_id")
        form = {
            "scope": args.get("scope") if args.get("scope") in SCOPES else "movie",
            "watched_match_mode": args.get("watched_match_mode", "all"),
            "include_blocked": args.get("include_blocked") is True,
            "saved_view_id": view if isinstance(view, int) else None,
            "sort": sort,
            "order": args.get("order") if args.get("order") in ("asc", "desc") else SORTS[sort],
        }
    form["users"] = _user_choices(args, result, users)
    form["limit"] = args.get("limit")
    return form


def links(
    form: dict[str, Any], args: dict[str, Any], result: dict[str, Any] | None
) -> dict[str, Any]:
    """Sort links per column and the next/first page links, carrying the form's state."""
    pairs: list[tuple[str, Any]] = [("scope", form["scope"])]
    pairs += [("users", u["value"]) for u in form["users"] if u["checked"]]
    pairs.append(("watched_match_mode", form["watched_match_mode"]))
    if form["include_blocked"]:
        pairs.append(("include_blocked", "true"))
    if form["saved_view_id"] is not None:
        pairs.append(("saved_view_id", form["saved_view_id"]))
    pairs.append(("applied_view", form["saved_view_id"] or ""))
    if form["limit"] is not None:
        pairs.append(("limit", form["limit"]))

    def link(**extra: Any) -> str:
        return "?" + urlencode([*pairs, *extra.items()])

    def flipped(key: str) -> str:
        if form["sort"] != key:
            return SORTS[key]
        return "asc" if form["order"] == "desc" else "desc"

    next_cursor = result["page"]["next_cursor"] if result else None
    here = {"sort": form["sort"], "order": form["order"]}
    return {
        "sort_links": {key: link(sort=key, order=flipped(key)) for key in SORTS},
        "next_page": link(**here, cursor=next_cursor) if next_cursor else None,
        "first_page": link(**here) if "cursor" in args else None,
    }
