// Labelbook's dashboard: one module, no build step, talking only to /api/v1. Everything a contact or a
// collaborator wrote reaches the page as text nodes (never as HTML), and the server's policy allows no inline
// script: what one collaborator types cannot run in another's browser.

const LEVELS = [
  ["view", "View", "see the label's contacts"],
  ["edit", "Add and edit", "also add contacts and change them"],
  ["delete", "Delete", "also take contacts off the label"],
  ["share", "Share", "also invite and manage collaborators"],
];
const DEVICES_TOGGLE = "Sync these contacts with my devices and Outlook";

const state = { csrf: null, me: null, labels: [], invitations: [], view: null, events: null, googleRedraw: null };

class ApiError extends Error {
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
function msgFor(e, name) {
  return (e instanceof ApiError && e.field(name)) || e.message;
}

async function api(method, path, body, extraHeaders = {}) {
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
async function inBatches(items, n, fn) {
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
async function downloadPost(path, body, fallbackName) {
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

// ---- small DOM helpers ----

function h(tag, props, ...children) {
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

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

/** A labelled input; `attrs` go on the input. Returns [wrapper, input, setError]. */
function field(labelText, attrs = {}, hintText = "") {
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
function levelSelect(value, allowed = LEVELS.map(([v]) => v), id) {
  const sel = h("select", { id });
  for (const [v, name, what] of LEVELS) {
    if (!allowed.includes(v) && v !== value) continue;
    sel.append(h("option", { value: v, selected: v === value }, `${name}: ${what}`));
  }
  return sel;
}

/** Replaces `el`'s children by `kids`, skipping null, undefined and false as h() does (the DOM's own
 * replaceChildren would print them as "null"). */
function fill(el, ...kids) {
  el.replaceChildren(...kids.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** A notice; one that reports something not done stays until it is closed. `action` ({ text, run }) adds a
 * button (Undo) and keeps the notice up longer, so there is time to use it. */
function toast(msg, { lasting = false, action = null } = {}) {
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

function initials(name) {
  const parts = (name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** A contact's avatar: its photo when it has one, else its initials. */
function avatar(c, base) {
  if (c.has_photo) {
    return h("img", { class: "avatar", alt: "", src: `/api/v1${base}/contacts/${c.id}/photo?v=${encodeURIComponent(c.etag)}`, loading: "lazy" });
  }
  return h("span", { class: "avatar", "aria-hidden": "true" }, initials(c.full_name));
}

function contactMeta(c) {
  return [c.emails[0] && c.emails[0].value, c.phones[0] && c.phones[0].value, c.organization].filter(Boolean).join(" · ");
}

const app = () => document.getElementById("app");

// ---- sign in ----

function renderLogin(message) {
  stopListening();
  const [emailWrap, email, emailErr] = field("E-mail", { type: "email", autocomplete: "username", required: true });
  const [passWrap, pass, passErr] = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const formErr = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (ev) => {
        ev.preventDefault();
        emailErr(null);
        passErr(null);
        formErr.hidden = true;
        submit.disabled = true;
        try {
          const s = await api("POST", "/session", { email: email.value, password: pass.value });
          state.csrf = s.csrf_token;
          await start();
        } catch (e) {
          submit.disabled = false;
          if (e instanceof ApiError && e.field("email")) emailErr(e.field("email"));
          else if (e.status === 401) passErr("Wrong e-mail or password.");
          else {
            formErr.textContent = e.message;
            formErr.hidden = false;
          }
        }
      },
    },
    h("h1", {}, "Labelbook"),
    h("p", { class: "hint" }, "Shared contacts, on every device."),
    formErr,
    emailWrap,
    passWrap,
    submit,
  );
  fill(app(), form);
  email.focus();
}

// ---- the shell: sidebar and main ----

async function refreshSidebar() {
  const [me, labels, invitations] = await Promise.all([api("GET", "/me"), api("GET", "/labels"), api("GET", "/invitations")]);
  state.me = me;
  state.labels = labels.items;
  state.invitations = invitations.items;
  renderSidebar();
}

/** Two people: a label shared with someone. */
function sharedIcon() {
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

function navLink(href, text, extra) {
  const current = location.hash === href || (href === "#/book/contacts" && (location.hash === "" || location.hash === "#/"));
  return h("a", { href, "aria-current": current ? "page" : null }, h("span", {}, text), extra);
}

function renderSidebar() {
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

async function signOut() {
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
function setMenu(open) {
  const shellEl = document.querySelector(".shell");
  const button = document.getElementById("menu-button");
  if (!shellEl || !button) return;
  shellEl.classList.toggle("menu-open", open);
  button.setAttribute("aria-expanded", String(open));
  if (open) document.querySelector("#sidebar a, #sidebar button")?.focus();
}

function shell() {
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

async function route() {
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

// ---- a book: My contacts or a label ----

async function renderBook(main, id) {
  const label = id === "contacts" ? state.me.my_contacts : await api("GET", `/labels/${encodeURIComponent(id)}`);
  const level = label.level;
  const may = label.may;
  const canEdit = may.add_contacts;
  const isLabel = id !== "contacts";
  const owner = label.owner.email === state.me.email;
  const base = isLabel ? `/labels/${label.id}` : "";
  const view = { items: [], cursor: null, q: "", sort: "name", selected: null };
  // Ticked contacts, by id (their names for the notices); kept across pages and searches until used or cleared.
  const chosen = new Map();
  const bulk = h("div", { class: "bulk", role: "toolbar", "aria-label": "Selected contacts", hidden: true });

  const list = h("ul", { class: "list", "aria-label": "Contacts" });
  const more = h("button", { type: "button", hidden: true, onclick: () => load(false) }, "Show more");
  const editorBox = h("div", {});
  const search = h("input", { type: "search", placeholder: "Search name, e-mail, phone, organization", "aria-label": "Search contacts" });
  const sort = h("select", { "aria-label": "Sort" }, h("option", { value: "name" }, "By name"), h("option", { value: "recent" }, "Recently changed"));
  const listErr = h("p", { class: "error", role: "alert", hidden: true });

  let activity = null;
  async function load(fresh) {
    if (fresh && activity) activity.reload();
    const params = new URLSearchParams({ limit: "100" });
    if (view.q) params.set("q", view.q);
    // The server orders the whole book, so "Show more" continues the same order.
    if (view.sort !== "name") params.set("sort", view.sort);
    if (!fresh && view.cursor) params.set("cursor", view.cursor);
    try {
      const page = await api("GET", `${base}/contacts?${params}`);
      view.items = fresh ? page.items : view.items.concat(page.items);
      view.cursor = page.next_cursor;
      listErr.hidden = true;
    } catch (e) {
      listErr.textContent = e.message;
      listErr.hidden = false;
    }
    drawList();
  }

  function drawList() {
    const items = view.items;
    fill(list, 
      ...items.map((c) =>
        h("li", { class: view.selected === c.id ? "selected clickable" : "clickable", onclick: (ev) => { if (!ev.target.closest("button, a, input")) openContact(c.id); } },
          h("input", { type: "checkbox", class: "pick", checked: chosen.has(c.id), "aria-label": `Select ${c.full_name || "(no name)"}`,
            onchange: (ev) => { if (ev.target.checked) chosen.set(c.id, c.full_name); else chosen.delete(c.id); drawBulk(); } }),
          avatar(c, base),
          h("div", { class: "who" }, h("div", { class: "name" }, c.full_name || "(no name)"), h("div", { class: "meta" }, contactMeta(c))),
          h("button", { type: "button", class: "link", "aria-label": `Open ${c.full_name}`, onclick: () => openContact(c.id) }, "Open"))),
    );
    if (!items.length) list.append(h("li", {}, h("span", { class: "hint" }, view.q ? "No contact matches." : "No contacts yet.")));
    more.hidden = !view.cursor;
    drawBulk();
  }

  // ---- what can be done to the ticked contacts at once ----
  const MAX_CHOSEN = 5000;
  const bookId = isLabel ? label.id : "contacts";
  const bulkErr = h("p", { class: "error", role: "alert", hidden: true });
  async function selectAllMatching() {
    const params = new URLSearchParams({ limit: "500" });
    if (view.q) params.set("q", view.q);
    if (view.sort !== "name") params.set("sort", view.sort);
    let cursor = null;
    do {
      if (cursor) params.set("cursor", cursor);
      const page = await api("GET", `${base}/contacts?${params}`);
      page.items.forEach((c) => { if (chosen.size < MAX_CHOSEN) chosen.set(c.id, c.full_name); });
      cursor = page.next_cursor;
    } while (cursor && chosen.size < MAX_CHOSEN);
    drawList();
  }
  async function addChosenTo(target) {
    const ids = [...chosen.keys()];
    let added = 0;
    const problems = new Set();
    for (let i = 0; i < ids.length; i += 500) {
      const r = await api("POST", `/labels/${target.id}/members`, { from: bookId, contact_ids: ids.slice(i, i + 500) });
      added += r.added;
      r.items.filter((x) => x.error).forEach((x) => problems.add(x.error));
    }
    chosen.clear();
    await refreshSidebar();
    await load(true);
    const msg = `Added ${added} to “${target.name}”.`;
    if (problems.size) toast(`${msg} Not added: ${ids.length - added} (${[...problems].join("; ")})`, { lasting: true });
    else toast(msg);
  }
  async function removeChosen() {
    const picked = [...chosen.entries()];
    // The trash can put them back for the owner (My contacts) and for managers (a label's removals): Undo then;
    // anyone else is asked first.
    const restorable = !isLabel || may.restore;
    if (!restorable && !confirm(`Remove ${picked.length} contacts from this label? Only its owner or a manager can put them back.`)) return;
    const results = await inBatches(picked, 6, ([id]) => api("DELETE", `${base}/contacts/${id}`));
    const gone = picked.filter((_, i) => results[i].ok);
    const failed = results.filter((r) => !r.ok).map((r) => r.error.message);
    chosen.clear();
    await refreshSidebar();
    await load(true);
    const what = isLabel ? `Removed ${gone.length} from the label.` : `Deleted ${gone.length}.`;
    const undo = async () => {
      let restore;
      if (isLabel) {
        const removals = new Map((await api("GET", "/trash")).removals.filter((r) => r.label_id === label.id).map((r) => [r.contact_id, r.id]));
        restore = ([id]) => api("POST", `/labels/${label.id}/removals/${removals.get(id)}/restore`);
      } else {
        restore = ([id]) => api("POST", `/trash/contacts/${id}/restore`);
      }
      const back = await inBatches(gone, 6, restore);
      const missed = back.filter((r) => !r.ok).length;
      toast(missed ? `${gone.length - missed} are back; ${missed} could not be restored (see the trash).` : `All ${gone.length} are back.`, { lasting: Boolean(missed) });
      await refreshSidebar();
      if (state.view && state.view.reload) await state.view.reload();
    };
    if (failed.length) toast(`${what} Not done for ${failed.length}: ${[...new Set(failed)].join("; ")}`, { lasting: true });
    else toast(what, restorable && gone.length ? { action: { text: "Undo", run: undo } } : {});
  }
  function drawBulk() {
    bulk.hidden = chosen.size === 0;
    if (bulk.hidden) return;
    const targets = state.labels.filter((l) => l.may.add_contacts && l.id !== bookId);
    const pick = h("select", { "aria-label": "Label to add the selected contacts to" },
      h("option", { value: "" }, "Add to label…"), targets.map((l) => h("option", { value: l.id }, l.name)));
    const run = (fn) => async () => {
      bulkErr.hidden = true;
      try { await fn(); } catch (e) { bulkErr.textContent = e.message; bulkErr.hidden = false; }
    };
    pick.addEventListener("change", run(async () => {
      const target = targets.find((l) => l.id === pick.value);
      if (target) await addChosenTo(target);
    }));
    fill(bulk,
      h("span", { class: "count-chosen", role: "status" }, `${chosen.size} selected`),
      h("button", { type: "button", class: "link", onclick: run(selectAllMatching) }, view.q ? "Select all matching" : "Select all"),
      targets.length ? pick : null,
      may.remove_contacts ? h("button", { type: "button", class: "danger", onclick: run(removeChosen) }, isLabel ? "Remove from label" : "Delete") : null,
      h("button", { type: "button", onclick: run(() => downloadPost("/export", { book: bookId, format: "vcf", ids: [...chosen.keys()] }, "contacts.vcf")) }, "Export"),
      h("button", { type: "button", class: "link", onclick: () => { chosen.clear(); drawList(); } }, "Clear"),
      bulkErr);
  }

  // On a small screen a contact open replaces the list (CSS, by `.detail`), with a way back to it.
  let columns = null;
  function show(panel, detail) {
    columns?.classList.toggle("detail", Boolean(panel && detail));
    fill(editorBox, panel && detail ? h("button", { type: "button", class: "link narrow-only", onclick: () => afterEdit(null) }, "← Back to the list") : null, panel);
  }

  async function openContact(cid) {
    view.selected = cid;
    drawList();
    const r = await fetchContact(`${base}/contacts/${cid}`);
    const edit = () => show(contactEditor({ base, contact: r.contact, etag: r.etag, may, done: afterEdit }), true);
    show(contactCard({ base, contact: r.contact, etag: r.etag, may, isLabel, book: isLabel ? label.id : "contacts",
      owner: label.owner.email, edit, done: afterEdit }), true);
    editorBox.querySelector("h2")?.focus();
  }

  async function afterEdit(msg) {
    view.selected = null;
    show(null);
    if (msg) toast(msg);
    await Promise.all([load(true), refreshSidebar()]);
  }

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      view.q = search.value.trim();
      load(true);
    }, 200);
  });
  sort.addEventListener("change", () => {
    view.sort = sort.value;
    load(true);
  });

  const sub = isLabel
    ? owner
      ? "Your label"
      : `Shared by ${label.owner.display_name || label.owner.email} · your level: ${LEVELS.find((l) => l[0] === level)?.[1] || level}`
    : "Every contact you own";
  const headActions = h("div", { class: "row" },
    canEdit ? h("button", { type: "button", class: "primary", onclick: () => show(contactEditor({ base, contact: null, may, done: afterEdit }), true) }, "New contact") : null,
    isLabel && canEdit ? h("button", { type: "button", onclick: () => fill(editorBox, existingPicker(label, afterEdit)) }, "Add existing contacts") : null,
    canEdit ? h("button", { type: "button", onclick: () => fill(editorBox, importPanel(label.id, afterEdit)) }, "Import") : null,
    h("a", { href: `/api/v1/export?book=${encodeURIComponent(label.id)}&format=vcf`, download: "" }, "Export .vcf"),
    h("a", { href: `/api/v1/export?book=${encodeURIComponent(label.id)}&format=csv`, download: "" }, "Export CSV"),
  );
  const view_ = { id: isLabel ? label.id : "contacts", level, name: label.name, reload: () => load(true), redraw: null };
  if (main.isConnected) state.view = view_;
  const panels = [];
  if (may.share) {
    const share = await sharePanel(label);
    view_.redraw = share.redraw;
    panels.push(share);
    headActions.prepend(h("button", { type: "button", class: "primary", onclick: share.open }, "Share"));
  }
  if (isLabel) {
    activity = activityPanel(label);
    panels.push(labelSettings(label), activity);
  }
  columns = h("div", { class: "columns" },
    h("section", { class: "panel list-panel", "aria-label": "Contacts" },
      h("div", { class: "row" }, h("div", { class: "grow" }, search), sort), bulk, listErr, list, more),
    h("div", {}, editorBox, h("div", { class: "side-panels" }, panels)));
  fill(main, 
    h("div", { class: "head" }, h("div", {}, h("h1", {}, label.name), h("p", { class: "sub" }, sub)), headActions),
    columns,
  );
  await load(true);
}

async function fetchContact(path) {
  const r = await fetch("/api/v1" + path, { credentials: "same-origin" });
  const data = await r.json();
  if (!r.ok) throw new ApiError(r.status, data);
  return { contact: data, etag: r.headers.get("etag") };
}

// ---- the contact editor ----

const PHONE_TYPES = ["cell", "work", "home", "main", "fax", "other"];
const EMAIL_TYPES = ["work", "home", "other"];

function multiField(title, key, items, types, inputType, errs) {
  const rows = h("div", { class: "multi" });
  const add = (item) => {
    const id = nextId(key);
    const input = h("input", { type: inputType, id, value: item.value || "", "aria-label": `${title} value` });
    const type = h("select", { "aria-label": `${title} type` }, types.map((t) => h("option", { value: t, selected: (item.types || [])[0] === t }, t)));
    const err = h("p", { class: "error", hidden: true });
    const row = h("div", {}, h("div", { class: "row" }, h("div", { class: "grow" }, input), type,
      h("button", { type: "button", class: "link", "aria-label": `Remove this ${title.toLowerCase()}`, onclick: () => row.remove() }, "Remove")), err);
    row.read = () => ({ value: input.value.trim(), types: [type.value] });
    row.showError = (m) => { err.hidden = !m; err.textContent = m || ""; };
    rows.append(row);
  };
  (items.length ? items : [{}]).forEach(add);
  const box = h("fieldset", { class: "fieldset" }, h("legend", {}, title), rows,
    h("button", { type: "button", class: "link", onclick: () => add({}) }, `+ Add ${title.toLowerCase()}`));
  box.read = () => [...rows.children].map((r) => r.read()).filter((v) => v.value);
  errs[key] = (index, msg) => {
    const filled = [...rows.children].filter((r) => r.read().value);
    (filled[index] || rows.children[0])?.showError(msg);
  };
  return box;
}

/** A contact as read: photo or initials, every field, the labels carrying it as chips, and what the reader may
 * do (Edit, Manage labels, History, Delete or Remove with an Undo in the notice where the trash can put it back). */
function contactCard({ base, contact: c, etag, may, isLabel, book, owner, edit, done }) {
  const name = c.full_name || "(no name)";
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const historyBox = h("div", {});
  const chips = h("ul", { class: "chips", "aria-label": "Labels" });
  const manageBox = h("div", {});
  let carrying = [];
  const typed = (x) => (x.types && x.types.length ? ` · ${x.types.join(", ")}` : "");
  const adrText = (a) => [a.street, [a.postal_code, a.locality].filter(Boolean).join(" "), a.region, a.country].filter(Boolean).join(", ");
  const webUrl = (u) => (/^https?:\/\//i.test(u) ? u : null);
  const fieldRows = (title, rows) => (rows.length ? h("div", { class: "card-field" }, h("h3", {}, title), h("ul", { class: "plain" }, rows)) : null);
  const photo = c.photo && /^data:image\/(jpeg|png|gif|webp);/.test(c.photo)
    ? h("img", { class: "avatar huge", alt: "", src: c.photo })
    : h("span", { class: "avatar huge", "aria-hidden": "true" }, initials(c.full_name));
  const drawChips = () => fill(chips, carrying.length ? carrying.map((l) => h("li", {}, h("a", { class: "chip", href: `#/book/${l.id}` }, l.name)))
    : h("li", { class: "hint" }, "On no label."));
  const loadLabels = async () => {
    try { carrying = (await api("GET", `${base}/contacts/${c.id}/labels`)).items; } catch (e) { carrying = []; }
    drawChips();
  };
  const reloadBook = async () => { await refreshSidebar(); if (state.view && state.view.reload) await state.view.reload(); };

  // Labels the contact may go on or come off: those of its owner where the reader may add or remove.
  const candidates = state.labels.filter((l) => l.owner.email === owner && (l.may.add_contacts || l.may.remove_contacts));
  const manage = () => {
    const problem = h("p", { class: "error", role: "alert", hidden: true });
    const boxes = candidates.map((l) => {
      const on = carrying.some((x) => x.id === l.id);
      const input = h("input", { type: "checkbox", checked: on, disabled: on ? !l.may.remove_contacts : !l.may.add_contacts,
        onchange: async () => {
          problem.hidden = true;
          input.disabled = true;
          try {
            if (input.checked) {
              const r = await api("POST", `/labels/${l.id}/members`, { from: book, contact_ids: [c.id] });
              const failed = r.items.find((i) => i.error);
              if (failed) throw new Error(failed.error);
            } else {
              await api("DELETE", `/labels/${l.id}/contacts/${c.id}`);
            }
          } catch (e) {
            input.checked = !input.checked;
            problem.textContent = e.message;
            problem.hidden = false;
          }
          input.disabled = false;
          await loadLabels();
          await reloadBook();
        } });
      return h("li", {}, h("label", { class: "inline" }, input, l.name));
    });
    fill(manageBox, h("fieldset", { class: "fieldset" }, h("legend", {}, "Labels for this contact"),
      h("ul", { class: "plain checks" }, boxes),
      problem, h("button", { type: "button", onclick: () => fill(manageBox) }, "Done")));
  };

  const remove = async () => {
    // Undo where the trash can put it back for this reader; otherwise ask first.
    const undo = !isLabel
      ? () => api("POST", `/trash/contacts/${c.id}/restore`)
      : may.restore
        ? async () => {
          const t = await api("GET", "/trash");
          const r = t.removals.find((x) => x.label_id === book && x.contact_id === c.id);
          if (!r) throw new Error("it is no longer in the trash");
          await api("POST", `/labels/${book}/removals/${r.id}/restore`);
        }
        : null;
    if (!undo && !confirm(`Remove ${name} from this label? Only its owner or a manager can put it back.`)) return;
    try {
      await api("DELETE", `${base}/contacts/${c.id}`, undefined, etag ? { "if-match": etag } : {});
    } catch (e) { err.textContent = e.status === 412 ? "Someone changed this contact meanwhile. Open it again." : e.message; err.hidden = false; return; }
    await done(null);
    toast(isLabel ? `Removed ${name} from the label.` : `Deleted ${name}.`, undo ? { action: { text: "Undo", run: async () => {
      try { await undo(); toast(`${name} is back.`); } catch (e) { toast(`Could not undo: ${e.message}`, { lasting: true }); }
      await reloadBook();
    } } } : {});
  };

  const card = h("section", { class: "panel card", "aria-label": `Contact ${name}`, onkeydown: (ev) => { if (ev.key === "Escape") done(null); } },
    h("div", { class: "card-head" }, photo,
      h("div", { class: "grow" }, h("h2", { tabindex: "-1" }, name),
        h("p", { class: "sub" }, [c.title, c.organization, c.department].filter(Boolean).join(" · ")),
        c.nickname ? h("p", { class: "hint" }, `Also known as ${c.nickname}`) : null)),
    chips,
    fieldRows("E-mail", c.emails.map((e) => h("li", {}, h("a", { href: `mailto:${e.value}` }, e.value), typed(e)))),
    fieldRows("Phone", c.phones.map((t) => h("li", {}, h("a", { href: `tel:${t.value.replace(/[^+0-9]/g, "")}` }, t.value), typed(t)))),
    fieldRows("Address", c.addresses.map((a) => h("li", {}, adrText(a), typed(a)))),
    fieldRows("Website", c.urls.map((u) => h("li", {}, webUrl(u.value) ? h("a", { href: u.value, rel: "noopener noreferrer", target: "_blank" }, u.value) : u.value))),
    c.birthday ? fieldRows("Birthday", [h("li", {}, c.birthday)]) : null,
    c.note ? fieldRows("Notes", [h("li", { class: "note" }, c.note)]) : null,
    err,
    h("div", { class: "actions" },
      may.edit_contacts ? h("button", { type: "button", class: "primary", onclick: edit }, "Edit") : null,
      candidates.length ? h("button", { type: "button", onclick: manage }, "Manage labels") : null,
      h("button", { type: "button", onclick: async () => fill(historyBox, await contactHistory(c)) }, "History"),
      may.remove_contacts ? h("button", { type: "button", class: "danger", onclick: remove }, isLabel ? "Remove from label" : "Delete") : null,
      h("button", { type: "button", onclick: () => done(null) }, "Close")),
    manageBox, historyBox);
  loadLabels();
  return card;
}

function contactEditor({ base, contact, etag, may, done }) {
  const c = contact || { name: {}, emails: [], phones: [], addresses: [], urls: [] };
  const canEdit = contact ? may.edit_contacts : may.add_contacts;
  const errs = {};
  const f = {};
  const text = (key, label, value, attrs = {}) => {
    const [wrap, input, setErr] = field(label, { value: value || "", disabled: !canEdit, ...attrs });
    f[key] = input;
    errs[key] = (_, m) => setErr(m);
    return wrap;
  };
  const adr = (c.addresses && c.addresses[0]) || {};
  const emails = multiField("E-mail", "emails", c.emails || [], EMAIL_TYPES, "email", errs);
  const phones = multiField("Phone", "phones", c.phones || [], PHONE_TYPES, "tel", errs);
  const urls = multiField("Website", "urls", c.urls || [], ["work", "home", "other"], "url", errs);
  const formErr = h("p", { class: "error", role: "alert", hidden: true });
  const historyBox = h("div", {});
  // The photo: undefined leaves it as it is, "" removes it, a data: URL replaces it.
  let photo;
  const photoId = nextId("photo");
  const photoShown = h("img", { class: "avatar big", alt: "", hidden: !c.photo, src: c.photo && c.photo.startsWith("data:") ? c.photo : null });
  const photoInput = h("input", { type: "file", id: photoId, accept: "image/*", disabled: !canEdit });
  const photoErr = h("p", { class: "error", hidden: true });
  photoInput.addEventListener("change", async () => {
    photoErr.hidden = true;
    try {
      photo = await shrink(photoInput.files[0]);
      photoShown.src = photo;
      photoShown.hidden = false;
    } catch (e) { photoErr.textContent = e.message; photoErr.hidden = false; }
  });
  errs.photo = (_, m) => { photoErr.hidden = !m; photoErr.textContent = m || ""; };
  const photoBox = h("div", { class: "row" }, photoShown, h("div", { class: "grow" }, h("label", { for: photoId }, "Photo"), photoInput, photoErr),
    canEdit && c.photo ? h("button", { type: "button", class: "link", onclick: () => { photo = ""; photoShown.hidden = true; } }, "Remove photo") : null);
  const save = h("button", { type: "submit", class: "primary", disabled: !canEdit }, contact ? "Save" : "Add contact");

  function patch() {
    const address = ["street", "locality", "region", "postal_code", "country"].reduce((a, k) => ((a[k] = f["adr_" + k].value.trim()), a), {});
    const hasAddress = Object.values(address).some(Boolean);
    const body = {
      name: { given: f.given.value.trim(), family: f.family.value.trim() },
      organization: f.organization.value.trim(),
      title: f.title.value.trim(),
      emails: emails.read(),
      phones: phones.read(),
      urls: urls.read(),
      birthday: f.birthday.value.trim(),
      note: f.note.value,
    };
    if (photo !== undefined) body.photo = photo;
    // Only the first address is edited here; the others are kept as they are.
    const others = (c.addresses || []).slice(1);
    if (hasAddress || (c.addresses || []).length) body.addresses = hasAddress ? [{ ...adr, ...address, types: adr.types || ["work"] }, ...others] : others;
    return body;
  }

  function showErrors(e) {
    let shown = false;
    for (const { field: path, message } of e.problem.errors || []) {
      const m = /^(\w+)(?:\[(\d+)\])?/.exec(path);
      const key = m && (m[1] === "name" ? path.split(".")[1] || "given" : m[1]);
      const target = errs[key] || (m && errs[m[1]]);
      if (target) {
        target(Number(m[2] || 0), message);
        shown = true;
      }
    }
    if (!shown) {
      formErr.textContent = e.status === 412 ? "Someone changed this contact meanwhile. Open it again to see their change." : e.message;
      formErr.hidden = false;
    }
  }

  const form = h("form", {
    class: "panel",
    "aria-label": contact ? `Edit ${c.full_name}` : "New contact",
    onkeydown: (ev) => { if (ev.key === "Escape") done(null); },
    onsubmit: async (ev) => {
      ev.preventDefault();
      Object.values(errs).forEach((fn) => fn(0, null));
      formErr.hidden = true;
      save.disabled = true;
      try {
        if (contact) await api("PATCH", `${base}/contacts/${contact.id}`, patch(), etag ? { "if-match": etag } : {});
        else await api("POST", `${base}/contacts`, patch());
        await done(contact ? "Saved" : "Contact added");
      } catch (e) {
        save.disabled = false;
        if (!(e instanceof ApiError)) { formErr.textContent = e.message; formErr.hidden = false; }
        else if (e.status !== 401) showErrors(e);
      }
    },
  },
    h("h2", {}, contact ? c.full_name || "Contact" : "New contact"),
    photoBox,
    h("div", { class: "row" }, h("div", { class: "grow" }, text("given", "First name", c.name && c.name.given, { autocomplete: "off" })),
      h("div", { class: "grow" }, text("family", "Last name", c.name && c.name.family))),
    h("div", { class: "row" }, h("div", { class: "grow" }, text("organization", "Organization", c.organization)),
      h("div", { class: "grow" }, text("title", "Job title", c.title))),
    emails, phones,
    h("fieldset", { class: "fieldset" }, h("legend", {}, "Address"),
      text("adr_street", "Street", adr.street), h("div", { class: "row" },
        h("div", { class: "grow" }, text("adr_postal_code", "Postal code", adr.postal_code)),
        h("div", { class: "grow" }, text("adr_locality", "City", adr.locality))),
      h("div", { class: "row" }, h("div", { class: "grow" }, text("adr_region", "Region", adr.region)),
        h("div", { class: "grow" }, text("adr_country", "Country", adr.country)))),
    text("birthday", "Birthday", c.birthday, { placeholder: "YYYY-MM-DD or --MM-DD" }),
    urls,
    text("note", "Notes", c.note, { tag: "textarea" }),
    formErr,
    h("div", { class: "actions" },
      contact ? h("button", { type: "button", onclick: async () => fill(historyBox, await contactHistory(contact)) }, "History") : null,
      h("button", { type: "button", onclick: () => done(null) }, contact ? "Cancel" : "Close"),
      save),
    historyBox,
  );
  return form;
}

// ---- import ----

function importPanel(book, done) {
  const fileId = nextId("file");
  const file = h("input", { type: "file", id: fileId, accept: ".vcf,.vcard,.csv,text/vcard,text/csv" });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const bar = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Import progress" });
  const status = h("p", { class: "hint", role: "status" });
  const result = h("div", {});
  const start = h("button", { type: "submit", class: "primary" }, "Start import");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    fill(result, );
    const f = file.files[0];
    if (!f) { err.textContent = "Choose a file first."; err.hidden = false; return; }
    start.disabled = true;
    try {
      const r = await fetch(`/api/v1/imports?book=${encodeURIComponent(book)}&name=${encodeURIComponent(f.name)}`, {
        method: "POST", body: f, credentials: "same-origin",
        headers: { "content-type": f.type || "application/octet-stream", "x-csrf-token": state.csrf || "" },
      });
      const body = await r.json();
      if (!r.ok) throw new ApiError(r.status, body);
      bar.hidden = false;
      let job = body;
      while (job.status === "running") {
        bar.max = String(Math.max(job.total, 1));
        bar.value = String(job.done);
        status.textContent = `${job.done} of ${job.total}…`;
        await new Promise((res) => setTimeout(res, 400));
        job = await api("GET", `/imports/${job.id}`);
      }
      bar.value = bar.max;
      status.textContent = job.status === "done" ? `Imported: ${job.created} new, ${job.updated} updated, ${job.failed} not imported.` : `The import failed: ${job.error}`;
      fill(result, 
        job.failures.length ? h("details", {}, h("summary", {}, `${job.failed} not imported`), h("ul", {}, job.failures.map((x) => h("li", {}, x)))) : null,
        job.unread_columns.length ? h("p", { class: "hint" }, `Columns no contact field takes (their values were not imported): ${job.unread_columns.join(", ")}`) : null,
      );
      start.disabled = false;
      await Promise.all([refreshSidebar(), state.view && state.view.reload()]);
    } catch (e) {
      start.disabled = false;
      err.textContent = e.message;
      err.hidden = false;
    }
  } },
    h("label", { for: fileId }, "A vCard file (.vcf), or a CSV exported from Google Contacts or Outlook"), file,
    h("p", { class: "hint" }, "Importing the same file again updates those contacts; it does not double them."),
    err, bar, status, result,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => done(null) }, "Close"), start));
  return h("section", { class: "panel", "aria-label": "Import" }, h("h2", {}, "Import contacts"), form);
}

// ---- history, activity, trash ----

const when = (t) => new Date(t).toLocaleString();
const SUMMARY = [
  ["full_name", "name", (f) => f.full_name],
  ["organization", "organization", (f) => f.organization],
  ["title", "job title", (f) => f.title],
  ["emails", "e-mail", (f) => f.emails.map((e) => e.value).join(", ")],
  ["phones", "phone", (f) => f.phones.map((e) => e.value).join(", ")],
  ["addresses", "address", (f) => f.addresses.map((a) => [a.street, a.locality, a.country].filter(Boolean).join(", ")).join("; ")],
  ["birthday", "birthday", (f) => f.birthday],
  ["urls", "website", (f) => f.urls.map((e) => e.value).join(", ")],
  ["note", "notes", (f) => f.note],
];

/** What an edit changed, from the version it replaced to the one after it. */
function changes(before, after) {
  if (!before || !after) return [];
  return SUMMARY.filter(([, , get]) => get(before) !== get(after)).map(([, name, get]) => `${name}: “${get(before) || "—"}” → “${get(after) || "—"}”`);
}

async function contactHistory(contact) {
  let items;
  try {
    items = (await api("GET", `/contacts/${contact.id}/history`)).items;
  } catch (e) {
    return h("p", { class: "error", role: "alert" }, e.message);
  }
  // Newest first: the version after entry i is what entry i-1 replaced, or the contact as it is now.
  const rows = items.map((e, i) => {
    const after = i === 0 ? contact : items[i - 1].previous;
    const diff = e.action === "edited" ? changes(e.previous, after) : [];
    return h("li", {}, h("div", { class: "who" },
      h("div", { class: "name" }, `${e.action} by ${e.actor || "someone"}`),
      h("div", { class: "meta" }, when(e.at)),
      diff.length ? h("ul", { class: "levels" }, diff.map((d) => h("li", {}, d))) : null));
  });
  return h("section", { "aria-label": "History" }, h("h2", {}, "History"),
    rows.length ? h("ul", { class: "list" }, rows) : h("p", { class: "hint" }, "No change recorded yet."));
}

function activityPanel(label) {
  const list = h("ul", { class: "list", "aria-label": "Activity" });
  const more = h("button", { type: "button", hidden: true }, "Older");
  let before = null;
  const load = async () => {
    const page = await api("GET", `/labels/${label.id}/activity?limit=20${before ? "&before=" + before : ""}`);
    list.append(...page.items.map((a) => h("li", {}, h("div", { class: "who" },
      h("div", { class: "name" }, `${a.actor || "Someone"} ${a.action} ${a.full_name}`), h("div", { class: "meta" }, when(a.at))))));
    if (!list.children.length) list.append(h("li", {}, h("span", { class: "hint" }, "Nothing yet.")));
    before = page.next_before;
    more.hidden = !before;
  };
  more.addEventListener("click", load);
  const panel = h("section", { class: "panel", "aria-label": "Label activity" }, h("h2", {}, "Activity"), list, more);
  panel.reload = () => {
    before = null;
    fill(list, );
    load().catch(() => {});
  };
  return panel;
}

async function renderTrash(main) {
  const t = await api("GET", "/trash");
  const row = (name, meta, restore) => {
    const err = h("p", { class: "error", hidden: true });
    return h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(name)),
      h("div", { class: "who" }, h("div", { class: "name" }, name || "(no name)"), h("div", { class: "meta" }, meta), err),
      h("button", { type: "button", "aria-label": `Restore ${name}`, onclick: async () => {
        try { await restore(); toast(`Restored ${name}`); await refreshSidebar(); await route(); }
        catch (e) { err.textContent = e.message; err.hidden = false; }
      } }, "Restore"));
  };
  const contacts = t.contacts.map((c) => row(c.full_name, `deleted ${when(c.deleted_at)} · restorable until ${when(c.restorable_until)}`,
    () => api("POST", `/trash/contacts/${c.id}/restore`)));
  const removals = t.removals.map((r) => row(r.full_name, `taken off ${r.label_name || "a label"} ${when(r.removed_at)} · restorable until ${when(r.restorable_until)}`,
    () => api("POST", `/labels/${r.label_id}/removals/${r.id}/restore`)));
  fill(main, h("div", { class: "head" }, h("h1", {}, "Trash")),
    h("section", { class: "panel", "aria-label": "Deleted contacts" }, h("h2", {}, "Deleted contacts"),
      contacts.length ? h("ul", { class: "list" }, contacts) : h("p", { class: "hint" }, "Nothing deleted.")),
    h("section", { class: "panel", "aria-label": "Taken off labels" }, h("h2", {}, "Taken off your labels"),
      removals.length ? h("ul", { class: "list" }, removals) : h("p", { class: "hint" }, "Nothing taken off.")));
}

// ---- duplicates: likely pairs side by side, merged after a preview, undone from the notice ----

const REASON_WORDS = {
  email: (v) => `the same e-mail address (${v})`,
  phone: (v) => `the same phone number (${v})`,
  name: () => "the same name",
  name_and_organization: () => "the same name and organization",
};
const PROPERTY_WORDS = { EMAIL: "E-mail", TEL: "Phone", ORG: "Organization", NOTE: "Note", ADR: "Address", URL: "Website",
  TITLE: "Job title", ROLE: "Role", NICKNAME: "Other name", BDAY: "Birthday", ANNIVERSARY: "Anniversary", PHOTO: "Photo",
  N: "Name", FN: "Name", IMPP: "Chat", CATEGORIES: "Tags", GENDER: "Gender", RELATED: "Related person" };

/** A vCard line in words: "Organization: Wong & Co" rather than "ORG:Wong & Co". */
function plainLine(line) {
  const colon = line.indexOf(":");
  const head = colon < 0 ? line : line.slice(0, colon);
  const name = head.split(";")[0].split(".").pop().toUpperCase();
  const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^tel:/i, "").split(";").filter(Boolean).join(" ").replace(/\\([,;\\])/g, "$1").replace(/\\n/gi, " ");
  if (name === "PHOTO") return "Photo";
  return `${PROPERTY_WORDS[name] || name.replace(/^X-/, "").toLowerCase()}: ${value}`;
}

async function renderDuplicates(main) {
  const d = await api("GET", "/duplicates");
  const bookName = (c) => (c.book === "contacts" ? "My contacts" : c.book_name);
  const pairRow = (p, n) => {
    const group = `keep-${n}`;
    // Which one stays is chosen only where the two can become one.
    const side = (c, checked) => h("div", { class: "dup-side" },
      p.mergeable
        ? h("label", { class: "inline" }, h("input", { type: "radio", name: group, value: String(c.id), checked,
          "aria-label": `Keep ${c.full_name || "this one"} (${bookName(c)})` }), h("span", { class: "name" }, c.full_name || "(no name)"))
        : h("div", { class: "name" }, c.full_name || "(no name)"),
      c.organization ? h("div", { class: "meta" }, c.organization) : null,
      c.emails.map((e) => h("div", { class: "meta" }, e)),
      c.phones.map((t) => h("div", { class: "meta" }, t)),
      h("div", { class: "hint" }, `In ${bookName(c)}`));
    const out = h("div", { class: "dup-preview", hidden: true });
    const err = h("p", { class: "error", role: "alert", hidden: true });
    const chosen = () => {
      const keepA = li.querySelector(`input[name="${group}"]:checked`)?.value !== String(p.b.id);
      const [keep, other] = keepA ? [p.a, p.b] : [p.b, p.a];
      return { keep, other, body: { keep: { book: keep.book, id: keep.id }, other: { book: other.book, id: other.id } } };
    };
    const merge = async () => {
      const { keep, other, body } = chosen();
      try {
        const r = await api("POST", "/duplicates/merge", body);
        toast(`Merged ${other.full_name || "the other contact"} into ${keep.full_name || "the one kept"}.`, { action: { text: "Undo", run: async () => {
          try { await api("POST", `/merges/${r.merge_id}/undo`); toast("Merge undone: both contacts are back."); }
          catch (e) { toast(`Could not undo: ${e.message}`, { lasting: true }); }
          await refreshSidebar(); if (location.hash === "#/duplicates") await route();
        } } });
        await refreshSidebar();
        await route();
      } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    const review = async () => {
      const { keep, other, body } = chosen();
      err.hidden = true;
      try {
        const plan = await api("POST", "/duplicates/merge", { ...body, preview: true });
        const list = (title, items) => items.length ? [h("h3", {}, title), h("ul", { class: "plain" }, items.map((i) => h("li", {}, i)))] : null;
        fill(out,
          h("p", {}, `${keep.full_name || "The one kept"} stays, with everything ${other.full_name || "the other"} has that it does not. `,
            plan.deletes_other ? `${other.full_name || "The other"} goes to the trash and leaves every device.` : ""),
          list("It gains", plan.added.map(plainLine)),
          list("Not taken (it keeps its own)", plan.not_kept.map(plainLine)),
          list("It joins the labels", plan.labels_joined),
          list("Kept apart", plan.kept_apart),
          h("div", { class: "row" },
            h("button", { type: "button", class: "primary", onclick: merge }, "Merge"),
            h("button", { type: "button", onclick: () => { out.hidden = true; } }, "Cancel")));
        out.hidden = false;
        out.querySelector("button.primary").focus();
      } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    const why = p.reasons.map((r) => REASON_WORDS[r.kind](r.value || "")).join(", ");
    const li = h("li", { class: "dup" },
      h("div", { class: "dup-why" }, h("strong", {}, p.score >= 80 ? "Very likely" : "Likely"), ` the same person: ${why}.`),
      h("div", { class: "dup-sides" }, side(p.a, true), side(p.b, false)),
      p.mergeable ? h("button", { type: "button", "aria-label": `Review merging ${p.a.full_name} and ${p.b.full_name}`, onclick: review }, "Review merge")
        : h("p", { class: "hint" }, `Not mergeable: ${p.why_not}.`),
      err, out);
    return li;
  };
  fill(main, h("div", { class: "head" }, h("h1", {}, "Duplicates")),
    h("section", { class: "panel", "aria-label": "Likely duplicates" },
      h("p", { class: "hint" }, `Compared ${d.compared} contacts you can see: the same e-mail address, phone number, or name and organization.`),
      d.items.length ? h("ul", { class: "list dups", "aria-label": "Likely duplicates" }, d.items.map(pairRow))
        : h("p", {}, "No duplicates found."),
      d.truncated ? h("p", { class: "hint" }, "Only the 500 likeliest pairs are shown: merge some, and more appear.") : null));
}

/** An image file as a JPEG data: URL of at most 512 px a side (what phones show, small enough to sync). */
function shrink(file) {
  return new Promise((resolve, reject) => {
    if (!file || !file.type.startsWith("image/")) return reject(new Error("Choose an image file."));
    const img = new Image();
    const url = URL.createObjectURL(file);
    img.onload = () => {
      const scale = Math.min(1, 512 / Math.max(img.width, img.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(img.width * scale));
      canvas.height = Math.max(1, Math.round(img.height * scale));
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      resolve(canvas.toDataURL("image/jpeg", 0.85));
    };
    img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("That image cannot be read.")); };
    img.src = url;
  });
}

// ---- add existing contacts ----

// Chosen contacts, by where they are read (My contacts or a label) and their id there.
function chosenKey(from, id) { return `${from}/${id}`; }

// Add the chosen contacts to a label: one request per book they come from; the problems, one line each.
async function addChosen(labelId, chosen) {
  const byFrom = new Map();
  for (const { from, id } of chosen.values()) byFrom.set(from, [...(byFrom.get(from) || []), id]);
  let added = 0;
  const problems = [];
  for (const [from, ids] of byFrom) {
    const r = await api("POST", `/labels/${labelId}/members`, { from, contact_ids: ids });
    added += r.added;
    r.items.filter((i) => i.error).forEach((i) => problems.push(i.error));
  }
  return { added, problems };
}

// Search everything the user can read — their own contacts or any label — and tick contacts to add.
/** `already`: a promise of the contact ids the target label holds (marked, not offered again). */
function contactChooser(chosen, changed, exceptLabel, already = Promise.resolve(new Set())) {
  const from = h("select", { "aria-label": "Contacts from" }, h("option", { value: "contacts" }, "Your contacts"),
    state.labels.filter((l) => l.id !== exceptLabel).map((l) => h("option", { value: l.id }, `Label: ${l.name}`)));
  const list = h("ul", { class: "list picker", "aria-label": "Your contacts" });
  const search = h("input", { type: "search", placeholder: "Search your contacts", "aria-label": "Search your contacts" });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const draw = async () => {
    const q = search.value.trim();
    const book = from.value === "contacts" ? "" : `/labels/${from.value}`;
    try {
      const page = await api("GET", `${book}/contacts?limit=100${q ? "&q=" + encodeURIComponent(q) : ""}`);
      const on = await already;
      err.hidden = true;
      fill(list, ...page.items.map((c) => contactCheckbox(c, from.value, chosen, changed, on.has(c.id))));
      if (!page.items.length) list.append(h("li", {}, h("span", { class: "hint" }, q ? "No contact matches." : from.value === "contacts" ? "You have no contacts yet: add a new one below." : "This label is empty.")));
    } catch (e) { err.textContent = e.message; err.hidden = false; }
  };
  let timer;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(draw, 200); });
  from.addEventListener("change", draw);
  draw();
  return [h("div", { class: "row" }, h("div", { class: "grow" }, search), from), list, err];
}

function existingPicker(label, done) {
  const chosen = new Map();
  const add = h("button", { type: "button", class: "primary", disabled: true }, "Add to label");
  const err = h("p", { class: "error", role: "alert", hidden: true });
  // The label's own contacts, to mark them (its owner's contacts have one id in every book of the owner).
  const already = (async () => {
    const ids = new Set();
    let cursor = null;
    try {
      do {
        const page = await api("GET", `/labels/${label.id}/contacts?limit=500${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
        page.items.forEach((c) => ids.add(c.id));
        cursor = page.next_cursor;
      } while (cursor && ids.size < 5000);
    } catch (e) { /* a mark is a help, not a requirement */ }
    return ids;
  })();
  const chooser = contactChooser(chosen, () => {
    add.disabled = !chosen.size;
    add.textContent = chosen.size ? `Add ${chosen.size} to label` : "Add to label";
  }, label.id, already);
  add.addEventListener("click", async () => {
    add.disabled = true;
    try {
      const r = await addChosen(label.id, chosen);
      await done(`${r.added} added${r.problems.length ? `, ${r.problems.length} not: ${r.problems[0]}` : ""}`);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      add.disabled = false;
    }
  });
  return h("section", { class: "panel", "aria-label": "Add existing contacts" }, h("h2", {}, "Add existing contacts"),
    h("p", { class: "hint" }, "From your own contacts or any label you can read; someone else's contact goes in as a copy, without what is hidden from you."),
    chooser, err, h("div", { class: "actions" }, h("button", { type: "button", onclick: () => done(null) }, "Cancel"), add));
}

function contactCheckbox(c, from, chosen, changed, onLabel = false) {
  const id = nextId("pick");
  const key = chosenKey(from, c.id);
  const box = h("input", { type: "checkbox", id, checked: onLabel || chosen.has(key), disabled: onLabel });
  box.addEventListener("change", () => {
    if (box.checked) chosen.set(key, { from, id: c.id });
    else chosen.delete(key);
    changed();
  });
  return h("li", {}, box, h("label", { for: id, class: "inline who" },
    h("span", { class: "avatar", "aria-hidden": "true" }, initials(c.full_name)),
    h("span", { class: "pick-text" }, h("span", { class: "name" }, c.full_name || "(no name)"), " ",
      h("span", { class: "meta" }, onLabel ? "already in this label" : contactMeta(c)))));
}

// ---- sharing ----

// `levels`: those the user may give (a label's may.grant_levels).
// Whom a label is shared with, in words: the field's label and what is asked for follow the choice.
const GRANTEE_KINDS = [
  ["user", "A person", "E-mail address", "name@example.com"],
  ["group", "A group", "Group name", "Sales"],
  ["domain", "Everyone at a domain", "Domain", "example.com"],
];

function collaboratorForm(levels, onAdd, submitText) {
  const kindId = nextId("kind");
  const kindSel = h("select", { id: kindId }, GRANTEE_KINDS.map(([v, words]) => h("option", { value: v }, words)));
  const [emailWrap, email, emailErr] = field("E-mail address", { type: "text", autocomplete: "off", list: "known-people", placeholder: "name@example.com" }, "");
  const emailLabel = emailWrap.querySelector("label");
  kindSel.addEventListener("change", () => {
    const [, , words, example] = GRANTEE_KINDS.find(([v]) => v === kindSel.value);
    emailLabel.textContent = words;
    email.placeholder = example;
    fill(known);
    asked = "";
  });
  const known = h("datalist", { id: "known-people" });
  let asked = "";
  email.addEventListener("input", async () => {
    const q = email.value.trim().replace(/^(group|domain):/, "");
    if (kindSel.value === "domain" || q.length < 2 || q === asked) return;
    asked = q;
    try {
      const found = await api("GET", `/directory?q=${encodeURIComponent(q)}`);
      if (asked !== q) return;
      fill(known, kindSel.value === "group"
        ? found.groups.map((g) => h("option", { value: g }, g))
        : found.users.filter((u) => u.email !== state.me.email).map((u) => h("option", { value: u.email }, u.display_name || u.email)));
    } catch (e) {
      /* completion is a help, not a requirement */
    }
  });
  const levelId = nextId("level");
  const level = levelSelect(levels.includes("edit") ? "edit" : levels[0], levels, levelId);
  const devices = h("input", { type: "checkbox", checked: true });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  // Adds what is typed; false (with the reason shown in place) when it cannot be added.
  const add = async () => {
    emailErr(null);
    err.hidden = true;
    const raw = email.value.trim();
    if (!raw) { emailErr(`Enter ${GRANTEE_KINDS.find(([v]) => v === kindSel.value)[2].toLowerCase().replace(/^e-mail/, "an e-mail")}.`); return false; }
    // "group:Sales" and "domain:example.com" typed as a person still mean what they say.
    const [kind, grantee] = kindSel.value !== "user" ? [kindSel.value, raw]
      : raw.startsWith("group:") ? ["group", raw.slice(6)] : raw.startsWith("domain:") ? ["domain", raw.slice(7)] : ["user", raw];
    try {
      await onAdd({ kind, grantee, level: level.value, sync_devices: devices.checked });
      email.value = "";
      email.focus();
      return true;
    } catch (e) {
      if (typeof e.field === "function" && e.field("grantee")) emailErr(e.field("grantee"));
      else { err.textContent = e.message; err.hidden = false; }
      return false;
    }
  };
  const form = h("form", {
    onsubmit: async (ev) => {
      ev.preventDefault();
      await add();
    },
  },
    h("label", { for: kindId }, "Share with"), kindSel,
    emailWrap, known,
    h("label", { for: levelId }, "Level"), level,
    h("ul", { class: "levels" }, LEVELS.map(([, name, what]) => h("li", {}, h("strong", {}, name), `: ${what}`)), h("li", {}, h("strong", {}, "Owner"), ": also rename, delete, hide fields and transfer (only you)")),
    h("label", { class: "inline" }, devices, "Put these contacts on their phones and Outlook too (they can turn it off)"),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit" }, submitText)));
  // An address typed but not yet added is added (or its problem shown) rather than dropped.
  form.addTyped = () => (email.value.trim() ? add() : Promise.resolve(true));
  return form;
}

// Fields an owner may hide from a collaborator, in words, by the vCard property (and TYPE) the server takes.
const HIDEABLE = [
  ["TEL", "Phone numbers"], ["TEL;TYPE=CELL", "Mobile numbers only"], ["EMAIL", "E-mail addresses"], ["ADR", "Addresses"],
  ["BDAY", "Birthday"], ["NOTE", "Notes"], ["ORG", "Organization"], ["TITLE", "Job title"], ["URL", "Websites"], ["PHOTO", "Photo"],
];
const hiddenWords = (item) => (HIDEABLE.find(([v]) => v.toUpperCase() === item.toUpperCase()) || [item, item])[1];

/** What is hidden from one collaborator, as checkboxes (a rule set elsewhere that none of them names is kept). */
function hiddenFieldsChooser(g, unfolded, save) {
  const known = new Set(HIDEABLE.map(([v]) => v.toUpperCase()));
  const others = g.hidden_fields.filter((f) => !known.has(f.toUpperCase()));
  const boxes = HIDEABLE.map(([value, words]) => {
    const input = h("input", { type: "checkbox", value, checked: g.hidden_fields.some((f) => f.toUpperCase() === value) });
    input.addEventListener("change", async () => {
      await save([...boxes.filter((b) => b.checked).map((b) => b.value), ...others]);
      summary.textContent = summaryText();
    });
    return input;
  });
  const summaryText = () => `Hidden from ${g.grantee}: ${g.hidden_fields.length ? g.hidden_fields.map(hiddenWords).join(", ") : "nothing"}`;
  const summary = h("summary", {}, summaryText());
  const box = h("details", { class: "hidden-fields", open: unfolded.has(g.id) }, summary,
    h("fieldset", { class: "plain-fieldset" }, h("legend", { class: "visually-hidden" }, `Fields hidden from ${g.grantee}`),
      h("ul", { class: "plain checks two" }, HIDEABLE.map(([, words], i) => h("li", {}, h("label", { class: "inline" }, boxes[i], words)))),
      others.length ? h("p", { class: "hint" }, `Also hidden: ${others.join(", ")}`) : null));
  box.addEventListener("toggle", () => { if (box.open) unfolded.add(g.id); else unfolded.delete(g.id); });
  return box;
}

// What became of the last message about a collaborator's invitation.
function mailLine(g) {
  const m = g.mail;
  if (!m) return null;
  const what = g.status === "pending" ? "Invitation" : "Notice";
  if (m.status === "sent") return h("div", { class: "meta" }, `${what} e-mailed ${when(m.sent_at)}`);
  if (m.status === "cancelled") return null;
  if (m.status === "queued") return h("div", { class: "meta" }, m.attempts ? `${what} not sent yet (tried ${m.attempts}×: ${m.error || "no answer"}); trying again` : `${what} being e-mailed…`);
  return h("div", { class: "meta error-text" }, `${what} could not be e-mailed: ${m.error || "unknown error"}. Copy the link instead, or ask an administrator to check the mail settings.`);
}

/** A label's sharing: on the page, who has it (names, status, level) and a Share button; the Share dialog
 * manages them (levels, fields to hide, links, resend, remove) and adds people. */
async function sharePanel(label) {
  const panel = h("section", { class: "panel", "aria-label": "Collaborators" });
  const titleId = nextId("share-title");
  const body = h("div", {});
  const dialog = h("dialog", { class: "share-dialog", "aria-labelledby": titleId },
    h("div", { class: "dialog-head" }, h("h2", { id: titleId }, `Share “${label.name}”`),
      h("button", { type: "button", class: "primary", onclick: () => dialog.close() }, "Done")),
    body);
  const open = () => { if (!dialog.open) dialog.showModal(); };
  const links = new Map();
  // Whose hidden fields are unfolded, kept when the panel is drawn again (a change, live or one's own).
  const unfolded = new Set();
  const owner = label.may.administer;
  const draw = async () => {
    const grants = (await api("GET", `/labels/${label.id}/grants`)).items;
    const rows = grants.map((g) => {
      const mine = g.manageable;
      const sel = levelSelect(g.level, label.may.grant_levels);
      sel.setAttribute("aria-label", `Level of ${g.grantee}`);
      sel.disabled = !mine;
      const err = h("p", { class: "error", hidden: true });
      // Every change names the version shown here, so one manager never silently undoes another's.
      const asShown = { "if-match": `"${g.etag}"` };
      const changedMeanwhile = async (e) => {
        if (e.status !== 412) return false;
        await draw();
        toast(`Someone else changed ${g.grantee}'s access meanwhile: this is how it is now`);
        return true;
      };
      sel.addEventListener("change", async () => {
        try {
          Object.assign(g, await api("PATCH", `/grants/${g.id}`, { level: sel.value }, asShown));
          asShown["if-match"] = `"${g.etag}"`;
          toast(`${g.grantee}: ${sel.value}`);
        } catch (e) {
          if (await changedMeanwhile(e)) return;
          err.textContent = e.message; err.hidden = false; sel.value = g.level;
        }
      });
      const hidden = owner ? hiddenFieldsChooser(g, unfolded, async (items) => {
        try {
          Object.assign(g, await api("PATCH", `/grants/${g.id}`, { hidden_fields: items }, asShown));
          asShown["if-match"] = `"${g.etag}"`;
          toast(items.length ? `Hidden from ${g.grantee}: ${items.map(hiddenWords).join(", ")}` : `${g.grantee} sees every field`);
        } catch (e) {
          if (await changedMeanwhile(e)) return;
          err.textContent = msgFor(e, "hidden_fields"); err.hidden = false;
        }
      }) : null;
      // A link made here stays shown (it is not stored in clear anywhere) until the page is left.
      const link = links.has(g.id) && g.status === "pending"
        ? h("div", { class: "row" }, h("div", { class: "grow" }, h("input", { type: "text", value: links.get(g.id), readonly: true, "aria-label": `Invitation link for ${g.grantee}`, onfocus: (e) => e.target.select() })),
          h("button", { type: "button", "aria-label": `Copy the invitation link for ${g.grantee}`, onclick: async () => {
            try { await navigator.clipboard.writeText(links.get(g.id)); toast("Link copied: it works once, for 14 days"); }
            catch (e) { toast("Select the link and copy it: this browser would not let the page do it."); }
          } }, "Copy"))
        : null;
      return h("li", {},
        h("span", { class: "avatar", "aria-hidden": "true" }, initials(g.grantee)),
        h("div", { class: "who" }, h("div", { class: "name" }, g.kind === "user" ? g.grantee : `${g.kind}: ${g.grantee}`),
          h("div", { class: "row" }, h("span", { class: `status ${g.status}` }, g.status), sel), mailLine(g), hidden, link, err),
        g.kind === "user" && g.status === "pending" && mine && state.me.mail_enabled ? h("button", { type: "button", class: "link", "aria-label": `Resend the invitation to ${g.grantee}`, onclick: async () => {
          err.hidden = true;
          try {
            await api("POST", `/grants/${g.id}/resend`);
            toast(`Invitation mailed to ${g.grantee} again (the earlier mailed link stops working)`);
            await draw();
          } catch (e) { err.textContent = e.message; err.hidden = false; }
        } }, "Resend") : null,
        g.kind === "user" && g.status === "pending" && mine ? h("button", { type: "button", class: "link", "aria-label": `${links.has(g.id) ? "New link" : "Copy link"} for ${g.grantee}'s invitation`, onclick: async () => {
          try {
            const l = await api("POST", `/grants/${g.id}/link`);
            const url = location.origin + l.path;
            links.set(g.id, url);
            await draw();
            try { await navigator.clipboard.writeText(url); toast("Link copied: it works once, for 14 days"); }
            catch (e) { toast("Copy the link shown: it works once, for 14 days"); }
          } catch (e) { err.textContent = e.message; err.hidden = false; }
        } }, links.has(g.id) ? "New link" : "Copy link") : null,
        g.status !== "revoked" && mine ? h("button", { type: "button", class: "link danger", "aria-label": `Remove ${g.grantee}`, onclick: async () => {
          if (!confirm(`Remove ${g.grantee} from “${label.name}”?`)) return;
          try { await api("DELETE", `/grants/${g.id}`, undefined, asShown); await draw(); } catch (e) {
            if (await changedMeanwhile(e)) return;
            err.textContent = e.message; err.hidden = false;
          }
        } }, "Remove") : null);
    });
    const who = (g) => (g.kind === "user" ? g.grantee : `${GRANTEE_KINDS.find(([k]) => k === g.kind)[2]}: ${g.grantee}`);
    const levelWords = (l) => (LEVELS.find(([v]) => v === l) || [l, l])[1];
    const live = grants.filter((g) => g.status !== "revoked");
    fill(body,
      rows.length ? h("ul", { class: "list", "aria-label": "People with access" }, rows) : h("p", { class: "hint" }, "Nobody else yet."),
      h("h3", {}, "Add people"),
      addForm);
    fill(panel,
      h("div", { class: "row" }, h("h2", { class: "grow" }, "Collaborators"),
        h("button", { type: "button", onclick: open, "aria-label": `Share “${label.name}”` }, "Share")),
      live.length ? h("ul", { class: "list compact" }, live.map((g) => h("li", {},
        h("span", { class: "avatar", "aria-hidden": "true" }, initials(g.grantee)),
        h("div", { class: "who" }, h("div", { class: "name" }, who(g)),
          h("div", { class: "meta" }, h("span", { class: `status ${g.status}` }, g.status), ` ${levelWords(g.level)}`,
            g.status === "pending" && g.kind === "user" ? " · waiting for them to accept: Share → Resend or Copy link" : ""))))) : h("p", { class: "hint" }, "Only you so far."),
      dialog);
  };
  const addForm = collaboratorForm(label.may.grant_levels, async (g) => {
    const made = await api("POST", `/labels/${label.id}/grants`, g);
    toast(made.kind !== "user" ? `Shared with ${made.kind} ${made.grantee}`
      : state.me.mail_enabled ? `Invited ${made.grantee}: an e-mail is on its way`
      : made.status === "pending" ? `Invited ${made.grantee}: copy the link and send it to them` : `Shared with ${made.grantee}`);
    await draw();
    // The message goes out in the background: show when it was sent, or why it was not.
    if (state.me.mail_enabled && made.kind === "user") setTimeout(() => { if (panel.isConnected) draw().catch(() => {}); }, 2500);
  }, "Invite");
  await draw();
  panel.redraw = draw;
  panel.open = open;
  return panel;
}

function labelSettings(label) {
  const owner = label.may.administer;
  const box = h("section", { class: "panel", "aria-label": "Label settings" }, h("h2", {}, owner ? "Label" : "This share"));
  const err = h("p", { class: "error", role: "alert", hidden: true });
  if (owner) {
    const [wrap, name, nameErr] = field("Name", { value: label.name });
    box.append(h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      nameErr(null);
      try { await api("PATCH", `/labels/${label.id}`, { name: name.value }); await refreshSidebar(); toast("Renamed"); route(); }
      catch (e) { nameErr(msgFor(e, "name")); }
    } }, wrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Rename"))));
    const toId = nextId("to");
    const to = h("select", { id: toId }, h("option", { value: "" }, "Choose a collaborator"));
    api("GET", `/labels/${label.id}/grants`).then((g) => {
      to.append(...g.items.filter((x) => x.kind === "user" && x.status === "accepted").map((x) => h("option", { value: x.grantee }, x.grantee)));
    }, () => {});
    const keep = h("input", { type: "checkbox", checked: true });
    const toErr = h("p", { class: "error", hidden: true });
    box.append(h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      toErr.hidden = true;
      if (!to.value) { toErr.textContent = "Choose who takes it over (someone who accepted it)."; toErr.hidden = false; return; }
      if (!confirm(`Hand “${label.name}” to ${to.value}? Its contacts become theirs.`)) return;
      try { await api("POST", `/labels/${label.id}/transfer`, { to: to.value, keep_access: keep.checked }); await refreshSidebar(); toast(`“${label.name}” is now ${to.value}'s`); route(); }
      catch (e) { toErr.textContent = msgFor(e, "to"); toErr.hidden = false; }
    } }, h("label", { for: toId }, "Transfer to"), to, h("label", { class: "inline" }, keep, "Keep my access (share level)"), toErr,
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Transfer"))));
  } else {
    const devices = h("input", { type: "checkbox", checked: label.sync_devices });
    devices.addEventListener("change", async () => {
      try { await api("PATCH", `/labels/${label.id}`, { sync_devices: devices.checked }); toast(devices.checked ? "Syncs to your devices" : "No longer on your devices"); }
      catch (e) { err.textContent = e.message; err.hidden = false; devices.checked = !devices.checked; }
    });
    box.append(h("label", { class: "inline" }, devices, DEVICES_TOGGLE));
    if (label.hidden_fields.length) box.append(h("p", { class: "hint" }, `The owner hides from you: ${label.hidden_fields.join(", ")}`));
  }
  box.append(err, h("div", { class: "actions" }, h("button", { type: "button", class: "danger", onclick: async () => {
    const q = owner ? `Delete “${label.name}”? Its contacts stay in your contacts; collaborators lose access.` : `Leave “${label.name}”? Its contacts disappear from your devices.`;
    if (!confirm(q)) return;
    try { await api("DELETE", `/labels/${label.id}`); await refreshSidebar(); location.hash = "#/book/contacts"; }
    catch (e) { err.textContent = e.message; err.hidden = false; }
  } }, owner ? "Delete label" : "Leave this share")));
  return box;
}

