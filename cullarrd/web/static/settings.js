// Settings page: save changed settings in one PATCH with errors next to their fields, check
// integrations, manage path exclusions, keep markers and saved views, and page the audit log.
// After a change the section's list is fetched again from the API and re-rendered like the
// server's macros in settings.html.
"use strict";

(() => {
  const { api, base, describe, el, time, toast } = cullarr;
  const $ = (id) => document.getElementById(id);

  // Replace a table body's rows; if focus was inside, put it back on the same control of the
  // same row (by `rowKey`) or, failing that, on the section heading.
  function rerender(tbody, rows, rowKey, heading) {
    const active = document.activeElement;
    let restore = null;
    if (tbody.contains(active)) {
      const row = active.closest("tr");
      restore = { id: row && row.getAttribute(rowKey), action: active.dataset.action || null };
    }
    tbody.replaceChildren(...rows);
    if (!restore) return;
    const row = restore.id && tbody.querySelector(`tr[${rowKey}="${CSS.escape(restore.id)}"]`);
    const target = row && (restore.action ? row.querySelector(`[data-action="${restore.action}"]`) : null);
    (target || $(heading)).focus();
  }

  const emptyRow = (columns, text) => el("tr", {}, el("td", { colSpan: columns, class: "muted", text }));
  const badge = (status) => el("span", { class: `badge status-${status}`, text: status });

  // Shows each field's messages next to it (`#<prefix><field>`); returns the fields not shown.
  function showFieldErrors(form, fields, prefix) {
    const rest = {};
    let first = null;
    for (const [field, messages] of Object.entries(fields || {})) {
      const box = $(prefix + field);
      const input = form.querySelector(`[name="${CSS.escape(field)}"]`);
      if (!box || !input) { rest[field] = messages; continue; }
      box.textContent = [].concat(messages).join("; ");
      input.setAttribute("aria-invalid", "true");
      if (!first) first = input;
    }
    return { first, rest };
  }

  function clearFieldErrors(form) {
    for (const box of form.querySelectorAll(".field-error")) box.textContent = "";
    for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  }

  function leftover(rest) {
    return Object.entries(rest).map(([field, messages]) => `${field}: ${[].concat(messages).join("; ")}`).join(" · ");
  }

  // A remove button in a list: confirm, DELETE, re-render the list, keep focus in the section.
  function removable(tbody, { rowKey, path, question, done, refresh, heading }) {
    tbody.addEventListener("click", async (event) => {
      const button = event.target.closest('button[data-action="remove"]');
      if (!button) return;
      const row = button.closest("tr");
      if (!window.confirm(question(row.querySelector("th").textContent))) {
        button.focus();
        return;
      }
      try {
        await api("DELETE", path(row.getAttribute(rowKey)));
        toast(done);
      } catch (error) {
        toast(error.message === "canceled" ? "Not removed: the password was not confirmed." : describe(error));
      }
      await refresh();
      if (!tbody.contains(document.activeElement)) $(heading).focus();
      refreshAudit();
    });
  }

  // --- settings form ---------------------------------------------------------------------------

  const form = $("settings-form");
  const unsafe = $("settings-unsafe");
  const confirmBox = $("settings-confirm");
  const saveButton = $("settings-save");

  function fieldValue(input) {
    const kind = input.closest(".setting").dataset.kind;
    if (kind === "bool") return input.checked;
    if (kind === "int") {
      const raw = input.value.trim();
      return /^-?\d+$/.test(raw) ? Number(raw) : raw; // anything else: the server says why
    }
    if (kind === "list") return input.value.split("\n").map((line) => line.trim()).filter(Boolean);
    return input.value;
  }

  function setField(input, value) {
    const kind = input.closest(".setting").dataset.kind;
    if (kind === "bool") input.checked = Boolean(value);
    else if (kind === "list") input.value = (value || []).join("\n");
    else input.value = value === null || value === undefined ? "" : String(value);
    input.dataset.initial = JSON.stringify(value);
  }

  const inputs = () => [...form.querySelectorAll(".setting [name]")].filter((input) => !input.disabled && !input.readOnly);

  function changedValues() {
    const values = {};
    for (const input of inputs()) {
      const value = fieldValue(input);
      if (JSON.stringify(value) !== input.dataset.initial) values[input.name] = value;
    }
    return values;
  }

  function showSaved(settings) {
    for (const input of inputs()) {
      const entry = settings[input.name];
      if (!entry) continue;
      setField(input, entry.value);
      const source = $(`source-${input.name}`);
      if (source) { source.textContent = entry.source; source.className = `badge source-${entry.source}`; }
    }
  }

  function hideUnsafe() {
    unsafe.hidden = true;
    confirmBox.checked = false;
  }

  form.addEventListener("input", (event) => {
    const input = event.target.closest("[name]");
    if (!input || !input.hasAttribute("aria-invalid")) return;
    input.removeAttribute("aria-invalid");
    const box = $(`error-${input.name}`);
    if (box) box.textContent = "";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    $("settings-error").textContent = "";
    const values = changedValues();
    const status = $("settings-status");
    if (!Object.keys(values).length) {
      hideUnsafe();
      status.textContent = "Nothing changed.";
      return;
    }
    const confirm = !unsafe.hidden && confirmBox.checked;
    saveButton.disabled = true;
    status.textContent = "Saving…";
    try {
      const answer = await api("PATCH", "/settings", { values, confirm });
      showSaved(answer.settings);
      hideUnsafe();
      status.textContent = answer.changed.length ? `Saved: ${answer.changed.join(", ")}.` : "Nothing changed.";
      toast(answer.changed.length ? "Settings saved." : "Nothing changed.");
      refreshAudit();
    } catch (error) {
      status.textContent = "Not saved.";
      const fields = (error.details && error.details.fields) || {};
      const { first, rest } = showFieldErrors(form, fields, "error-");
      if (error.code === "retention_setting_unsafe") {
        $("settings-unsafe-message").textContent = error.message;
        unsafe.hidden = false;
        confirmBox.checked = false;
        confirmBox.focus();
      } else {
        hideUnsafe();
        const general = ["validation_failed", "settings_immutable"].includes(error.code)
          ? leftover(rest) || (first ? "Not saved: see the marked fields." : describe(error))
          : error.message === "canceled" ? "Not saved: the password was not confirmed." : describe(error);
        $("settings-error").textContent = general;
        if (first) first.focus();
        else saveButton.focus();
      }
    } finally {
      saveButton.disabled = false;
    }
  });

  // --- integrations ----------------------------------------------------------------------------

  const integrations = $("integrations").tBodies[0];

  function showIntegration(row, i) {
    row.querySelector(".health").replaceChildren(badge(i.status));
    row.querySelector(".version").textContent = i.reported_version || "—";
    row.querySelector(".deletes").textContent = ["sonarr", "radarr"].includes(i.kind) ? (i.supported_for_delete ? "yes" : "no") : "—";
    row.querySelector(".checked").textContent = time(i.last_checked_at);
    row.querySelector(".last-error").replaceChildren(i.last_error ? el("code", { text: i.last_error }) : "");
  }

  async function refreshIntegrations(answer) {
    const rows = answer ? answer.integrations : (await api("GET", "/integrations")).integrations;
    for (const i of rows) {
      const row = integrations.querySelector(`tr[data-integration-id="${i.id}"]`);
      if (row) showIntegration(row, i);
    }
    return rows;
  }

  integrations.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const row = button.closest("tr");
    const id = row.dataset.integrationId;
    const name = row.dataset.name;
    if (button.dataset.action === "check") {
      button.disabled = true;
      button.textContent = "Checking…";
      try {
        const answer = await api("POST", `/integrations/${id}/check`, {});
        const checked = (await refreshIntegrations(answer)).find((i) => String(i.id) === id);
        toast(checked ? `${name}: ${checked.status}${checked.last_error ? " — " + checked.last_error : ""}` : `${name} checked.`);
      } catch (error) {
        toast(describe(error));
        try { await refreshIntegrations(); } catch (e) { /* the toast says enough */ }
      } finally {
        button.disabled = false;
        button.textContent = "Check";
        refreshAudit();
      }
    } else if (button.dataset.action === "rebuild-history") {
      if (!window.confirm(`Rebuild the watch history of ${name}? The next sync refetches all of it from Tautulli; nothing is dropped before that fetch succeeds.`)) {
        button.focus();
        return;
      }
      button.disabled = true;
      try {
        const answer = await api("POST", `/integrations/${id}/reset-history`, {});
        const sync = answer.sync || {};
        toast(sync.code === "sync_already_running" || !sync.run
          ? `${name}: the history is rebuilt by the next sync (one is running now).`
          : `${name}: rebuilding the history; sync #${sync.run.id} started.`);
        refreshAudit();
      } catch (error) {
        toast(error.message === "canceled" ? "Not rebuilt: the password was not confirmed." : describe(error));
      } finally {
        button.disabled = false;
        button.focus();
      }
    }
  });

  // --- path exclusions -------------------------------------------------------------------------

  const exclusions = $("exclusions").tBodies[0];
  const exclusionForm = $("exclusion-form");

  function exclusionRow(x) {
    return el("tr", { "data-exclusion-id": x.id, "data-enabled": x.enabled ? "true" : "false" },
      el("th", { scope: "row", text: x.name }),
      el("td", {}, el("code", { text: x.path_prefix })),
      el("td", {}, el("label", { class: "inline" },
        el("input", { type: "checkbox", "data-action": "toggle", checked: Boolean(x.enabled) }), " Enabled",
        el("span", { class: "visually-hidden", text: ` (${x.name})` }))),
      el("td", { class: "hide-narrow", text: time(x.updated_at) }),
      el("td", {}, el("button", { type: "button", "data-action": "remove", "aria-label": `Remove exclusion ${x.name}`, text: "Remove" })),
    );
  }

  async function refreshExclusions() {
    let items;
    try { ({ items } = await api("GET", "/path-exclusions")); } catch (error) { toast(describe(error)); return; }
    rerender(exclusions, items.length ? items.map(exclusionRow) : [emptyRow(5, "No path exclusions.")],
      "data-exclusion-id", "exclusions-title");
  }

  exclusions.addEventListener("change", async (event) => {
    const box = event.target.closest('input[data-action="toggle"]');
    if (!box) return;
    const id = box.closest("tr").dataset.exclusionId;
    box.disabled = true;
    try {
      await api("PATCH", `/path-exclusions/${id}`, { enabled: box.checked });
      toast(box.checked ? "Exclusion enabled." : "Exclusion disabled.");
    } catch (error) {
      box.checked = !box.checked;
      toast(error.message === "canceled" ? "Not changed: the password was not confirmed." : describe(error));
    } finally {
      box.disabled = false;
      box.focus();
    }
    await refreshExclusions();
    refreshAudit();
  });

  removable(exclusions, {
    rowKey: "data-exclusion-id", path: (id) => `/path-exclusions/${id}`, done: "Exclusion removed.",
    question: (name) => `Remove the path exclusion “${name}”? Files under its prefix can be deleted again.`,
    refresh: refreshExclusions, heading: "exclusions-title",
  });

  exclusionForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(exclusionForm);
    $("exclusion-error").textContent = "";
    const payload = {
      name: exclusionForm.elements.namedItem("name").value.trim(),
      path_prefix: exclusionForm.elements.namedItem("path_prefix").value.trim(),
    };
    const button = $("exclusion-add");
    button.disabled = true;
    try {
      await api("POST", "/path-exclusions", payload);
      exclusionForm.reset();
      toast("Exclusion added.");
      await refreshExclusions();
      exclusionForm.elements.namedItem("name").focus();
      refreshAudit();
    } catch (error) {
      const { first, rest } = showFieldErrors(exclusionForm, (error.details || {}).fields, "error-exclusion-");
      $("exclusion-error").textContent = leftover(rest) || (first ? "" : describe(error));
      if (first) first.focus();
    } finally {
      button.disabled = false;
    }
  });

  exclusionForm.addEventListener("input", (event) => {
    const input = event.target.closest("[name]");
    if (!input) return;
    input.removeAttribute("aria-invalid");
    const box = $(`error-exclusion-${input.name}`);
    if (box) box.textContent = "";
  });

  // --- keep markers and saved views ------------------------------------------------------------

  const markers = $("keep-markers").tBodies[0];
  const views = $("saved-views").tBodies[0];

  function markerRow(m) {
    const label = m.title || m.candidate_id;
    return el("tr", { "data-marker-id": m.id },
      el("th", { scope: "row", text: label }),
      el("td", {}, `${m.target_type} `, el("span", { class: "muted", text: m.candidate_id })),
      el("td", { text: m.note || "" }),
      el("td", { class: "hide-narrow", text: time(m.created_at) }),
      el("td", {}, el("button", { type: "button", "data-action": "remove", "aria-label": `Remove keep marker for ${label}`, text: "Remove" })),
    );
  }

  function viewRow(v) {
    return el("tr", { "data-view-id": v.id },
      el("th", { scope: "row", text: v.name }),
      el("td", { text: v.scope }),
      el("td", { class: "hide-narrow" }, el("code", { class: "compact", text: JSON.stringify(v.filters) })),
      el("td", {}, el("div", { class: "actions row-actions" },
        el("a", { href: `${base}/candidates?saved_view_id=${v.id}`, text: "Open" }),
        el("button", { type: "button", "data-action": "remove", "aria-label": `Remove saved view ${v.name}`, text: "Remove" }))),
    );
  }

  async function refreshMarkers() {
    let items;
    try { ({ items } = await api("GET", "/keep-markers")); } catch (error) { toast(describe(error)); return; }
    rerender(markers, items.length ? items.map(markerRow) : [emptyRow(5, "No keep markers.")], "data-marker-id", "markers-title");
  }

  async function refreshViews() {
    let items;
    try { ({ items } = await api("GET", "/saved-views")); } catch (error) { toast(describe(error)); return; }
    rerender(views, items.length ? items.map(viewRow)
      : [emptyRow(4, "No saved views. Save one from the Candidates page.")], "data-view-id", "views-title");
  }

  removable(markers, {
    rowKey: "data-marker-id", path: (id) => `/keep-markers/${id}`, done: "Keep marker removed.",
    question: (name) => `Remove the keep marker on “${name}”? It can become a deletion candidate again.`,
    refresh: refreshMarkers, heading: "markers-title",
  });
  removable(views, {
    rowKey: "data-view-id", path: (id) => `/saved-views/${id}`, done: "Saved view removed.",
    question: (name) => `Remove the saved view “${name}”?`, refresh: refreshViews, heading: "views-title",
  });

  // --- audit log -------------------------------------------------------------------------------

  const audit = $("audit").tBodies[0];
  const older = $("audit-older");
  const PAGE = 50;

  function auditRow(e) {
    const payload = e.payload || {};
    const compact = JSON.stringify(payload);
    const who = e.operator_id ? `operator #${e.operator_id}` : (payload.actor && payload.actor.channel) || "system";
    return el("tr", { "data-event-id": e.id },
      el("td", { text: time(e.occurred_at) }),
      el("td", {}, el("code", { text: e.event_name })),
      el("td", { class: "hide-narrow", text: who }),
      el("td", { class: "hide-narrow" }, el("code", { class: "compact", text: e.correlation_id || "—" })),
      el("td", {}, el("details", {},
        el("summary", {}, el("code", { class: "compact", text: compact.length > 65 ? compact.slice(0, 59) + "…" : compact })),
        el("pre", { text: JSON.stringify(payload, null, 2) }))),
    );
  }

  const shownIds = () => [...audit.querySelectorAll("tr[data-event-id]")].map((row) => Number(row.dataset.eventId));

  // Newest events on top; a gap (a full page of newer ones) starts the list afresh.
  async function refreshAudit() {
    try {
      const { events } = await api("GET", `/audit-events?limit=${PAGE}`);
      const ids = shownIds();
      const newest = ids.length ? Math.max(...ids) : 0;
      const fresh = events.filter((e) => e.id > newest);
      if (!ids.length || fresh.length === events.length) {
        audit.replaceChildren(...(events.length ? events.map(auditRow) : [emptyRow(5, "No audit events.")]));
        older.hidden = events.length < PAGE;
      } else {
        audit.prepend(...fresh.map(auditRow));
      }
    } catch (error) {
      toast(describe(error));
    }
  }

  older.addEventListener("click", async () => {
    const ids = shownIds();
    if (!ids.length) { older.hidden = true; return; }
    older.disabled = true;
    try {
      const { events } = await api("GET", `/audit-events?limit=${PAGE}&before_id=${Math.min(...ids)}`);
      audit.append(...events.map(auditRow));
      if (events.length < PAGE) {
        older.hidden = true;
        $("audit-refresh").focus();
      }
    } catch (error) {
      toast(describe(error));
    } finally {
      older.disabled = false;
    }
  });

  $("audit-refresh").addEventListener("click", refreshAudit);
})();
