// Candidates page: filters that apply a saved view when chosen, "save as view", keep toggles,
// and the deletion flow: select rows → review the plan (choosing versions when a movie has
// several files) → unlock with the operator password → run → follow its progress.
"use strict";

(() => {
  const { api, base, bytes, describe, el, poll, time, toast } = cullarr;
  const ACTIVE = ["queued", "running"];
  const FLASH = "cullarr.candidates.flash";
  const SCOPE_LABELS = { movie: "Movies", tv_episode: "Episodes", tv_season: "Seasons", tv_show: "Shows" };
  const OUTCOMES = {
    success: "Done: every file was deleted.",
    partial_failure: "Finished with failures: some files were not deleted (see the errors below).",
    failed: "The run failed.",
    canceled: "Canceled: actions that had finished stay as they are.",
  };

  // A message that survives the reload after a keep toggle.
  function reloadWith(message) {
    try { sessionStorage.setItem(FLASH, message); } catch (e) { /* private mode: no message */ }
    location.reload();
  }
  try {
    const flash = sessionStorage.getItem(FLASH);
    if (flash) { sessionStorage.removeItem(FLASH); toast(flash); }
  } catch (e) { /* storage unavailable */ }

  // --- filters --------------------------------------------------------------------------------

  const filters = document.getElementById("candidate-filters");
  if (filters) {
    const view = filters.elements.namedItem("saved_view_id");
    const match = filters.elements.namedItem("watched_match_mode");
    const sort = filters.elements.namedItem("sort");
    const order = filters.elements.namedItem("order");
    const matchHelp = document.getElementById("match-help");

    // Choosing a saved view applies it as saved (its own scope and filters).
    view.addEventListener("change", () => {
      if (!view.value || view.value === filters.dataset.appliedView) return;
      const params = new URLSearchParams({ saved_view_id: view.value });
      const limit = filters.elements.namedItem("limit");
      if (limit) params.set("limit", limit.value);
      location.assign(`${base}/candidates?${params}`);
    });
    match.addEventListener("change", () => {
      const option = match.options[match.selectedIndex];
      matchHelp.textContent = option ? option.dataset.help || "" : "";
    });
    // A new sort starts in its natural direction (biggest, oldest, A first).
    sort.addEventListener("change", () => {
      const option = sort.options[sort.selectedIndex];
      if (option && option.dataset.defaultOrder) order.value = option.dataset.defaultOrder;
    });
  }

  const saveForm = document.getElementById("save-view-form");
  if (saveForm) {
    saveForm.hidden = false;
    const nameInput = document.getElementById("save-view-name");
    const saveError = document.getElementById("save-view-error");
    saveForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      saveError.textContent = "";
      nameInput.removeAttribute("aria-invalid");
      if (!name) {
        saveError.textContent = "Enter a name for the view.";
        nameInput.setAttribute("aria-invalid", "true");
        nameInput.focus();
        return;
      }
      const button = document.getElementById("save-view-button");
      button.disabled = true;
      try {
        const saved = await api("POST", "/saved-views", {
          name, scope: saveForm.dataset.scope, filters: JSON.parse(saveForm.dataset.filters),
        });
        if (filters) {
          const select = filters.elements.namedItem("saved_view_id");
          select.append(el("option", { value: String(saved.id), text: `${saved.name} · ${SCOPE_LABELS[saved.scope] || saved.scope}` }));
          select.value = String(saved.id);
          // It holds exactly what is shown: the page now shows this view.
          filters.dataset.appliedView = String(saved.id);
          filters.elements.namedItem("applied_view").value = String(saved.id);
        }
        nameInput.value = "";
        toast(`Saved view "${saved.name}".`);
      } catch (error) {
        saveError.textContent = describe(error);
        nameInput.setAttribute("aria-invalid", "true");
        nameInput.focus();
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- the table: keep toggles and selection ---------------------------------------------------

  const table = document.getElementById("candidates");
  const panel = document.getElementById("plan-panel");
  if (!table || !panel) return;

  // The flags' labels, rendered once by the template (the same ones its own chips show).
  const FLAG_LABELS = JSON.parse(table.dataset.flagLabels || "{}");
  const planButton = document.getElementById("plan-button");
  const selectAll = document.getElementById("select-all");
  const summary = document.getElementById("selection-summary");
  const body = document.getElementById("plan-body");
  const errorBox = document.getElementById("plan-error");
  const closeButton = document.getElementById("plan-close");
  const rows = () => Array.from(table.tBodies[0].rows);
  // The boxes of deletable rows (the template disables the others). The set is fixed for the
  // page (a keep toggle reloads it); these boxes are disabled only while a run starts or runs.
  const selectable = Array.from(table.querySelectorAll("input.select-row:not(:disabled)"));
  const rowOf = (candidateId) => rows().find((row) => row.dataset.candidateId === candidateId);
  const titleOf = (candidateId) => (rowOf(candidateId) || { dataset: {} }).dataset.title || candidateId;
  const fileCount = (n) => `${n} file${n === 1 ? "" : "s"}`;

  table.addEventListener("click", async (event) => {
    const button = event.target.closest("button.keep-toggle");
    if (!button) return;
    const title = button.closest("tr").dataset.title;
    button.disabled = true;
    try {
      if (button.dataset.kept === "true") {
        await api("DELETE", `/keep-markers/${button.dataset.markerId}`);
        reloadWith(`Removed the keep marker on "${title}".`);
      } else {
        await api("POST", "/keep-markers", {
          target_type: button.dataset.targetType, target_id: Number(button.dataset.targetId),
        });
        const shown = filters && filters.elements.namedItem("include_blocked").checked;
        reloadWith(`Kept "${title}".` + (shown ? "" : " Blocked rows are hidden: tick Include blocked to see it."));
      }
    } catch (error) {
      toast(describe(error));
      button.disabled = false;
      button.focus();
    }
  });

  // running: from the click on delete until the run has ended (or failed to start).
  // planTargets: the selection the shown plan was made for; request: the newest plan request
  // (an older answer arriving late is dropped, never shown or run).
  const state = { targets: [], planTargets: [], versions: {}, plan: null, running: false,
    stale: false, planning: false, request: 0 };

  function selected() {
    return selectable.filter((box) => box.checked).map((box) => box.value);
  }

  function updateSelection() {
    const chosen = selected();
    let total = 0;
    for (const row of rows()) {
      const box = row.querySelector("input.select-row");
      const on = Boolean(box && box.checked && selectable.includes(box));
      row.classList.toggle("selected", on);
      if (on) total += Number(row.dataset.bytes || 0);
    }
    selectAll.disabled = selectable.length === 0 || state.running;
    selectAll.checked = selectable.length > 0 && chosen.length === selectable.length;
    selectAll.indeterminate = chosen.length > 0 && chosen.length < selectable.length;
    planButton.disabled = chosen.length === 0 || state.running || state.planning;
    planButton.textContent = `Review plan for ${chosen.length} selected`;
    summary.textContent = chosen.length ? `${bytes(total)} selected` : "";
    // A plan shown for another selection must not be run.
    if (state.plan && !state.running) {
      const planned = state.planTargets;
      const same = chosen.length === planned.length && chosen.every((id) => planned.includes(id));
      setStale(!same);
    }
  }

  function setStale(stale) {
    state.stale = stale;
    const notice = document.getElementById("plan-stale");
    const deleteButton = document.getElementById("delete-button");
    if (notice) notice.hidden = !stale;
    if (deleteButton) deleteButton.disabled = stale || state.running;
  }

  // While a run is being started or followed nothing may change what it runs: the selection,
  // the plan button, replan, Close and delete are locked; false gives them back.
  function setRunning(running) {
    state.running = running;
    for (const box of selectable) box.disabled = running;
    closeButton.disabled = running;
    for (const control of body.querySelectorAll("#replan-button, #unlock-password")) control.disabled = running;
    const deleteButton = document.getElementById("delete-button");
    if (deleteButton) deleteButton.disabled = running || state.stale;
    updateSelection();
  }

  table.addEventListener("change", (event) => {
    if (event.target.matches("input.select-row")) updateSelection();
  });
  selectAll.addEventListener("change", () => {
    if (state.running) return;
    for (const box of selectable) box.checked = selectAll.checked;
    updateSelection();
  });

  // --- the deletion flow: planning -------------------------------------------------------------

  function openPanel() {
    panel.hidden = false;
    panel.focus();
  }

  function showError(error) {
    errorBox.textContent = error ? describe(error) : "";
  }

  function chip(kind, code, explanation) {
    const text = explanation || code;
    return el("span", { class: `chip ${kind}`, tabindex: "0", "data-flag": code, title: text },
      FLAG_LABELS[code] || code.replace(/_/g, " "), el("span", { class: "tip", role: "tooltip", text }));
  }

  planButton.addEventListener("click", () => {
    if (state.running) return;
    state.targets = selected();
    if (!state.targets.length) return;
    // Keep version choices for movies still selected.
    state.versions = Object.fromEntries(Object.entries(state.versions).filter(([id]) => state.targets.includes(id)));
    requestPlan();
  });

  closeButton.addEventListener("click", () => {
    if (state.running) return;
    panel.hidden = true;
    state.plan = null;
    body.replaceChildren();
    showError(null);
    planButton.focus();
  });

  async function requestPlan() {
    if (state.running) return;
    const mine = ++state.request;
    const targets = [...state.targets];
    const payload = {
      scope: panel.dataset.scope,
      target_ids: targets,
      plex_user_ids: JSON.parse(panel.dataset.plexUserIds || "[]"),
      watched_match_mode: panel.dataset.matchMode,
    };
    if (Object.keys(state.versions).length) payload.versions = state.versions;
    state.plan = null;
    showError(null);
    body.replaceChildren(el("p", { class: "muted", text: `Planning ${state.targets.length} selected…` }));
    state.planning = true;
    planButton.disabled = true;
    openPanel();
    try {
      const plan = await api("POST", "/deletion-runs/plan", payload);
      if (mine !== state.request || state.running) return;
      state.plan = plan;
      state.planTargets = targets;
      renderPlan(plan);
    } catch (error) {
      if (mine !== state.request || state.running) return;
      if (error.code === "multi_version_selection_required" && error.details.targets) {
        renderVersions(error.details.targets);
      } else {
        body.replaceChildren(replanButton());
        showError(error);
      }
    } finally {
      if (mine === state.request) state.planning = false;
      updateSelection();
    }
  }

  function replanButton() {
    const button = el("button", { type: "button", id: "replan-button", text: "Review the plan again" });
    button.addEventListener("click", requestPlan);
    return el("div", { class: "actions" }, button);
  }

  // Several files of one movie: the operator says which to delete.
  function renderVersions(targets) {
    const sets = targets.map((target) => el("fieldset", { class: "versions", "data-candidate-id": target.candidate_id },
      el("legend", { text: titleOf(target.candidate_id) }),
      target.versions.map((v) => el("label", { class: "inline" },
        el("input", {
          type: "checkbox", class: "version-choice", value: String(v.media_file_id),
          "data-candidate-id": target.candidate_id,
          checked: (state.versions[target.candidate_id] || []).includes(v.media_file_id),
        }),
        el("span", { class: "path", text: v.path }), " ",
        el("span", { class: "muted", text: `${bytes(v.size_bytes)} · ${v.quality || "unknown quality"}` }))),
    ));
    const note = el("p", { class: "field-error", id: "versions-error", role: "alert" });
    const button = el("button", { type: "button", class: "primary", id: "replan-versions", text: "Re-plan with these versions" });
    button.addEventListener("click", () => {
      const missing = [];
      for (const target of targets) {
        const ids = Array.from(body.querySelectorAll("input.version-choice"))
          .filter((box) => box.dataset.candidateId === target.candidate_id && box.checked)
          .map((box) => Number(box.value));
        if (ids.length) state.versions[target.candidate_id] = ids;
        else missing.push(titleOf(target.candidate_id));
      }
      if (missing.length) {
        note.textContent = `Choose at least one file of ${missing.join(", ")} (or unselect it in the list).`;
        return;
      }
      requestPlan();
    });
    body.replaceChildren(
      el("p", { id: "versions-needed", text: "These movies have more than one file on disk. Tick the files to delete; the others stay." }),
      ...sets, note, el("div", { class: "actions" }, button),
    );
  }

  // --- the deletion flow: the plan -------------------------------------------------------------

  function renderPlan(plan) {
    const files = plan.files || [];
    body.replaceChildren(
      el("p", { id: "plan-total", "data-bytes": String(plan.total_bytes), "data-files": String(files.length) },
        el("strong", { text: `${fileCount(files.length)} · ${bytes(plan.total_bytes)}` }),
        ` from ${plan.targets.length - plan.blocked.length} of ${plan.targets.length} selected`),
      files.length ? planFiles(files)
        : el("p", { class: "notice", id: "plan-empty", text: "Nothing in this selection can be deleted now." }),
      ...planBlocked(plan),
      ...planRisks(plan),
      ...(files.length ? [...planSideEffects(plan), ...unlockForm(plan)] : []),
      replanButton(),
    );
    setStale(false);
  }

  function planFiles(files) {
    return el("div", { class: "table-wrap" }, el("table", { class: "grid", id: "plan-files" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col", text: "Path" }), el("th", { scope: "col", class: "num", text: "Size" }),
        el("th", { scope: "col", class: "hide-narrow", text: "Quality" }), el("th", { scope: "col", text: "Integration" }),
        el("th", { scope: "col", class: "hide-narrow", text: "Item" }))),
      el("tbody", {}, files.map((f) => el("tr", { "data-path": f.path, "data-media-file-id": String(f.media_file_id) },
        el("td", { class: "path", text: f.path }), el("td", { class: "num", text: bytes(f.size_bytes) }),
        el("td", { class: "hide-narrow", text: f.quality || "—" }), el("td", { text: f.integration }),
        el("td", { class: "hide-narrow", text: titleOf(f.candidate_id) }))))));
  }

  function planBlocked(plan) {
    if (!plan.blocked.length) return [];
    return [el("h3", { text: `Not deletable (${plan.blocked.length})` }), el("ul", { id: "plan-blocked" },
      plan.blocked.map((t) => el("li", { "data-candidate-id": t.candidate_id },
        el("strong", { text: t.title }), " ", el("code", { text: t.error_code }), " ",
        t.blocker_flags.map((flag) => chip("blocker", flag, t.flag_details[flag])),
        t.blocker_flags.length ? null : el("span", { class: "muted", text: "it no longer meets the watch rule." }))))];
  }

  function planRisks(plan) {
    const risky = plan.targets.filter((t) => t.eligible && t.risk_flags.length);
    if (!risky.length) return [];
    return [el("h3", { text: "Risks to check" }), el("ul", { id: "plan-risks" },
      risky.map((t) => el("li", { "data-candidate-id": t.candidate_id }, el("strong", { text: t.title }), " ",
        t.risk_flags.map((flag) => chip("risk", flag, t.flag_details[flag])))))];
  }

  function planSideEffects(plan) {
    const effects = plan.side_effects || {};
    const lines = [
      ...(effects.unmonitor || []).map((u) => `Unmonitor ${u.type} "${u.title}" in ${u.integration}`),
      ...(effects.tag || []).map((t) => `Tag ${t.type} "${t.title}" with "${t.tag}" in ${t.integration}`),
      ...(effects.affected_episodes || []).map((e) => `"${e.title}" loses its file too (shared with ${titleOf(e.shares_file_with)})`),
    ];
    return [el("h3", { text: "Side effects" }), el("ul", { id: "plan-side-effects" },
      lines.length ? lines.map((line) => el("li", { text: line })) : el("li", { class: "muted", text: "None besides deleting the files." }))];
  }

  function unlockForm(plan) {
    const password = el("input", { type: "password", id: "unlock-password", name: "password", autocomplete: "current-password", required: true });
    const button = el("button", { type: "submit", class: "danger", id: "delete-button",
      text: `Unlock and delete ${fileCount(plan.files.length)} (${bytes(plan.total_bytes)})` });
    const form = el("form", { id: "unlock-form", class: "actions unlock" },
      el("label", {}, "Operator password", password), button);
    form.addEventListener("submit", (event) => { event.preventDefault(); runPlan(password); });
    return [
      el("p", { id: "plan-stale", class: "notice", hidden: true, text: "The selection changed since this plan: review the plan again before deleting." }),
      el("p", { class: "muted", text: "Deleting asks Sonarr/Radarr to remove the files from disk. It cannot be undone." }),
      form,
    ];
  }

  // --- the deletion flow: running --------------------------------------------------------------

  // Unlock, then create the run from the plan on screen: the one the operator reviewed, taken
  // before anything is awaited. Everything that could change it stays locked meanwhile; a
  // failure (e.g. a wrong password) unlocks them again so the operator can correct and retry.
  async function runPlan(password) {
    const plan = state.plan;
    if (state.running || state.stale || !plan) return;
    if (!password.value) {
      showError(new Error("Enter the operator password to unlock delete mode."));
      password.focus();
      return;
    }
    showError(null);
    setRunning(true);
    let run;
    try {
      const { token } = await api("POST", "/delete-mode/unlock", { password: password.value });
      password.value = "";
      ({ run } = await api("POST", "/deletion-runs", { plan, token }));
    } catch (error) {
      setRunning(false);
      showError(error);
      password.focus();
      password.select();
      return;
    }
    follow(run);
  }

  function follow(run) {
    state.plan = null; // it has been handed to the run: never run it again
    const view = progressView(run);
    body.replaceChildren(view.root);
    panel.focus();
    if (showRun(view, run)) poll(async () => showRun(view, (await api("GET", `/deletion-runs/${run.id}`)).run), 1000);
  }

  // The progress of a run, built once; showRun fills it in.
  function progressView(run) {
    const view = {
      status: el("span", { class: "badge", id: "run-status" }),
      counts: el("span", { id: "run-counts" }),
      bytesLine: el("span", { class: "muted", id: "run-bytes" }),
      actions: el("tbody"),
      outcome: el("p", { id: "run-outcome", role: "status", tabindex: "-1" }),
      cancel: cancelRunButton(run),
      done: el("div", { class: "actions", id: "run-done", hidden: true },
        el("a", { href: `${base}/runs/deletion/${run.id}`, id: "run-link", text: `Open run #${run.id}` }),
        el("button", { type: "button", id: "reload-candidates", class: "primary", text: "Reload candidates" })),
    };
    view.done.querySelector("#reload-candidates").addEventListener("click", () => location.reload());
    view.root = el("div", { id: "deletion-progress", "data-run-id": String(run.id), "data-status": run.status },
      el("h3", { text: `Run #${run.id}` }),
      el("p", {}, view.status, " ", view.counts, " ", view.bytesLine),
      view.outcome,
      el("div", { class: "table-wrap" }, el("table", { class: "grid", id: "run-actions" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col", text: "Path" }), el("th", { scope: "col", text: "Stage" }),
          el("th", { scope: "col", text: "Status" }), el("th", { scope: "col", text: "Error" }))),
        view.actions)),
      el("div", { class: "actions" }, view.cancel), view.done);
    return view;
  }

  function cancelRunButton(run) {
    const cancel = el("button", { type: "button", id: "cancel-run", text: "Cancel run" });
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await api("POST", `/deletion-runs/${run.id}/cancel`, {});
        toast("Cancel requested: the run stops before its next action.");
      } catch (error) {
        toast(describe(error));
        cancel.disabled = false;
      }
    });
    return cancel;
  }

  function actionRow(a) {
    return el("tr", { "data-action-id": String(a.id), "data-path": a.path || "", "data-status": a.status },
      el("td", { class: "path", text: a.path || "—" }),
      el("td", { text: a.stage || "—" }),
      el("td", {}, el("span", { class: `badge status-${a.status}`, text: a.status }),
        a.retry_count ? el("span", { class: "muted", text: ` retried ${a.retry_count}×` }) : null),
      el("td", { title: a.error_message || "" }, a.error_code ? el("code", { text: a.error_code }) : "",
        a.error_message ? el("span", { class: "muted", text: ` ${a.error_message}` }) : null,
        (a.warnings || []).length ? el("div", { class: "muted", text: `warnings: ${a.warnings.map((w) => w.code || w).join(", ")}` }) : null));
  }

  // Shows the run as it is now; false once it has ended (which stops the polling).
  function showRun(view, current) {
    view.root.dataset.status = current.status;
    view.status.className = `badge status-${current.status}`;
    view.status.textContent = current.status;
    view.counts.replaceChildren(...Object.entries(current.action_counts || {}).map(([name, n]) =>
      el("span", { class: `badge status-${name}`, "data-action-status": name, text: `${name} ${n}` })));
    view.bytesLine.textContent = `${bytes(current.deleted_bytes)} of ${bytes(current.total_bytes)} deleted`;
    if (current.actions) view.actions.replaceChildren(...current.actions.map(actionRow));
    if (ACTIVE.includes(current.status)) {
      view.outcome.textContent = current.cancel_requested ? "Canceling…" : `Deleting… (started ${time(current.started_at || current.created_at)})`;
      return true;
    }
    finishRun(view, current);
    return false;
  }

  // The run has ended: say how, and give the page back (selection, Close).
  function finishRun(view, current) {
    let text = OUTCOMES[current.status] || `Finished: ${current.status}.`;
    if (current.error_code) text += ` ${current.error_message || ""} (${current.error_code})`;
    view.outcome.textContent = text;
    view.cancel.hidden = true;
    view.done.hidden = false;
    closeButton.hidden = false;
    setRunning(false);
    view.outcome.focus();
  }

  updateSelection();
})();
