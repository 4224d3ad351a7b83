// The dashboard: the shell: sidebar and main. (app.js says how the modules fit.)
import { api, state } from "./api.js";
import { app, fill, h } from "./dom.js";
import { renderLogin } from "./views/login.js";
import { renderBook } from "./views/book.js";
import { renderTrash } from "./views/history.js";
import { renderDuplicates } from "./views/duplicates.js";
import { renderWizard } from "./views/wizard.js";
import { renderInvitations } from "./views/invitations.js";
import { renderDevices } from "./views/devices.js";
import { renderAdmin } from "./views/admin.js";
import { renderSettings } from "./views/settings.js";
import { renderInvite } from "./views/invite.js";

export async function refreshSidebar() {
  const [me, labels, invitations] = await Promise.all([api("GET", "/me"), api("GET", "/labels"), api("GET", "/invitations")]);
  state.me = me;
  state.labels = labels.items;
  state.invitations = invitations.items;
  renderSidebar();
}

/** Two people: a label shared with someone. */
export function sharedIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "shared-icon");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "shared");
  const title = document.createElementNS(ns, "title");
  title.textContent = "Shared";
  const path = document.createElementNS(ns, "path");
  path.setAttribute("fill", "currentColor");
  path.setAttribute("d", "M5.5 7.5a2.5 2.5 0 1 0 0-5 2.5 2.5 0 0 0 0 5Zm5.5 0a2 2 0 1 0 0-4 2 2 0 0 0 0 4ZM1 13c0-2.2 2-3.8 4.5-3.8S10 10.8 10 13v.5H1V13Zm10-3.6c2.1 0 4 1.3 4 3.3v.8h-4v-.5c0-1.4-.6-2.6-1.5-3.4.5-.1 1-.2 1.5-.2Z");
  svg.append(title, path);
  return svg;
}

export function navLink(href, text, extra) {
  const current = location.hash === href || (href === "#/book/contacts" && (location.hash === "" || location.hash === "#/"));
  return h("a", { href, "aria-current": current ? "page" : null }, h("span", {}, text), extra);
}

export function renderSidebar() {
  const side = document.getElementById("sidebar");
  if (!side || !state.me) return;
  const me = state.me;
  const pending = state.invitations.length;
  fill(side, 
    h("div", { class: "brand" }, h("img", { src: "/assets/icon.svg", alt: "" }), "Labelbook"),
    h("nav", { class: "nav", "aria-label": "Address books" },
      navLink("#/book/contacts", "My contacts", h("span", { class: "count" }, me.my_contacts.contact_count)),
      h("div", { class: "nav-title" }, h("span", { id: "labels-title" }, "Labels"),
        h("button", { type: "button", "aria-label": "New label", title: "New label", onclick: () => (location.hash = "#/new") }, "+")),
      h("div", { role: "list", "aria-labelledby": "labels-title" },
        state.labels.map((l) =>
          h("div", { role: "listitem" }, navLink(`#/book/${l.id}`, l.name, [l.shared ? sharedIcon() : null,
            h("span", { class: "count", "aria-label": `${l.contact_count} contacts` }, l.contact_count)])))),
      state.labels.length ? null : h("p", { class: "hint" }, "No label yet: “+” makes one."),
      h("div", { class: "nav-title" }, "You"),
      navLink("#/invitations", "Invitations", pending ? h("span", { class: "badge", "aria-label": `${pending} waiting` }, pending) : null),
      navLink("#/duplicates", "Duplicates"),
      navLink("#/trash", "Trash"),
      navLink("#/devices", "Devices"),
      me.is_admin ? [h("div", { class: "nav-title" }, "Server"), navLink("#/admin", "People and domains"), navLink("#/settings", "Settings")] : null,
    ),
    h("div", { class: "me" }, me.email, " ",
      h("button", { class: "link", type: "button", onclick: signOut }, "Sign out")),
  );
}

export async function signOut() {
  try {
    await api("DELETE", "/session");
  } catch (e) {
    /* signed out already */
  }
  state.csrf = null;
  state.me = null;
  renderLogin();
}

/** Opens or closes the navigation drawer (small screens; on wide ones the sidebar is always shown). */
export function setMenu(open) {
  const shellEl = document.querySelector(".shell");
  const button = document.getElementById("menu-button");
  if (!shellEl || !button) return;
  shellEl.classList.toggle("menu-open", open);
  button.setAttribute("aria-expanded", String(open));
  if (open) document.querySelector("#sidebar a, #sidebar button")?.focus();
}

export function shell() {
  let main = document.getElementById("main");
  if (!main) {
    const menu = h("button", { type: "button", id: "menu-button", class: "menu-button", "aria-controls": "sidebar", "aria-expanded": "false",
      onclick: () => setMenu(!document.querySelector(".shell").classList.contains("menu-open")) }, h("span", { "aria-hidden": "true" }, "☰"), " Menu");
    fill(app(), h("div", { class: "shell", onkeydown: (ev) => {
      if (ev.key === "Escape" && document.querySelector(".shell.menu-open")) { setMenu(false); document.getElementById("menu-button").focus(); }
    } },
      h("header", { class: "topbar" }, menu, h("span", { class: "brand" }, h("img", { src: "/assets/icon.svg", alt: "" }), "Labelbook")),
      h("aside", { id: "sidebar", class: "sidebar" }),
      h("div", { class: "backdrop", onclick: () => setMenu(false) }),
      h("main", { id: "main", tabindex: "-1" })));
    main = document.getElementById("main");
  }
  renderSidebar();
  return main;
}

export async function route() {
  if (!state.me) return;
  state.view = null;
  // Each visit draws into a page of its own: a slower, earlier visit still loading draws into its own
  // (detached) page, never over this one.
  const page = h("div", {});
  fill(shell(), page);
  const hash = location.hash || "#/book/contacts";
  const [, name, arg] = hash.split("/");
  try {
    if (name === "book") await renderBook(page, decodeURIComponent(arg || "contacts"));
    else if (name === "new") renderWizard(page);
    else if (name === "invitations") await renderInvitations(page);
    else if (name === "devices") await renderDevices(page, arg);
    else if (name === "trash") await renderTrash(page);
    else if (name === "duplicates") await renderDuplicates(page);
    else if (name === "admin") await renderAdmin(page);
    else if (name === "settings") await renderSettings(page);
    else if (name === "invite") await renderInvite(page, decodeURIComponent(arg || ""));
    else await renderBook(page, "contacts");
  } catch (e) {
    if (e.status === 401) return;
    fill(page, h("div", { class: "panel" }, h("h1", {}, "Not available"), h("p", { class: "error", role: "alert" }, e.message)));
  }
}