// ---- the "+" flow: name → collaborators → contacts → saved ----

/** The server's limit on a label's name, in characters (it refuses longer ones). */
const LABEL_NAME_MAX = 200;

function renderWizard(main) {
  const w = { step: 1, name: "", people: [], chosen: new Map(), fresh: [], file: null };
  const steps = ["Name", "Collaborators", "Contacts"];
  const body = h("div", {});
  const draw = () => {
    fill(body, 
      h("ol", { class: "steps", "aria-label": "Steps" }, steps.map((s, i) => h("li", { "aria-current": w.step === i + 1 ? "step" : null }, `${i + 1}. ${s}`))),
      w.step === 1 ? stepName() : w.step === 2 ? stepPeople() : stepContacts(),
    );
    const first = body.querySelector("input");
    if (first) first.focus();
  };
  const stepName = () => {
    const [wrap, name, nameErr] = field("Label name", { value: w.name, required: true, maxlength: String(LABEL_NAME_MAX), placeholder: "e.g. Clients, Suppliers, Team" });
    return h("form", { class: "panel", onsubmit: (ev) => {
      ev.preventDefault();
      if (!name.value.trim()) return nameErr("Give the label a name.");
      if ([...name.value.trim()].length > LABEL_NAME_MAX) return nameErr(`A label name is at most ${LABEL_NAME_MAX} characters.`);
      w.name = name.value.trim();
      w.step = 2;
      draw();
    } }, wrap, h("div", { class: "actions" }, h("button", { type: "button", onclick: () => history.back() }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Next")));
  };
  const stepPeople = () => h("div", { class: "panel" },
    h("h2", {}, `Who shares “${w.name}”?`),
    w.people.length ? h("ul", { class: "list", "aria-label": "Collaborators to invite" }, w.people.map((p, i) =>
      h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(p.grantee)),
        h("div", { class: "who" }, h("div", { class: "name" }, p.kind === "user" ? p.grantee : `${GRANTEE_KINDS.find(([k]) => k === p.kind)[2]}: ${p.grantee}`),
          h("div", { class: "meta" }, p.sync_devices ? "on their phones and Outlook too" : "in the dashboard only")),
        // The level stays changeable until Save.
        (() => {
          const sel = levelSelect(p.level, LEVELS.map(([v]) => v));
          sel.setAttribute("aria-label", `Level of ${p.grantee}`);
          sel.addEventListener("change", () => { p.level = sel.value; });
          return sel;
        })(),
        h("button", { type: "button", class: "link", "aria-label": `Do not invite ${p.grantee}`, onclick: () => { w.people.splice(i, 1); draw(); } }, "Remove")))) : h("p", { class: "hint" }, "Add colleagues now, or later from the label."),
    peopleForm(),
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { w.step = 1; draw(); } }, "Back"), h("button", { type: "button", class: "primary", onclick: async () => {
      if (!(await body.querySelector("form").addTyped())) return;
      w.step = 3;
      draw();
    } }, "Next")));
  // Each collaborator is checked as it is added, by the rules sharing will apply, so Save never meets a refusal.
  const peopleForm = () => collaboratorForm(LEVELS.map(([v]) => v), async (g) => {
    const refuse = (why) => { throw Object.assign(new ApiError(422, {}), { field: () => why }); };
    if (g.kind === "user" && !/^[^@\s]+@[^@\s]+$/.test(g.grantee)) refuse("That is not an e-mail address.");
    if (g.kind === "user" && g.grantee.toLowerCase() === state.me.email.toLowerCase()) refuse("That is you: you own the label.");
    if (w.people.some((p) => p.kind === g.kind && p.grantee.toLowerCase() === g.grantee.toLowerCase())) refuse("Already on the list.");
    await api("POST", "/grantees/check", g);
    w.people.push(g);
    draw();
  }, "Add collaborator");
  const importBox = () => {
    const id = nextId("wfile");
    const input = h("input", { type: "file", id, accept: ".vcf,.vcard,.csv,text/vcard,text/csv" });
    input.addEventListener("change", () => { w.file = input.files[0] || null; });
    return h("section", { class: "panel" }, h("h2", {}, "Or import a file"),
      h("label", { for: id }, "A vCard file (.vcf), or a CSV exported from Google Contacts or Outlook"), input,
      w.file ? h("p", { class: "hint" }, `Chosen: ${w.file.name}`) : null);
  };
  const stepContacts = () => {
    const count = h("p", { class: "hint", role: "status" });
    const counted = () => (count.textContent = `${w.chosen.size} existing and ${w.fresh.length} new contact(s) selected`);
    const chooser = contactChooser(w.chosen, counted, null);
    counted();
    const [gWrap, given] = field("First name");
    const [fWrap, family] = field("Last name");
    const [eWrap, email, emailErr] = field("E-mail", { type: "email" });
    const [pWrap, phone] = field("Phone", { type: "tel" });
    const freshList = h("ul", { class: "list", "aria-label": "New contacts" }, w.fresh.map((c) => h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(`${c.name.given} ${c.name.family}`)), h("div", { class: "who" }, h("div", { class: "name" }, `${c.name.given} ${c.name.family}`.trim() || c.emails[0]?.value)))));
    const saveErr = h("p", { class: "error", role: "alert", hidden: true });
    const save = h("button", { type: "button", class: "primary", onclick: async () => {
      save.disabled = true;
      saveErr.hidden = true;
      try { await saveWizard(w); } catch (e) { saveErr.textContent = e.message; saveErr.hidden = false; save.disabled = false; }
    } }, "Save label");
    return h("div", {},
      h("section", { class: "panel" }, h("h2", {}, "Add an existing contact"), h("p", { class: "hint" }, "From your own contacts or any label you can read."), chooser, count),
      h("form", { class: "panel", onsubmit: (ev) => {
        ev.preventDefault();
        emailErr(null);
        if (!given.value.trim() && !family.value.trim() && !email.value.trim()) return emailErr("Give at least a name or an e-mail address.");
        w.fresh.push({ name: { given: given.value.trim(), family: family.value.trim() }, emails: email.value.trim() ? [{ value: email.value.trim(), types: ["work"] }] : [], phones: phone.value.trim() ? [{ value: phone.value.trim(), types: ["cell"] }] : [] });
        draw();
      } }, h("h2", {}, "Or a new contact"), freshList, h("div", { class: "row" }, h("div", { class: "grow" }, gWrap), h("div", { class: "grow" }, fWrap)),
        h("div", { class: "row" }, h("div", { class: "grow" }, eWrap), h("div", { class: "grow" }, pWrap)),
        h("div", { class: "actions" }, h("button", { type: "submit" }, "Add new contact"))),
      importBox(),
      saveErr,
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { w.step = 2; draw(); } }, "Back"), save));
  };
  fill(main, h("div", { class: "head" }, h("h1", {}, "New label")), body);
  draw();
}

