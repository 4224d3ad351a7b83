// The dashboard: a book: My contacts or a label. (app.js says how the modules fit.)
import { ApiError, LEVELS, api, downloadPost, inBatches, state } from "../api.js";
import { avatar, contactMeta, fill, h, toast } from "../dom.js";
import { refreshSidebar } from "../shell.js";
import { contactCard, contactEditor } from "./contact.js";
import { importPanel } from "./import.js";
import { activityPanel } from "./history.js";
import { existingPicker } from "./picker.js";
import { labelSettings, sharePanel } from "./sharing.js";

export async function renderBook(main, id) {
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
      const allBack = gone.length === 1 ? `${gone[0][1] || "The contact"} is back.` : `All ${gone.length} are back.`;
      toast(missed ? `${gone.length - missed} are back; ${missed} could not be restored (see the trash).` : allBack, { lasting: Boolean(missed) });
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

export async function fetchContact(path) {
  const r = await fetch("/api/v1" + path, { credentials: "same-origin" });
  const data = await r.json();
  if (!r.ok) throw new ApiError(r.status, data);
  return { contact: data, etag: r.headers.get("etag") };
}
