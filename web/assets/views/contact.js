// The dashboard: the contact editor. (app.js says how the modules fit.)
import { ApiError, api, state } from "../api.js";
import { field, fill, h, initials, nextId, toast } from "../dom.js";
import { refreshSidebar } from "../shell.js";
import { contactHistory } from "./history.js";
import { shrink } from "./duplicates.js";

export const PHONE_TYPES = ["cell", "work", "home", "main", "fax", "other"];
export const EMAIL_TYPES = ["work", "home", "other"];

export function multiField(title, key, items, types, inputType, errs) {
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
export function contactCard({ base, contact: c, etag, may, isLabel, book, owner, edit, done }) {
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

export function contactEditor({ base, contact, etag, may, done }) {
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