async function saveWizard(w) {
  const label = await api("POST", "/labels", { name: w.name });
  const problems = [];
  let importing = "";
  for (const p of w.people) {
    try { await api("POST", `/labels/${label.id}/grants`, p); } catch (e) { problems.push(`${p.grantee}: ${msgFor(e, "grantee")}`); }
  }
  if (w.chosen.size) {
    const r = await addChosen(label.id, w.chosen);
    problems.push(...r.problems.map((p) => `a contact: ${p}`));
  }
  for (const c of w.fresh) {
    try { await api("POST", `/labels/${label.id}/contacts`, c); } catch (e) { problems.push(`${c.name.given} ${c.name.family}: ${e.message}`); }
  }
  if (w.file) {
    // The import runs on the server; its contacts appear on the label's page as they are written.
    const r = await fetch(`/api/v1/imports?book=${encodeURIComponent(label.id)}&name=${encodeURIComponent(w.file.name)}`, {
      method: "POST", body: w.file, credentials: "same-origin",
      headers: { "content-type": w.file.type || "application/octet-stream", "x-csrf-token": state.csrf || "" },
    });
    const job = await r.json();
    if (!r.ok) problems.push(`${w.file.name}: ${new ApiError(r.status, job).message}`);
    else importing = `importing ${job.total} contact(s) from ${w.file.name}`;
  }
  await refreshSidebar();
  location.hash = `#/book/${label.id}`;
  if (problems.length) toast(`“${label.name}” is created, but not all of it: ${problems.join("; ")}`, { lasting: true });
  else toast(importing ? `Saved “${label.name}”; ${importing}` : `Saved “${label.name}”`);
}

