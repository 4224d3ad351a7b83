// The dashboard: small DOM helpers. (app.js says how the modules fit.)
import { LEVELS, api } from "./api.js";

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value" || k === "checked" || k === "disabled" || k === "selected") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export let uid = 0;
export const nextId = (p) => `${p}-${++uid}`;

/** A labelled input; `attrs` go on the input. Returns [wrapper, input, setError]. */
export function field(labelText, attrs = {}, hintText = "") {
  const id = nextId("f");
  const err = h("p", { class: "error", id: id + "-err", hidden: true });
  const input = h(attrs.tag || "input", { type: "text", ...attrs, tag: null, id, "aria-describedby": id + "-err" });
  const wrap = h("div", {}, h("label", { for: id }, labelText), input, hintText ? h("p", { class: "hint" }, hintText) : null, err);
  const setError = (msg) => {
    err.hidden = !msg;
    err.textContent = msg || "";
    input.setAttribute("aria-invalid", msg ? "true" : "false");
  };
  return [wrap, input, setError];
}

// `allowed`: the levels the server says this user may give (a label's may.grant_levels); the current value is
// shown even when it is not one of them.
export function levelSelect(value, allowed = LEVELS.map(([v]) => v), id) {
  const sel = h("select", { id });
  for (const [v, name, what] of LEVELS) {
    if (!allowed.includes(v) && v !== value) continue;
    sel.append(h("option", { value: v, selected: v === value }, `${name}: ${what}`));
  }
  return sel;
}

/** Replaces `el`'s children by `kids`, skipping null, undefined and false as h() does (the DOM's own
 * replaceChildren would print them as "null"). */
export function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** A notice; one that reports something not done stays until it is closed. `action` ({ text, run }) adds a
 * button (Undo) and keeps the notice up longer, so there is time to use it. */
export function toast(msg, { lasting = false, action = null } = {}) {
  // One at a time: a newer notice replaces the one still showing rather than stacking over it.
  document.querySelectorAll(".toast").forEach((old) => old.remove());
  const t = h("div", { class: lasting ? "toast warn" : "toast", role: lasting ? "alert" : "status" }, msg,
    action ? h("button", { type: "button", class: "link", onclick: () => { t.remove(); action.run(); } }, action.text) : null,
    lasting ? h("button", { type: "button", class: "link", onclick: () => t.remove() }, "Close") : null);
  t.dataset.page = location.hash;
  // While a modal dialog is open the rest of the page is inert (hidden from screen readers): the notice goes in it.
  (document.querySelector("dialog[open]") || document.body).append(t);
  if (!lasting) setTimeout(() => t.remove(), action ? 12000 : 4000);
}

export function initials(name) {
  const parts = (name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** A contact's avatar: its photo when it has one, else its initials. */
export function avatar(c, base) {
  if (c.has_photo) {
    return h("img", { class: "avatar", alt: "", src: `/api/v1${base}/contacts/${c.id}/photo?v=${encodeURIComponent(c.etag)}`, loading: "lazy" });
  }
  return h("span", { class: "avatar", "aria-hidden": "true" }, initials(c.full_name));
}

export function contactMeta(c) {
  return [c.emails[0] && c.emails[0].value, c.phones[0] && c.phones[0].value, c.organization].filter(Boolean).join(" · ");
}

export const app = () => document.getElementById("app");
