// The dashboard: The dashboard's state, constants and API client. (app.js says how the modules fit.)
import { h } from "./dom.js";
import { renderLogin } from "./views/login.js";

export const LEVELS = [
  ["view", "View", "see the label's contacts"],
  ["edit", "Add and edit", "also add contacts and change them"],
  ["delete", "Delete", "also take contacts off the label"],
  ["share", "Share", "also invite and manage collaborators"],
];
export const DEVICES_TOGGLE = "Sync these contacts with my devices and Outlook";

export const state = { csrf: null, me: null, labels: [], invitations: [], view: null, events: null, googleRedraw: null };

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `the server answered ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  /** The message for one field (a JSON path such as `emails[1].value`), if the server named it. */
  field(name) {
    const e = (this.problem.errors || []).find((f) => f.field === name);
    return e && e.message;
  }
}

/** What to show for an error next to `name`: the server's message for that field, else the error's own. */
export function msgFor(e, name) {
  return (e instanceof ApiError && e.field(name)) || e.message;
}

export async function api(method, path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  const r = await fetch("/api/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const type = r.headers.get("content-type") || "";
  const data = r.status === 204 ? null : type.includes("json") ? await r.json() : null;
  if (!r.ok) {
    // No session any more: the marker that says there is one goes too.
    if (r.status === 401) document.cookie = "lb_signed_in=; Max-Age=0; Path=/; SameSite=Lax";
    if (r.status === 401 && path !== "/session") {
      state.me = null;
      renderLogin("Your session has ended; sign in again.");
    }
    throw new ApiError(r.status, data);
  }
  return data;
}

/** Runs `fn` over `items`, `n` at a time: many requests without one connection per item at once. The answers,
 * in order, as { ok, value } or { ok: false, error }. */
export async function inBatches(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try { out[i] = { ok: true, value: await fn(items[i]) }; } catch (error) { out[i] = { ok: false, error }; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** A POST whose answer is a file: saved under the name the server gives. */
export async function downloadPost(path, body, fallbackName) {
  const r = await fetch("/api/v1" + path, { method: "POST", credentials: "same-origin",
    headers: { "content-type": "application/json", "x-csrf-token": state.csrf || "" }, body: JSON.stringify(body) });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  const name = /filename="([^"]+)"/.exec(r.headers.get("content-disposition") || "")?.[1] || fallbackName;
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