// ---- invitations ----

async function renderInvitations(main) {
  const items = (await api("GET", "/invitations")).items;
  const rows = items.map((inv) => {
    const devices = h("input", { type: "checkbox", checked: inv.sync_devices });
    const err = h("p", { class: "error", hidden: true });
    const answer = async (accept) => {
      try {
        await api("POST", `/invitations/${inv.id}/${accept ? "accept" : "decline"}`, accept ? { sync_devices: devices.checked } : undefined);
        await refreshSidebar();
        if (accept) location.hash = `#/book/${inv.label_id}`;
        else route();
        toast(accept ? `You joined “${inv.label_name}”` : "Declined");
      } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    return h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(inv.label_name)),
      h("div", { class: "who" }, h("div", { class: "name" }, inv.label_name),
        h("div", { class: "meta" }, `from ${inv.invited_by || inv.owner} · ${LEVELS.find((l) => l[0] === inv.level)?.[1] || inv.level}`),
        h("label", { class: "inline" }, devices, DEVICES_TOGGLE), err),
      h("button", { type: "button", onclick: () => answer(false) }, "Decline"),
      h("button", { type: "button", class: "primary", "aria-label": `Accept ${inv.label_name}`, onclick: () => answer(true) }, "Accept"));
  });
  fill(main, h("div", { class: "head" }, h("h1", {}, "Invitations")),
    h("section", { class: "panel" }, rows.length ? h("ul", { class: "list" }, rows) : h("p", { class: "hint" }, "No invitation is waiting for you.")));
}

