// Shared by every page: calling the JSON API with the CSRF token, asking for the password again
// when a sensitive action needs it, formatting, a small poller for live parts and the sync
// progress panel that several pages show.
"use strict";

const cullarr = (() => {
  const body = document.body;
  const base = body.dataset.base || "";
  const csrf = body.dataset.csrf || "";

  class ApiError extends Error {
    constructor(status, error) {
      super(error.message || `request failed (${status})`);
      this.status = status;
      this.code = error.code || "internal_error";
      this.details = error.details || {};
      this.correlationId = error.correlation_id;
    }
  }

  async function request(method, path, payload) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
      if (payload !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(payload);
      }
    }
    const response = await fetch(base + "/api/v1" + path, init);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (response.status === 401 && path !== "/security/re-auth") {
      // The session ended (sign-out elsewhere, restart, password change): sign in again.
      location.assign(`${base}/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    if (!response.ok) {
      const error = (data && data.error) || { message: response.statusText };
      throw new ApiError(response.status, error);
    }
    return data;
  }

  // One API call; a "confirm your password" refusal opens the dialog and retries once.
  async function api(method, path, payload) {
    try {
      return await request(method, path, payload);
    } catch (error) {
      if (!(error instanceof ApiError) || !error.details.reauth_required) throw error;
      await reauthenticate(error.message);
      return request(method, path, payload);
    }
  }

  function reauthenticate(message) {
    const dialog = document.getElementById("reauth-dialog");
    const form = document.getElementById("reauth-form");
    const input = document.getElementById("reauth-password");
    const errorBox = document.getElementById("reauth-error");
    document.getElementById("reauth-message").textContent = message;
    errorBox.textContent = "";
    input.value = "";
    return new Promise((resolve, reject) => {
      const cancel = () => { cleanup(); dialog.close(); reject(new Error("canceled")); };
      const submit = async (event) => {
        event.preventDefault();
        try {
          await request("POST", "/security/re-auth", { password: input.value });
          cleanup(); dialog.close(); resolve();
        } catch (error) {
          errorBox.textContent = error.message;
          input.focus();
        }
      };
      const cleanup = () => {
        form.removeEventListener("submit", submit);
        document.getElementById("reauth-cancel").removeEventListener("click", cancel);
        dialog.removeEventListener("cancel", cancel);
      };
      form.addEventListener("submit", submit);
      document.getElementById("reauth-cancel").addEventListener("click", cancel);
      dialog.addEventListener("cancel", cancel);
      dialog.showModal();
      input.focus();
    });
  }

  function toast(text) {
    const box = document.getElementById("toast");
    box.textContent = text;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.textContent = ""; }, 6000);
  }

  // A failure as the user should read it: message plus the code to look up.
  function describe(error) {
    if (error instanceof ApiError) return `${error.message} (${error.code})`;
    return error.message;
  }

  function bytes(value) {
    if (value === null || value === undefined) return "—";
    let size = Number(value);
    for (const unit of ["B", "KB", "MB", "GB", "TB"]) {
      if (Math.abs(size) < 1000 || unit === "TB") return unit === "B" ? `${size.toFixed(0)} B` : `${size.toFixed(1)} ${unit}`;
      size /= 1000;
    }
    return `${size.toFixed(1)} TB`;
  }

  function time(value) {
    if (!value) return "—";
    const d = new Date(value);
    if (isNaN(d)) return value;
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }

  // Calls fn every `ms` until it returns false; skips work while the tab is hidden and keeps
  // going after a failure. `ms` is a number or a function giving the next delay (asked before
  // each wait), for pages that poll fast while something runs and slowly otherwise.
  // Returns a function that stops it.
  function poll(fn, ms) {
    let stopped = false;
    const delay = () => (typeof ms === "function" ? ms() : ms);
    const tick = async () => {
      if (stopped) return;
      let again = true;
      if (!document.hidden) {
        try { again = (await fn()) !== false; } catch (e) { again = true; }
      }
      if (again && !stopped) setTimeout(tick, delay());
    };
    setTimeout(tick, delay());
    return () => { stopped = true; };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "href" || key === "type" || key === "name" || key === "value" || key === "id" || key === "tabindex" || key === "role") node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The sync_progress macro's panel (_macros.html) showing a sync run, or hidden without one.
  function renderSyncProgress(run) {
    const panel = document.getElementById("sync-progress");
    if (!panel) return;
    if (!run) { panel.hidden = true; panel.dataset.runId = ""; return; }
    const progress = run.progress || {};
    const value = progress.percent || 0;
    panel.hidden = false;
    panel.dataset.runId = run.id;
    panel.dataset.status = run.status;
    document.getElementById("sync-progress-bar").value = value;
    document.getElementById("sync-progress-percent").textContent = `${value}%`;
    document.getElementById("sync-progress-label").textContent =
      `Sync #${run.id}: ${run.status}${run.phase ? ", " + run.phase : ""}`;
    document.getElementById("sync-phases").replaceChildren(...Object.entries(progress.phases || {}).map(([name, phase]) => el(
      "li", { "data-phase": name, class: `phase-${phase.state}` }, name, " ",
      el("span", { class: "muted", text: phase.state + (phase.total_units ? ` · ${phase.processed_units}/${phase.total_units}` : "") }),
    )));
  }

  return { api, ApiError, base, bytes, describe, el, poll, renderSyncProgress, time, toast };
})();
