// Status page: start or cancel a sync and follow the active run's progress without reloading.
"use strict";

(() => {
  const { api, describe, el, poll, renderSyncProgress, time, toast, bytes } = cullarr;
  const panel = document.getElementById("sync-progress");
  const cancel = document.getElementById("sync-cancel");
  let following = null;

  function show(run) {
    renderSyncProgress(run);
    const noRun = document.getElementById("no-active-run");
    if (noRun) noRun.hidden = true;
    cancel.hidden = !["queued", "running"].includes(run.status);
  }

  async function refreshSummary() {
    const status = await api("GET", "/status");
    const lib = status.library;
    document.getElementById("library-bytes").textContent = bytes(lib.bytes);
    document.getElementById("library-counts").textContent =
      `${lib.movies} movies · ${lib.series} shows · ${lib.episodes} episodes · ${lib.files} files`;
    const last = status.last_sync_run;
    document.getElementById("last-sync").replaceChildren(last
      ? el("span", {}, el("span", { class: `badge status-${last.status}`, text: last.status }), " ", time(last.finished_at))
      : "never");
    const next = status.next_sync;
    document.getElementById("next-sync").textContent = !next.enabled ? "scheduled syncs are off"
      : next.due_at ? time(next.due_at) : "after the active run";
    return status;
  }

  function follow(runId) {
    if (following) following();
    following = poll(async () => {
      const { run } = await api("GET", `/sync-runs/${runId}`);
      show(run);
      if (["queued", "running"].includes(run.status)) return true;
      await refreshSummary();
      return false;
    }, 1000);
  }

  document.getElementById("sync-trigger").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const answer = await api("POST", "/sync-runs", {});
      toast(answer.code === "sync_queued_next" ? "A sync is running; another will follow it." : "Sync started.");
      show(answer.run);
      follow(answer.run.id);
    } catch (error) {
      toast(describe(error));
    } finally {
      button.disabled = false;
    }
  });

  cancel.addEventListener("click", async () => {
    try {
      await api("POST", `/sync-runs/${panel.dataset.runId}/cancel`, {});
      toast("Cancel requested; the run stops at its next safe point.");
    } catch (error) {
      toast(describe(error));
    }
  });

  if (panel.dataset.runId) follow(panel.dataset.runId);
  // Someone else (the scheduler, the CLI) may start a run: look for one now and then.
  poll(async () => {
    if (panel.dataset.status && ["queued", "running"].includes(panel.dataset.status)) return true;
    const status = await api("GET", "/status");
    const active = status.active_sync_run;
    if (active && String(active.id) !== panel.dataset.runId) follow(active.id);
    return true;
  }, 10000);
})();