// ---- devices: app passwords ----

/** What a device registered for instant updates (WebDAV-Push), in words; nothing for a device that did not. */
function pushLine(p) {
  if (!p || !p.registrations) return null;
  const parts = [`Instant updates on (${p.registrations === 1 ? "1 book" : p.registrations + " books"})`,
    p.last_push_at ? "last update sent " + new Date(p.last_push_at).toLocaleString() : "no update sent yet"];
  const line = h("div", { class: "meta" }, parts.join(" · "));
  if (!p.last_error) return line;
  return h("div", {}, line, h("div", { class: "error" }, `The last update could not be delivered (${new Date(p.last_error_at).toLocaleString()}): ${p.last_error}`));
}

async function renderDevices(main, arg) {
  const items = (await api("GET", "/app-passwords")).items;
  const shown = h("div", {});
  const [nameWrap, name, nameErr] = field("Device name", { placeholder: "e.g. Ann's iPhone" });
  const single = h("input", { type: "checkbox" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    nameErr(null);
    try {
      const r = await api("POST", "/app-passwords", { name: name.value, layout: single.checked ? "single" : "books" });
      showSecret(shown, r);
      name.value = "";
      single.checked = false;
      await renderList();
    } catch (e) { nameErr(msgFor(e, "name")); }
  } }, nameWrap,
    h("label", { class: "inline" }, single, "One combined book with labels as groups (for a Mac: macOS Contacts shows only an account's first book)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create app password")));
  const list = h("ul", { class: "list", "aria-label": "App passwords" });
  const renderList = async () => {
    const all = (await api("GET", "/app-passwords")).items;
    fill(list, ...all.map((a) => h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, a.name),
      h("div", { class: "meta" }, [a.layout === "single" ? "one combined book" : null, a.last_used_at ? "last synced " + new Date(a.last_used_at).toLocaleString() : "never synced"].filter(Boolean).join(" · ")),
      pushLine(a.push)),
      h("button", { type: "button", class: "link danger", "aria-label": `Revoke ${a.name}`, onclick: async () => {
        if (!confirm(`Revoke “${a.name}”? That device stops syncing at once.`)) return;
        await api("DELETE", `/app-passwords/${a.id}`);
        await renderList();
      } }, "Revoke"))));
    if (!all.length) list.append(h("li", {}, h("span", { class: "hint" }, "No device yet.")));
  };
  const tokens = await tokenSection();
  const google = await googleSection(arg === "google-refused");
  fill(main, h("div", { class: "head" }, h("h1", {}, "Devices")),
    h("section", { class: "panel" }, h("h2", {}, "Connect a phone, a Mac, Thunderbird or Outlook"),
      h("p", { class: "hint" }, "Give each device its own app password: you can revoke one without touching the others."), form, shown),
    h("section", { class: "panel" }, h("h2", {}, "Your devices"), list), google, tokens);
  void items;
  await renderList();
}

