"""``cullarrctl users`` and ``cullarrctl candidates`` against a real control socket, after a real
sync of the fakes (the library's story is in ``tests/candidates/scenario.py``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from cullarrd import ctl
from tests.candidates.scenario import scenario
from tests.candidates.test_guards import socket_daemon

pytestmark = pytest.mark.asyncio


async def test_users_and_candidates_from_the_command_line(store, tmp_path, short_tmp, capsys):
    path = f"{short_tmp}/d.sock"
    with scenario(store, tmp_path) as sc:
        await sc.sync()

        async def run(*argv: str) -> tuple[int, str, str]:
            capsys.readouterr()  # drop the sync's log lines
            code = await asyncio.to_thread(ctl.main, ["--socket", path, *argv])
            out, err = capsys.readouterr()
            return code, out, err

        with socket_daemon(sc.service, path):
            code, out, _ = await run("users")
            assert code == 0
            assert out.splitlines()[0].split() == [
                "ID", "TAUTULLI", "ID", "USERNAME", "FRIENDLY", "NAME", "HIDDEN",
            ]  # fmt: skip
            assert any(line.split()[1:3] == ["17629681", "will"] for line in out.splitlines())

            code, out, _ = await run("candidates", "--scope", "movie", "--users", "will,Zoe")
            assert code == 0
            lines = out.splitlines()
            assert lines[0].split()[:3] == ["ID", "TITLE", "GB"]
            assert "The Memory of the Mountain" in lines[1] and "2/2" in lines[1]
            assert "1 shown of 1 matching" in lines[-1] and "GB reclaimable in all" in lines[-1]

            code, out, _ = await run(
                "candidates", "--scope", "movie", "--match", "none", "--include-blocked",
                "--limit", "1", "--sort", "title",
            )  # fmt: skip
            assert code == 0 and "next page: --cursor " in out
            cursor = out.strip().splitlines()[-1].split("--cursor ")[1]
            code, out, _ = await run(
                "--json", "candidates", "--scope", "movie", "--match", "none",
                "--include-blocked", "--limit", "1", "--sort", "title", "--cursor", cursor,
            )  # fmt: skip
            answer = json.loads(out)
            assert code == 0 and set(answer) >= {"items", "page", "diagnostics", "filters"}
            assert len(answer["items"]) == 1

            code, _, err = await run("candidates", "--scope", "movie", "--users", "nobody")
            assert code == 1 and "users" in err and "nobody" in err
            code, _, err = await run("candidates")
            assert code == 1 and "scope" in err  # no scope and no saved view
