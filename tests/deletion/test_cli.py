"""``cullarrctl plan``, ``delete``, ``runs --deletion`` and ``run --deletion`` against a real
control socket, after a real sync of the fakes (``tests/deletion/helpers.py``)."""

from __future__ import annotations

import asyncio
import io
import json
import sys

import pytest

from cullarrd import ctl
from cullarrd.store.models import DeleteModeUnlock
from tests.candidates.test_guards import socket_daemon
from tests.deletion.helpers import PASSWORD, deletion_scenario, planned

pytestmark = pytest.mark.asyncio


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_plan_delete_and_follow_from_the_command_line(
    store, tmp_path, short_tmp, capsys, monkeypatch
):
    path, plan_file = f"{short_tmp}/d.sock", tmp_path / "plan.json"
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        movie = await sc.movie(4)

        async def run(*argv: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
            capsys.readouterr()  # drop the sync's and the engine's log lines
            monkeypatch.setattr(sys, "stdin", stdin or io.StringIO(""))
            code = await asyncio.to_thread(ctl.main, ["--socket", path, *argv])
            out, err = capsys.readouterr()
            return code, out, err

        with socket_daemon(sc.service, path):
            code, out, _ = await run(
                "plan", "--scope", "movie", "--ids", movie, "--out", str(plan_file)
            )
            plan = json.loads(plan_file.read_text())
            assert code == 0 and plan == await sc.plan("movie", [movie])
            (file,) = plan["files"]
            assert file["path"] in out and "radarr" in out
            assert f"{file['size_bytes'] / 1e9:.2f}" in out
            assert "unmonitors (1):" in out and "tags (1):" in out and "cullarr:culled" in out
            assert "total: 1 files" in out and f"plan written to {plan_file}" in out
            code, out, _ = await run("--json", "plan", "--scope", "movie", "--ids", movie)
            assert code == 0 and json.loads(out) == plan

            # Refused or not confirmed: nothing is deleted and no run is created.
            code, _, err = await run(
                "delete", "--plan", str(plan_file), "--yes", stdin=io.StringIO("wrong\n")
            )
            assert code == 1 and "error forbidden" in err
            code, _, err = await run("delete", "--plan", str(tmp_path / "none.json"), "--yes")
            assert code == 2 and "cannot read the plan" in err
            (tmp_path / "bad.json").write_text("{not json")
            code, _, err = await run("delete", "--plan", str(tmp_path / "bad.json"), "--yes")
            assert code == 2 and "is not JSON" in err
            code, _, err = await run(
                "delete", "--plan", str(plan_file), stdin=io.StringIO(f"{PASSWORD}\n")
            )
            assert code == 2 and "give --yes" in err
            monkeypatch.setattr(ctl.getpass, "getpass", lambda prompt="": PASSWORD)
            code, _, err = await run("delete", "--plan", str(plan_file), stdin=_Tty("n\n"))
            assert code == 1 and "Delete 1 files (" in err and "not_confirmed" in err
            assert sc.deleted() == set() and await sc.runs() == []
            # Declining came before unlocking: no token was issued for nothing.
            assert await store.read(lambda: DeleteModeUnlock.select().count()) == 0

            code, out, err = await run(
                "delete", "--plan", str(plan_file), "--yes", "--wait",
                stdin=io.StringIO(f"{PASSWORD}\n"),
            )  # fmt: skip
            assert code == 0, err
            assert "deletion run 1: success (1 confirmed)" in out
            assert sc.deleted() == planned(plan)
            assert PASSWORD not in out + err

            code, out, _ = await run("runs", "--deletion")
            assert code == 0 and out.splitlines()[0].split()[:3] == ["ID", "STATUS", "SCOPE"]
            assert out.splitlines()[1].split()[:3] == ["1", "success", "movie"]
            code, out, _ = await run("run", "--deletion", "1")
            assert code == 0 and "1 confirmed" in out
            (row,) = [line for line in out.splitlines() if file["path"] in line]
            assert row.split()[:3] == ["1", movie, "radarr"] and "confirmed  confirm" in row
            code, _, err = await run("delete", "cancel", "1")
            assert code == 1 and "error conflict" in err and "already success" in err
            code, _, err = await run("run", "--deletion", "9")
            assert code == 1 and "error not_found" in err


async def test_plan_shows_blocked_targets_and_partner_episodes(store, tmp_path, short_tmp, capsys):
    """Oakland Wolf's episodes 2 and 3 share a file; Will watched episode 2 only."""
    path = f"{short_tmp}/d.sock"
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        pilot, partner = await sc.episode(2), await sc.episode(3)
        argv = ["--socket", path, "plan", "--scope", "tv_episode", "--ids", f"{pilot},{partner}",
                "--users", "will", "--match", "any"]  # fmt: skip
        with socket_daemon(sc.service, path):
            capsys.readouterr()
            code = await asyncio.to_thread(ctl.main, argv)
        out, err = capsys.readouterr()
        assert code == 0, err
        lines = out.splitlines()
        blocked = lines[lines.index("blocked, not deleted (1):") + 2].split()
        assert blocked[0] == partner and blocked[-1] != "-"  # the refusal's error code
        partners = lines[lines.index("partner episodes that lose their shared file (1):") + 2]
        assert partners.split()[0] == partner and partners.split()[-1] == pilot
        assert "unmonitors (2):" in out and "total: 1 files" in out


async def test_deletion_progress_events_print_one_line_each(capsys):
    ctl._print_event({"run_id": 3, "status": "running", "actions": {"confirmed": 1, "pending": 2}})
    assert capsys.readouterr().err == "deletion run 3 running: 1 confirmed, 2 pending\n"
