// The dashboard: history, activity, trash. (app.js says how the modules fit.)
import { api } from "../api.js";
import { fill, h, initials, toast } from "../dom.js";
import { refreshSidebar, route } from "../shell.js";

export const when = (t) => new Date(t).toLocaleString();
export const SUMMARY = [
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
export function changes(before, after) {
  if (!before || !after) return [];
  return SUMMARY.filter(([, , get]) => get(before) !== get(after)).map(([, name, get]) => `${name}: “${get(before) || "—"}” → “${get(after) || "—"}”`);
}

export async function contactHistory(contact) {
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

export function activityPanel(label) {
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

export async function renderTrash(main) {
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