const GOOGLE_WORDS = { off: "Off", pending: "Starting…", ok: "In sync", permission_lost: "Permission lost", paused: "Paused", error: "Trouble reaching Google (retried on its own)", removing: "Being removed" };

function googleWhen(t) { return t ? new Date(t).toLocaleString() : "never"; }

/** Your Google Contacts mirror: connect, state (live through the `google` event), Sync now, disconnect. */
async function googleSection(refused) {
  const box = h("section", { class: "panel", "aria-label": "Google Contacts" });
  const signIn = async (mine) => {
    const r = await api("POST", "/google/oauth", { my_contacts: mine });
    location.href = r.url;
  };
  const draw = async () => {
    const g = await api("GET", "/google");
    const title = h("h2", {}, "Google Contacts");
    if (!g.available && !g.enabled) {
      fill(box, title, h("p", { class: "hint" }, "This server does not mirror into Google Contacts; an administrator can set it up."));
      return;
    }
    const err = h("p", { class: "error", role: "alert", hidden: true });
    const act = (fn) => async () => {
      err.hidden = true;
      try { await fn(); await draw(); } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    const mine = h("input", { type: "checkbox", checked: g.my_contacts });
    if (g.enabled) mine.addEventListener("change", act(() => api("PUT", "/google", { my_contacts: mine.checked })));
    const status = h("p", { role: "status" }, h("strong", {}, GOOGLE_WORDS[g.status] || g.status),
      g.syncing ? " · syncing now" : g.sync_requested ? " · sync asked for" : "");
    const notes = [];
    if (g.enabled) notes.push(h("p", { class: "meta" }, `Last sent ${googleWhen(g.last_push)} · last read ${googleWhen(g.last_pull)}`));
    const ownGrant = g.own_account && (g.connected_with === "own_account" || !g.delegation);
    if (g.status === "permission_lost") notes.push(h("p", { class: "error" }, ownGrant
      ? "Google no longer lets Labelbook reach your contacts (the access was taken back, or has run out). Choose Reconnect to grant it again."
      : "Google refused access to your contacts. Ask your administrator to check the Workspace delegation for Labelbook, then choose Reconnect."));
    else if (g.last_error && g.status !== "ok") notes.push(h("p", { class: g.status === "paused" ? "error" : "hint" }, g.last_error));
    // A lost permission of one's own grant is mended by granting again; of the delegation, by the administrator
    // (then a sync).
    const regrant = g.status === "permission_lost" && ownGrant;
    const connect = [];
    if (g.delegation) connect.push(h("button", { type: "button", class: "primary", onclick: act(() => api("PUT", "/google", { my_contacts: mine.checked })) }, "Connect Google Contacts"));
    if (g.own_account) connect.push(h("button", { type: "button", class: g.delegation ? "" : "primary", onclick: act(() => signIn(mine.checked)) }, g.delegation ? "Use my own Google account instead" : "Connect with Google"));
    const buttons = g.enabled
      ? [h("button", { type: "button", class: "primary", onclick: act(() => (regrant ? signIn(g.my_contacts) : api("POST", "/google/sync"))) },
          g.status === "permission_lost" ? "Reconnect" : g.status === "paused" ? "Apply the deletions and resume" : "Sync now"),
        h("button", { type: "button", class: "link danger", onclick: act(async () => {
          if (!confirm("Stop mirroring into your Google Contacts? The labels and contacts Labelbook made there are removed; nothing changes here.")) return;
          await api("DELETE", "/google");
        }) }, "Disconnect")]
      : g.status === "removing" ? [] : connect;
    if (refused && !g.enabled) notes.push(h("p", { class: "error" }, "Google did not grant access, so nothing was connected."));
    fill(box, title,
      h("p", { class: "hint" }, "Every label that syncs to your devices shows in your Google Contacts as a label of the same name, with its contacts as you see them (fields hidden from you stay here). What you change there comes back, within your level on each label."),
      status, ...notes, h("label", { class: "inline" }, mine, "Also my own contacts (My contacts)"),
      h("div", { class: "actions" }, ...buttons), err);
  };
  await draw();
  state.googleRedraw = draw;
  return box;
}

/** API tokens for scripts: made here (never by another token), shown once, revocable. */
async function tokenSection() {
  const box = h("section", { class: "panel", "aria-label": "API tokens" });
  const draw = async (made) => {
    const all = (await api("GET", "/tokens")).items;
    const [nameWrap, name, nameErr] = field("Token name", { placeholder: "e.g. nightly backup" });
    const scopeId = nextId("scope");
    const scope = h("select", { id: scopeId }, h("option", { value: "read" }, "Read only (GET)"), h("option", { value: "write" }, "Read and write"));
    const [daysWrap, days, daysErr] = field("Expires after (days, empty: never)", { type: "number", min: "1", max: "3650" });
    const form = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      nameErr(null); daysErr(null);
      try {
        const r = await api("POST", "/tokens", { name: name.value, scope: scope.value, expires_in_days: days.value ? Number(days.value) : null });
        await draw(r);
      } catch (e) { if (e instanceof ApiError && e.field("expires_in_days")) daysErr(e.field("expires_in_days")); else nameErr(msgFor(e, "name")); }
    } }, nameWrap, h("label", { for: scopeId }, "Scope"), scope, daysWrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Create token")));
    fill(box, h("h2", {}, "API tokens"),
      h("p", { class: "hint" }, "For scripts: send it as “Authorization: Bearer …” to /api/v1."),
      made ? h("div", { role: "status" }, h("p", {}, `Token “${made.token.name}”, shown only now:`), secretLine(made.secret, "token")) : null,
      all.length ? h("ul", { class: "list", "aria-label": "Your API tokens" }, all.map((t) => h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, t.name),
        h("div", { class: "meta" }, `${t.scope === "read" ? "read only" : "read and write"} · ${t.expires_at ? "expires " + when(t.expires_at) : "no expiry"} · ${t.last_used_at ? "last used " + when(t.last_used_at) : "never used"}`)),
        h("button", { type: "button", class: "link danger", "aria-label": `Revoke token ${t.name}`, onclick: async () => {
          if (!confirm(`Revoke “${t.name}”? Scripts using it stop at once.`)) return;
          await api("DELETE", `/tokens/${t.id}`);
          await draw();
        } }, "Revoke")))) : null,
      form);
  };
  await draw();
  return box;
}

