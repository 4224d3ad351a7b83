// The dashboard: add existing contacts. (app.js says how the modules fit.)
import { api, state } from "../api.js";
import { contactMeta, fill, h, initials, nextId } from "../dom.js";

// Chosen contacts, by where they are read (My contacts or a label) and their id there.
export function chosenKey(from, id) { return `${from}/${id}`; }

// Add the chosen contacts to a label: one request per book they come from; the problems, one line each.
export async function addChosen(labelId, chosen) {
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
export function contactChooser(chosen, changed, exceptLabel, already = Promise.resolve(new Set())) {
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

export function existingPicker(label, done) {
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

export function contactCheckbox(c, from, chosen, changed, onLabel = false) {
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
