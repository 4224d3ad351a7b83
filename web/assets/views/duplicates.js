// The dashboard: duplicates: likely pairs side by side, merged after a preview, undone from the notice. (app.js says how the modules fit.)
import { api } from "../api.js";
import { fill, h, toast } from "../dom.js";
import { refreshSidebar, route } from "../shell.js";

export const REASON_WORDS = {
  email: (v) => `the same e-mail address (${v})`,
  phone: (v) => `the same phone number (${v})`,
  name: () => "the same name",
  name_and_organization: () => "the same name and organization",
};
export const PROPERTY_WORDS = { EMAIL: "E-mail", TEL: "Phone", ORG: "Organization", NOTE: "Note", ADR: "Address", URL: "Website",
  TITLE: "Job title", ROLE: "Role", NICKNAME: "Other name", BDAY: "Birthday", ANNIVERSARY: "Anniversary", PHOTO: "Photo",
  N: "Name", FN: "Name", IMPP: "Chat", CATEGORIES: "Tags", GENDER: "Gender", RELATED: "Related person" };

/** A vCard line in words: "Organization: Wong & Co" rather than "ORG:Wong & Co". */
export function plainLine(line) {
  const colon = line.indexOf(":");
  const head = colon < 0 ? line : line.slice(0, colon);
  const name = head.split(";")[0].split(".").pop().toUpperCase();
  const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^tel:/i, "").split(";").filter(Boolean).join(" ").replace(/\\([,;\\])/g, "$1").replace(/\\n/gi, " ");
  if (name === "PHOTO") return "Photo";
  return `${PROPERTY_WORDS[name] || name.replace(/^X-/, "").toLowerCase()}: ${value}`;
}

export async function renderDuplicates(main) {
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
export function shrink(file) {
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
