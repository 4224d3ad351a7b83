// The dashboard: the "+" flow: name → collaborators → contacts → saved. (app.js says how the modules fit.)
import { ApiError, LEVELS, api, msgFor, state } from "../api.js";
import { field, fill, h, initials, levelSelect, nextId, toast } from "../dom.js";
import { refreshSidebar } from "../shell.js";
import { addChosen, contactChooser } from "./picker.js";
import { GRANTEE_KINDS, collaboratorForm } from "./sharing.js";

/** The server's limit on a label's name, in characters (it refuses longer ones). */
export const LABEL_NAME_MAX = 200;

export function renderWizard(main) {
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

export async function saveWizard(w) {
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