/** A secret shown once, with a button that copies it (selecting it by hand works too). */
function secretLine(secret, what) {
  return h("div", { class: "row secret-row" }, h("p", { class: "secret grow" }, secret),
    h("button", { type: "button", "aria-label": `Copy the ${what}`, onclick: async () => {
      try { await navigator.clipboard.writeText(secret); toast(`Copied the ${what}.`); }
      catch (e) { toast(`Select the ${what} and copy it: this browser would not let the page do it.`); }
    } }, "Copy"));
}

function showSecret(box, r) {
  const server = `${location.origin}/`;
  fill(box, h("div", { class: "panel", role: "status" },
    h("h2", {}, `App password for ${r.app_password.name}`),
    h("p", {}, "Shown only now. Enter it on the device with your e-mail address as the user name:"),
    secretLine(r.password, "app password"),
    h("ul", {},
      h("li", {}, h("strong", {}, "iPhone / iPad / Mac: "), `Settings → Contacts → Accounts → Add Account → Other → CardDAV. Server: ${location.host}, user: ${state.me.email}.`),
      h("li", {}, h("strong", {}, "Android (DAVx5): "), `Login with URL and user name: ${server}`),
      h("li", {}, h("strong", {}, "Thunderbird: "), `Address Book → New → CardDAV Address Book: ${server}`),
      r.app_password.layout === "single"
        ? h("li", {}, h("strong", {}, "This password shows one book, "), `“All contacts” (${location.origin}${r.server_path}addressbooks/${state.me.email}/all/), with each label as a group.`)
        : h("li", {}, h("strong", {}, "Outlook (CalDav Synchronizer): "), `CardDAV URL: ${location.origin}${r.server_path}addressbooks/${state.me.email}/contacts/`)),
    h("p", {}, h("a", { href: mobileconfig(r), download: `Labelbook-${r.app_password.name.replace(/[^A-Za-z0-9-]+/g, "_")}.mobileconfig` }, "Download the profile for iPhone, iPad or Mac"),
      " — open it on the device and the account is set up in one tap.")));
}

/** An Apple configuration profile with this app password's CardDAV account (built here: the password is never
 * stored in clear on the server, so only this page can put it in). */
function mobileconfig(r) {
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // crypto.randomUUID needs a secure context; a LAN address over plain HTTP is not one.
  const uuid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  const tls = location.protocol === "https:";
  const port = location.port || (tls ? "443" : "80");
  const ident = `${location.hostname}.labelbook.${r.app_password.id}`;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>CardDAVAccountDescription</key><string>Labelbook (${esc(location.hostname)})</string>
<key>CardDAVHostName</key><string>${esc(location.hostname)}</string>
<key>CardDAVPort</key><integer>${esc(port)}</integer>
<key>CardDAVUseSSL</key><${tls}/>
<key>CardDAVPrincipalURL</key><string>${esc(`/dav/principals/${state.me.email}/`)}</string>
<key>CardDAVUsername</key><string>${esc(state.me.email)}</string>
<key>CardDAVPassword</key><string>${esc(r.password)}</string>
<key>PayloadDescription</key><string>Your Labelbook contacts</string>
<key>PayloadDisplayName</key><string>Labelbook contacts</string>
<key>PayloadIdentifier</key><string>${esc(ident)}.carddav</string>
<key>PayloadType</key><string>com.apple.carddav.account</string>
<key>PayloadUUID</key><string>${uuid()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDisplayName</key><string>Labelbook (${esc(r.app_password.name)})</string>
<key>PayloadIdentifier</key><string>${esc(ident)}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${uuid()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
`;
  return URL.createObjectURL(new Blob([xml], { type: "application/x-apple-aspen-config" }));
}

// ---- administration: people, groups, domains ----

async function renderAdmin(main) {
  const [users, groups, domains, google] = await Promise.all([api("GET", "/admin/users"), api("GET", "/admin/groups"), api("GET", "/admin/domains"), api("GET", "/admin/google")]);
  const again = () => renderAdmin(main);
  const shown = h("div", {});
  const act = (fn, err) => async () => {
    err.hidden = true;
    try { await fn(); } catch (e) { err.textContent = e.message; err.hidden = false; }
  };

  const [emailWrap, email, emailErr] = field("E-mail", { type: "email", autocomplete: "off" });
  const admin = h("input", { type: "checkbox" });
  const addUser = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    emailErr(null);
    try {
      const r = await api("POST", "/admin/users", { email: email.value, is_admin: admin.checked });
      await again();
      showPassword(r.user.email, r.password);
    } catch (e) { emailErr(msgFor(e, "email")); }
  } }, emailWrap, h("label", { class: "inline" }, admin, "Administrator"), h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Add person")));
  const showPassword = (who, password) => {
    const box = document.getElementById("admin-secret");
    if (box) fill(box, h("div", { class: "panel", role: "status" }, h("h2", {}, `Password for ${who}`),
      h("p", {}, "Shown only now: give it to them; they sign in with it here and on their devices."), secretLine(password, "password")));
  };
  const userRows = users.items.map((u) => {
    const err = h("p", { class: "error", hidden: true });
    const self = u.email === state.me.email;
    return h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(u.email)),
      h("div", { class: "who" }, h("div", { class: "name" }, u.email), h("div", { class: "meta" }, [u.is_admin ? "administrator" : "member", u.disabled ? "disabled" : null].filter(Boolean).join(" · ")), err),
      self ? null : h("button", { type: "button", class: "link", onclick: act(async () => { await api("PATCH", `/admin/users/${encodeURIComponent(u.email)}`, { disabled: !u.disabled }); await again(); }, err) }, u.disabled ? "Enable" : "Disable"),
      self ? null : h("button", { type: "button", class: "link", "aria-label": `New password for ${u.email}`, onclick: act(async () => {
        if (!confirm(`Give ${u.email} a new password? They are signed out everywhere, and their app passwords and API tokens stop working: each device needs a new app password.`)) return;
        const r = await api("PATCH", `/admin/users/${encodeURIComponent(u.email)}`, { reset_password: true });
        showPassword(u.email, r.password);
      }, err) }, "New password"),
      self ? null : h("button", { type: "button", class: "link danger", "aria-label": `Delete ${u.email}`, onclick: act(async () => {
        if (!confirm(`Delete ${u.email}? Their contacts go with them.`)) return;
        await api("DELETE", `/admin/users/${encodeURIComponent(u.email)}`);
        await again();
      }, err) }, "Delete"));
  });

  const [groupWrap, groupName, groupErr] = field("New group");
  const groupRows = groups.items.map((g) => {
    const err = h("p", { class: "error", hidden: true });
    const member = h("input", { type: "email", placeholder: "member's e-mail", "aria-label": `Add a member to ${g.name}` });
    return h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, g.name),
      h("div", { class: "meta" }, g.members.length ? g.members.join(", ") : "no members yet"),
      h("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); act(async () => { await api("PUT", `/admin/groups/${encodeURIComponent(g.name)}/members/${encodeURIComponent(member.value.trim())}`); await again(); }, err)(); } },
        h("div", { class: "grow" }, member), h("button", { type: "submit" }, "Add")),
      g.members.map((m) => h("button", { type: "button", class: "link", "aria-label": `Remove ${m} from ${g.name}`, onclick: act(async () => { await api("DELETE", `/admin/groups/${encodeURIComponent(g.name)}/members/${encodeURIComponent(m)}`); await again(); }, err) }, `− ${m}`)),
      err),
      h("button", { type: "button", class: "link danger", "aria-label": `Delete group ${g.name}`, onclick: act(async () => { await api("DELETE", `/admin/groups/${encodeURIComponent(g.name)}`); await again(); }, err) }, "Delete"));
  });

  const [domainWrap, domainName, domainErr] = field("New domain", { placeholder: "example.com" });
  const domainRows = domains.items.map((d) => {
    const err = h("p", { class: "error", hidden: true });
    const auto = h("input", { type: "checkbox", checked: d.auto_accept });
    auto.addEventListener("change", act(async () => { await api("PATCH", `/admin/domains/${encodeURIComponent(d.name)}`, { auto_accept: auto.checked }); }, err));
    return h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, d.name, d.primary ? " (primary)" : ""),
      h("label", { class: "inline" }, auto, "Accept invitations to its people at once"), err),
      d.primary ? null : h("button", { type: "button", class: "link", onclick: act(async () => { await api("PATCH", `/admin/domains/${encodeURIComponent(d.name)}`, { primary: true }); await again(); }, err) }, "Make primary"),
      h("button", { type: "button", class: "link danger", "aria-label": `Remove domain ${d.name}`, onclick: act(async () => { await api("DELETE", `/admin/domains/${encodeURIComponent(d.name)}`); await again(); }, err) }, "Remove"));
  });

  const [mirrorWrap, mirrorEmail, mirrorErr] = field("Mirror someone's labels into their Google Contacts", { type: "email", autocomplete: "off", placeholder: "their e-mail" });
  const googleRows = google.items.map((g) => {
    const err = h("p", { class: "error", hidden: true });
    const path = `/admin/google/users/${encodeURIComponent(g.user)}`;
    return h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, g.user),
      h("div", { class: "meta" }, [GOOGLE_WORDS[g.status] || g.status, `last sent ${googleWhen(g.last_push)}`, g.last_error && g.status !== "ok" ? g.last_error : null].filter(Boolean).join(" · ")), err),
      h("button", { type: "button", class: "link", "aria-label": `Sync now for ${g.user}`, onclick: act(async () => { await api("POST", `${path}/sync`); await again(); }, err) }, "Sync now"),
      g.status === "removing" ? null : h("button", { type: "button", class: "link danger", "aria-label": `Stop mirroring ${g.user}`, onclick: act(async () => {
        if (!confirm(`Stop mirroring ${g.user}? What Labelbook made in their Google Contacts is removed.`)) return;
        await api("DELETE", path);
        await again();
      }, err) }, "Stop"));
  });
  // The Workspace delegation's key: uploaded here (kept sealed on the server) unless the configuration names one.
  const d = google.delegation;
  const keyErr = h("p", { class: "error", hidden: true, role: "alert" });
  const keyId = nextId("gkey");
  const keyInput = h("input", { type: "file", id: keyId, accept: ".json,application/json" });
  keyInput.addEventListener("change", act(async () => {
    const file = keyInput.files[0];
    if (!file) return;
    let key;
    try { key = JSON.parse(await file.text()); } catch { throw new Error(`${file.name} is not a JSON key file: download the service account's key as JSON.`); }
    await api("PUT", "/admin/google/key", key);
    await again();
  }, keyErr));
  const keyUpload = (label) => h("div", {}, h("label", { for: keyId }, label), keyInput);
  const delegation = d
    ? [h("p", { class: "hint" }, `Labels are mirrored into people's Google Contacts through the service account ${d.service_account}. In the Google Admin console, under Security › API controls › Domain-wide delegation, add its client ID with the scope below.`),
      h("dl", { class: "facts" },
        h("dt", {}, "Client ID"), h("dd", {}, h("code", {}, d.client_id || "(not in the key)")),
        h("dt", {}, "Scope"), h("dd", {}, h("code", {}, d.scope)),
        h("dt", {}, "Key"), h("dd", {}, d.source === "config" ? "set in the server's configuration (google.service_account_key)" : "uploaded here")),
      d.source === "uploaded"
        ? h("div", { class: "actions" }, keyUpload("Replace the key"),
            h("button", { type: "button", class: "link danger", onclick: act(async () => {
              if (!confirm("Remove the service-account key? Nobody can be mirrored through the Workspace delegation until a key is uploaded again.")) return;
              await api("DELETE", "/admin/google/key");
              await again();
            }, keyErr) }, "Remove key"))
        : null]
    : [h("p", { class: "hint" }, "To mirror labels into your Workspace users' Google Contacts, create a service account in Google Cloud with domain-wide delegation, download its key as JSON, and upload it here."),
      keyUpload("Service-account key (JSON)")];
  const googlePanel = h("section", { class: "panel", "aria-label": "Google Workspace" }, h("h2", {}, "Google Workspace"),
    delegation, keyErr,
    google.available
      ? [googleRows.length ? h("ul", { class: "list" }, googleRows) : h("p", { class: "hint" }, "Nobody is mirrored yet."),
        h("form", { onsubmit: async (ev) => { ev.preventDefault(); mirrorErr(null); try { await api("PUT", `/admin/google/users/${encodeURIComponent(mirrorEmail.value.trim())}`, {}); await again(); } catch (e) { mirrorErr(msgFor(e, "email")); } } },
          mirrorWrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Mirror")))]
      : null);

  fill(main, h("div", { class: "head" }, h("h1", {}, "People and domains")), h("div", { id: "admin-secret" }), shown,
    h("section", { class: "panel", "aria-label": "People" }, h("h2", {}, "People"), h("ul", { class: "list" }, userRows), addUser),
    h("section", { class: "panel", "aria-label": "Groups" }, h("h2", {}, "Groups"),
      groupRows.length ? h("ul", { class: "list" }, groupRows) : h("p", { class: "hint" }, "Share a label with a whole team at once: make a group, then share with group:NAME."),
      h("form", { onsubmit: async (ev) => { ev.preventDefault(); groupErr(null); try { await api("POST", "/admin/groups", { name: groupName.value }); await again(); } catch (e) { groupErr(msgFor(e, "name")); } } },
        groupWrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Add group")))),
    h("section", { class: "panel", "aria-label": "Domains" }, h("h2", {}, "Domains"),
      domainRows.length ? h("ul", { class: "list" }, domainRows) : h("p", { class: "hint" }, "No domain yet: accounts may have any address. Once you add one, accounts must be in the server's domains."),
      h("form", { onsubmit: async (ev) => { ev.preventDefault(); domainErr(null); try { await api("POST", "/admin/domains", { name: domainName.value, primary: !domains.items.length }); await again(); } catch (e) { domainErr(msgFor(e, "name")); } } },
        domainWrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Add domain")))),
    googlePanel);
}

// ---- administration: server settings (mail, public address, invitations) ----

async function renderSettings(main) {
  const cur = await api("GET", "/admin/settings");
  const fromHere = (name) => cur.set_in_dashboard.includes(name) ? "Set here." : "From the config file (or the default); saving here overrides it.";
  const smtp = cur.smtp || {};

  const [urlWrap, url, urlErr] = field("Public address", { type: "url", value: cur.public_url || "", placeholder: "https://contacts.example.com" },
    "Where people open this dashboard; links in invitation e-mails start with it. Empty: the address the inviter's browser used. " + fromHere("public_url"));
  const anyDomain = h("input", { type: "checkbox", checked: cur.invite_any_domain });
  const generalErr = h("p", { class: "error", role: "alert", hidden: true });
  const general = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    urlErr(null); generalErr.hidden = true;
    try {
      await api("PATCH", "/admin/settings", { public_url: url.value.trim() || null, invite_any_domain: anyDomain.checked });
      toast("Settings saved");
      await refreshSidebar();
      await renderSettings(main);
    } catch (e) {
      if (e instanceof ApiError && e.field("public_url")) urlErr(e.field("public_url"));
      else { generalErr.textContent = e.message; generalErr.hidden = false; }
    }
  } }, urlWrap,
  h("label", { class: "inline" }, anyDomain, "Collaborators may invite any address (an account is made for it on acceptance), not only this server's domains"),
  generalErr, h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save")));

  const [hostWrap, host, hostErr] = field("Mail server (SMTP host)", { value: smtp.host || "", placeholder: "smtp.example.com", autocomplete: "off" });
  const secId = nextId("sec");
  const security = h("select", { id: secId },
    h("option", { value: "starttls", selected: (smtp.security || "starttls") === "starttls" }, "STARTTLS (port 587)"),
    h("option", { value: "tls", selected: smtp.security === "tls" }, "TLS (port 465)"),
    h("option", { value: "none", selected: smtp.security === "none" }, "None: a relay on this machine or network (port 25)"));
  const [portWrap, port, portErr] = field("Port", { type: "number", min: "1", max: "65535", value: smtp.port || "", placeholder: "by security" });
  const [userWrap, user, userErr] = field("Username", { value: smtp.username || "", autocomplete: "off" });
  const [passWrap, pass, passErr] = field("Password", { type: "password", autocomplete: "new-password", placeholder: smtp.password_set ? "unchanged (set)" : "" },
    smtp.password_set ? "Leave empty to keep the password already set." : "");
  const [fromWrap, from, fromErr] = field("Sender", { value: smtp.from || "", placeholder: "Labelbook <contacts@example.com>" });
  const [caWrap, ca, caErr] = field("Extra trusted CA file (optional)", { value: smtp.ca_file || "", placeholder: "/etc/labelbook/ca.pem" },
    "For a mail server whose certificate comes from a private authority; the system's authorities are always trusted.");
  const fieldErrs = { "smtp.host": hostErr, "smtp.port": portErr, "smtp.username": userErr, "smtp.password": passErr, "smtp.from": fromErr, "smtp.ca_file": caErr };
  const mailErr = h("p", { class: "error", role: "alert", hidden: true });
  const clearErrs = () => { Object.values(fieldErrs).forEach((f) => f(null)); mailErr.hidden = true; };
  const showErr = (e) => {
    const f = e instanceof ApiError && Object.keys(fieldErrs).find((k) => e.field(k));
    if (f) fieldErrs[f](e.field(f)); else { mailErr.textContent = e.message; mailErr.hidden = false; }
  };
  const smtpForm = () => {
    const s = { host: host.value.trim(), security: security.value, username: user.value.trim() || null, from: from.value.trim(), ca_file: ca.value.trim() || null };
    if (port.value) s.port = Number(port.value);
    if (pass.value) s.password = pass.value;
    else if (!smtp.password_set || !s.username) s.password = null;
    return s;
  };
  const [toWrap, to] = field("Send a test message to", { type: "email", value: state.me.email });
  const result = h("div", { role: "status" });
  const mail = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    clearErrs();
    try {
      await api("PATCH", "/admin/settings", { smtp: smtpForm() });
      toast("Mail settings saved: invitations are e-mailed from now on");
      await refreshSidebar();
      await renderSettings(main);
    } catch (e) { showErr(e); }
  } }, hostWrap, h("div", {}, h("label", { for: secId }, "Security"), security), portWrap, userWrap, passWrap, fromWrap, caWrap, mailErr,
  h("div", { class: "actions" },
    h("button", { type: "submit", class: "primary" }, "Save mail settings"),
    cur.smtp && cur.set_in_dashboard.includes("smtp") ? h("button", { type: "button", class: "danger", onclick: async () => {
      if (!confirm("Stop e-mailing invitations from these settings? (Settings from the config file apply again, if any.)")) return;
      clearErrs();
      try { await api("PATCH", "/admin/settings", { smtp: null }); toast("Mail settings removed"); await refreshSidebar(); await renderSettings(main); } catch (e) { showErr(e); }
    } }, "Remove") : null),
  h("h3", {}, "Test"),
  toWrap,
  h("div", { class: "actions" }, h("button", { type: "button", onclick: async (ev) => {
    clearErrs();
    const button = ev.currentTarget;
    button.disabled = true;
    fill(result, h("p", { class: "hint" }, "Talking to the mail server…"));
    try {
      const body = { to: to.value.trim() || null };
      if (host.value.trim()) body.smtp = smtpForm();
      const r = await api("POST", "/admin/settings/smtp-test", body);
      fill(result, 
        r.sent ? h("p", {}, `Sent to ${r.to}: check that mailbox. These settings work${cur.smtp ? "" : " — save them to use them"}.`)
          : h("p", { class: "error" }, `Not sent: ${r.error}`),
        h("details", {}, h("summary", {}, "What the mail server said"), h("pre", { class: "transcript" }, r.transcript.join("\n"))));
    } catch (e) { fill(result, ); showErr(e); }
    finally { button.disabled = false; }
  } }, "Send test message")), result);

  fill(main, h("div", { class: "head" }, h("h1", {}, "Settings")),
    h("section", { class: "panel", "aria-label": "Invitations" }, h("h2", {}, "Invitations"), general),
    h("section", { class: "panel", "aria-label": "Mail" }, h("h2", {}, "Mail"),
      h("p", { class: "hint" }, cur.smtp
        ? `Invitations are e-mailed through ${cur.smtp.host}:${cur.smtp.port}. ${fromHere("smtp")}`
        : "No mail server yet: people who invite copy the invitation link and send it themselves. Fill this in to have invitations e-mailed."),
      mail));
}

