// Runs pages: the run lists, one sync run and one deletion run, kept live by polling the JSON API
// with cullarr.poll (fast while something is queued or running, slow otherwise). Rows are rendered like the
// server's macros (_macros.html) so tests and styles find the same hooks either way.
"use strict";

(() => {
  const { api, base, bytes, describe, el, poll, renderSyncProgress, time, toast } = cullarr;
  const LIVE = ["queued", "running"];
  const isLive = (status) => LIVE.includes(status);

  const badge = (status) => el("span", { class: `badge status-${status}`, text: status });
  const clock = (value) => value
    ? el("time", { dateTime: value, title: value, text: String(value).slice(11, 19) })
    : "—";
  const text = (id, value) => { const node = document.getElementById(id); if (node) node.textContent = value; };

  // Re-rendering replaces the rows: a focused link moves to its new copy, so keyboard users
  // keep their place.
  function keepFocus(container, render) {
    const focused = container.contains(document.activeElement) && document.activeElement.getAttribute("href");
    render();
    if (!focused) return;
    const again = [...container.querySelectorAll("a[href]")].find((a) => a.getAttribute("href") === focused);
    if (again) again.focus();
  }

  // --- the run lists ---------------------------------------------------------------------------

  function syncRow(run) {
    return el("tr", { "data-run-id": run.id, "data-status": run.status },
      el("td", {}, el("a", { href: `${base}/runs/sync/${run.id}`, text: `#${run.id}` })),
      el("td", {}, badge(run.status)),
      el("td", { text: run.trigger }),
      el("td", { text: run.phase || "—" }),
      el("td", { text: time(run.started_at) }),
      el("td", { text: time(run.finished_at) }),
      el("td", {}, run.error_code ? el("code", { text: run.error_code }) : null),
    );
  }

  function deletionRow(run) {
    const counts = Object.entries(run.action_counts || {}).flatMap(([status, n]) => [
      el("span", { class: `badge status-${status}`, text: `${status} ${n}` }), " "]);
    return el("tr", { "data-run-id": run.id, "data-status": run.status },
      el("td", {}, el("a", { href: `${base}/runs/deletion/${run.id}`, text: `#${run.id}` })),
      el("td", {}, badge(run.status)),
      el("td", { text: run.scope }),
      el("td", {}, counts),
      el("td", { text: time(run.created_at) }),
      el("td", { text: time(run.finished_at) }),
    );
  }

  function fillTable(table, runs, row, empty, columns) {
    const body = table.tBodies[0];
    keepFocus(body, () => body.replaceChildren(...(runs.length ? runs.map(row)
      : [el("tr", {}, el("td", { colSpan: columns, class: "muted", text: empty }))])));
  }

  function runsPage(page) {
    const syncTable = document.getElementById("sync-runs");
    const deletionTable = document.getElementById("deletion-runs");
    const shownLive = () => [...document.querySelectorAll("#sync-runs tr[data-status], #deletion-runs tr[data-status]")]
      .some((row) => isLive(row.dataset.status));
    // Every 2 s while a shown run is live, every 15 s otherwise (to notice new runs).
    poll(async () => {
      const [sync, deletion] = await Promise.all([
        api("GET", "/sync-runs?limit=25"), api("GET", "/deletion-runs?limit=25")]);
      fillTable(syncTable, sync.runs, syncRow, "No sync runs yet.", 7);
      fillTable(deletionTable, deletion.runs, deletionRow, "No deletion runs yet.", 6);
      renderSyncProgress(sync.runs.find((run) => isLive(run.status)));
      page.dataset.active = String(shownLive());
      text("runs-updated", `The newest 25 of each. Updated ${new Date().toLocaleTimeString()}.`);
    }, () => (shownLive() ? 2000 : 15000));
  }

  // --- one sync run ----------------------------------------------------------------------------

  function phaseRows(run) {
    const phases = Object.entries((run.progress || {}).phases || {});
    if (!phases.length) return [el("tr", {}, el("td", { colSpan: 6, class: "muted", text: "No phase has started yet." }))];
    return phases.map(([name, phase]) => el("tr", { "data-phase": name, "data-state": phase.state },
      el("th", { scope: "row", text: name }),
      el("td", {}, badge(phase.state)),
      el("td", { class: "num", text: `${phase.processed_units || 0}${phase.total_units ? ` / ${phase.total_units}` : ""}` }),
      el("td", { class: "num", text: String(phase.rows_written || 0) }),
      el("td", { class: "num", text: phase.duration_s === null || phase.duration_s === undefined ? "—" : `${Number(phase.duration_s).toFixed(2)} s` }),
      el("td", {}, phase.counts && Object.keys(phase.counts).length
        ? el("ul", { class: "counts" }, Object.entries(phase.counts).map(([key, n]) => el("li", {}, `${key} `, el("strong", { text: String(n) }))))
        : null),
    ));
  }

  function integrationRows(run) {
    const outcomes = Object.entries((run.progress || {}).integrations || {});
    if (!outcomes.length) return [el("tr", {}, el("td", { colSpan: 5, class: "muted", text: "No outcome recorded yet." }))];
    return outcomes.map(([name, outcome]) => el("tr", { "data-integration": name },
      el("th", { scope: "row", text: name }),
      el("td", { text: outcome.kind || "" }),
      el("td", {}, badge(outcome.state)),
      el("td", { text: outcome.failed_phase || "—" }),
      el("td", {}, outcome.error ? [el("code", { text: outcome.error.code }), " ", outcome.error.message || ""] : null),
    ));
  }

  function runHeader(article, run) {
    article.dataset.status = run.status;
    const status = document.getElementById("run-status");
    status.className = `badge status-${run.status}`;
    status.textContent = run.status;
    text("run-started", time(run.started_at));
    text("run-finished", time(run.finished_at));
    const error = document.getElementById("run-error");
    error.replaceChildren(...(run.error_code ? [el("code", { text: run.error_code }), " ", run.error_message || ""] : []));
    const cancel = document.getElementById("run-cancel");
    if (!isLive(run.status) && cancel === document.activeElement) document.querySelector("h1").focus();
    cancel.hidden = !isLive(run.status);
  }

  function syncRunPage(article) {
    const id = article.dataset.runId;
    const render = (run) => {
      runHeader(article, run);
      text("run-phase", run.phase || "—");
      const notes = [run.cancel_requested && "cancel requested", run.queued_next && "another sync queued next"].filter(Boolean);
      text("run-notes", notes.length ? notes.join(" · ") : "—");
      renderSyncProgress(run);
      document.querySelector("#run-phases tbody").replaceChildren(...phaseRows(run));
      document.querySelector("#run-integrations tbody").replaceChildren(...integrationRows(run));
    };
    cancelButton(`/sync-runs/${id}/cancel`, "Cancel requested; the run stops at its next safe point.");
    if (isLive(article.dataset.status)) poll(async () => {
      const { run } = await api("GET", `/sync-runs/${id}`);
      render(run);
      return isLive(run.status);
    }, 1000);
  }

  // --- one deletion run ------------------------------------------------------------------------

  function actionRow(action) {
    const stages = Object.entries(action.stages || {}).map(([stage, stamp]) => el("li", { "data-stage": stage },
      `${stage} `, clock(stamp.finished_at || stamp.started_at),
      stamp.outcome ? [" ", el("span", { class: "muted", text: stamp.outcome })] : null));
    const retries = action.retry_count
      ? [" ", el("span", { class: "muted", text: `${action.retry_count} retr${action.retry_count === 1 ? "y" : "ies"}` })] : null;
    const error = action.error_code ? [el("code", { text: action.error_code }), " ", action.error_message || ""]
      : action.error_message ? [action.error_message] : [];
    const warnings = (action.warnings || []).length
      ? el("ul", { class: "warnings" }, action.warnings.map((w) => el("li", {}, `${w.stage}: `, el("code", { text: w.code }), ` ${w.message}`)))
      : null;
    return el("tr", { class: "action", "data-action-id": action.id, "data-status": action.status },
      el("td", { class: "path" }, el("code", { text: action.path || "—" }),
        action.candidate_id ? [el("br"), el("span", { class: "muted", text: action.candidate_id })] : null),
      el("td", { class: "num", text: bytes(action.size_bytes) }),
      el("td", { class: "hide-narrow", text: action.integration || "—" }),
      el("td", {}, badge(action.status), retries),
      el("td", { text: action.stage || "—" }),
      el("td", {}, el("ol", { class: "stages" }, stages)),
      el("td", {}, error, warnings),
    );
  }

  function deletionRunPage(article) {
    const id = article.dataset.runId;
    const render = (run) => {
      runHeader(article, run);
      const actions = run.actions || [];
      text("run-files", String(actions.length));
      text("run-total-bytes", bytes(run.total_bytes));
      text("run-deleted-bytes", bytes(run.deleted_bytes));
      document.getElementById("run-counts").replaceChildren(...Object.entries(run.action_counts || {}).flatMap(([status, n]) => [
        el("span", { class: `badge status-${status}`, text: `${status} ${n}` }), " "]));
      document.getElementById("run-notes").hidden = !run.cancel_requested;
      const body = document.querySelector("#run-actions tbody");
      body.replaceChildren(...(actions.length ? actions.map(actionRow)
        : [el("tr", {}, el("td", { colSpan: 7, class: "muted", text: "This run has no actions." }))]));
    };
    cancelButton(`/deletion-runs/${id}/cancel`, "Cancel requested; the run stops before its next action.");
    if (isLive(article.dataset.status)) poll(async () => {
      const { run } = await api("GET", `/deletion-runs/${id}`);
      render(run);
      return isLive(run.status);
    }, 1500);
  }

  function cancelButton(path, message) {
    const button = document.getElementById("run-cancel");
    if (!button) return;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api("POST", path, {});
        toast(message);
      } catch (error) {
        toast(describe(error));
      } finally {
        button.disabled = false;
      }
    });
  }

  const runs = document.getElementById("runs-page");
  const syncRun = document.getElementById("sync-run");
  const deletionRun = document.getElementById("deletion-run");
  if (runs) runsPage(runs);
  if (syncRun) syncRunPage(syncRun);
  if (deletionRun) deletionRunPage(deletionRun);
})();
