"""Candidates: which movies, episodes, seasons and shows are safe to delete, and why not (SPEC §6).

``params`` validates a query, ``sql`` holds the set-based statements, ``query`` runs them and
shapes the rows, ``blockers`` names every blocker and risk with its explanation, ``guards`` keeps
the keep markers, path exclusions and saved views.
"""