// ---- an invitation link, signed in or not ----

async function renderInvite(main, secret) {
  let info;
  try {
    info = await api("GET", `/invite-links/${encodeURIComponent(secret)}`);
  } catch (e) {
    fill(main, h("h1", {}, "Invitation"), h("p", { class: "error", role: "alert" }, e.message),
      h("p", {}, h("a", { href: "#/" }, "Go to Labelbook")));
    return;
  }
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const level = (LEVELS.find((l) => l[0] === info.level) || [])[1] || info.level;
  const what = h("p", {}, `${info.invited_by || info.owner} invites ${info.email} to the label “${info.label_name}” (${level}).`);
  const post = async (action, body) => {
    err.hidden = true;
    const r = await fetch(`/api/v1/invite-links/${encodeURIComponent(secret)}/${action}`, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", ...(state.csrf ? { "x-csrf-token": state.csrf } : {}) },
      body: JSON.stringify(body || {}),
    });
    const data = r.status === 204 ? null : await r.json();
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  };
  const declined = () => fill(main, h("h1", {}, "Declined"), h("p", {}, `You will not see “${info.label_name}”.`), h("p", {}, h("a", { href: "#/" }, "Go to Labelbook")));
  const decline = h("button", { type: "button", onclick: async () => {
    try { await post("decline"); declined(); } catch (e) { err.textContent = e.message; err.hidden = false; }
  } }, "Decline");
  const signedInAs = state.me && state.me.email;
  let body;
  if (!info.account_exists && !info.can_create_account) {
    // A copied link proves nothing about who holds it: it cannot make the account.
    body = h("div", {},
      h("p", {}, `There is no account for ${info.email} on this server yet. Only an invitation e-mailed to ${info.email} can create one.`),
      h("p", {}, "Ask an administrator to create your account, then sign in and open this link again; or ask the person who invited you to send the invitation by e-mail."));
  } else if (!info.account_exists) {
    const [pw1Wrap, pw1, pw1Err] = field("Choose a password", { type: "password", autocomplete: "new-password", minlength: "8" }, "At least 8 characters. You sign in with it here and on your devices.");
    const [pw2Wrap, pw2, pw2Err] = field("Repeat it", { type: "password", autocomplete: "new-password" });
    body = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      pw1Err(null); pw2Err(null);
      if (pw1.value !== pw2.value) return pw2Err("The two passwords differ.");
      try {
        const r = await post("accept", { password: pw1.value });
        state.csrf = r.csrf_token || null;
        location.hash = `#/book/${r.label_id}`;
        await start();
      } catch (e) { if (e instanceof ApiError && e.field("password")) pw1Err(e.field("password")); else { err.textContent = e.message; err.hidden = false; } }
    } }, h("p", {}, `Create your account (${info.email}) to accept.`), pw1Wrap, pw2Wrap, err,
      h("div", { class: "actions" }, decline, h("button", { type: "submit", class: "primary" }, "Create account and accept")));
  } else if (signedInAs === info.email) {
    body = h("div", {}, err, h("div", { class: "actions" }, decline, h("button", { type: "button", class: "primary", onclick: async () => {
      try { await post("accept"); await refreshSidebar(); location.hash = `#/book/${info.label_id}`; toast(`You joined “${info.label_name}”`); }
      catch (e) { err.textContent = e.message; err.hidden = false; }
    } }, "Accept")));
  } else if (signedInAs) {
    body = h("div", {}, h("p", { class: "error" }, `This invitation is for ${info.email}; you are signed in as ${signedInAs}.`),
      h("div", { class: "actions" }, h("button", { type: "button", onclick: async () => { await signOut(); location.reload(); } }, "Sign out")));
  } else {
    body = h("div", {}, h("p", {}, `Sign in as ${info.email} to answer.`), h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => { renderLogin(); const e = document.querySelector("input[type=email]"); if (e) e.value = info.email; } }, "Sign in")));
  }
  fill(main, h("h1", {}, "You are invited"), what, body);
}

// ---- live: the server's event stream ----

function stopListening() {
  if (state.events) state.events.close();
  state.events = null;
}

/** Follows /api/v1/events: whatever changes anywhere (another browser, a phone over CardDAV) shows here. */
function listen() {
  stopListening();
  const source = new EventSource("/api/v1/events");
  state.events = source;
  const due = { sidebar: false, list: false, share: false, page: false, session: false };
  let timer = null;
  let opened = false;
  const later = (what) => {
    Object.assign(due, what);
    clearTimeout(timer);
    // Changes come in bursts (an import, a sync): one refresh for each burst.
    timer = setTimeout(async () => {
      const now = { ...due };
      Object.keys(due).forEach((k) => (due[k] = false));
      try {
        if (now.session) await api("GET", "/session");
        if (now.sidebar || now.page) await refreshSidebar();
        const view = state.view;
        const label = view && state.labels.find((l) => l.id === view.id);
        // A label gone, renamed or at another level is drawn again; otherwise only its lists, so a contact
        // being edited stays open.
        const stale = view && view.id !== "contacts" && (!label || label.level !== view.level || label.name !== view.name);
        if (now.page || stale || (location.hash.startsWith("#/invitations") && now.sidebar)) await route();
        else if (view) {
          if (now.list) await view.reload();
          if (now.share && view.redraw) await view.redraw();
        }
      } catch (e) {
        /* a 401 has shown the sign-in form */
      }
    }, 150);
  };
  const data = (e) => JSON.parse(e.data || "{}");
  source.addEventListener("open", () => {
    // A reconnect: what changed while away is replayed, or announced as a resync; a first open needs nothing.
    if (opened) later({ sidebar: true });
    opened = true;
  });
  source.addEventListener("contacts", (e) => {
    const d = data(e);
    const view = state.view;
    const here = view && (view.id === "contacts" ? d.my_contacts : d.labels.includes(view.id));
    later({ sidebar: true, list: !!here });
  });
  source.addEventListener("labels", () => later({ sidebar: true, share: true }));
  source.addEventListener("invitations", () => later({ sidebar: true }));
  source.addEventListener("resync", () => later({ sidebar: true, list: true, share: true }));
  source.addEventListener("account", () => later({ session: true }));
  source.addEventListener("google", () => {
    if (state.googleRedraw && location.hash.startsWith("#/devices")) state.googleRedraw().catch(() => {});
  });
  source.addEventListener("error", () => {
    // The browser retries on its own unless the server refused the stream (signed out, session over).
    if (source.readyState === EventSource.CLOSED && state.events === source) {
      api("GET", "/session").then(() => setTimeout(() => state.me && listen(), 2000), () => {});
    }
  });
}

// ---- start ----

/** Whether the server set a session cookie in this browser (the session itself is HttpOnly). */
const maybeSignedIn = () => document.cookie.split(";").some((c) => c.trim().startsWith("lb_signed_in=1"));

async function start() {
  try {
    // Signed out for sure: sign in without asking first (a 401 would show in the console as an error).
    if (!maybeSignedIn()) throw new ApiError(401, null);
    const s = await api("GET", "/session");
    state.csrf = s.csrf_token || null;
    await refreshSidebar();
    listen();
  } catch (e) {
    const invite = location.hash.match(/^#\/invite\/([^/]+)$/);
    if (e.status === 401 && invite) {
      const box = h("div", { class: "login" });
      fill(app(), box);
      return renderInvite(box, decodeURIComponent(invite[1]));
    }
    if (e.status === 401) return renderLogin();
    fill(app(), h("p", { class: "loading error", role: "alert" }, `Labelbook is unreachable: ${e.message}`));
    return;
  }
  await route();
}

// A notice belongs to the page it was given for: going elsewhere takes it away (an Undo included: it would act
// on something no longer in view). One given just after moving to a page (`location.hash = …; toast(…)`) is that
// page's, and stays.
window.addEventListener("hashchange", () => {
  document.querySelectorAll(".toast").forEach((t) => { if (t.dataset.page !== location.hash) t.remove(); });
  setMenu(false);
  route();
});
start();
