// The dashboard: sharing. (app.js says how the modules fit.)
import { DEVICES_TOGGLE, LEVELS, api, msgFor, state } from "../api.js";
import { field, fill, h, initials, levelSelect, nextId, toast } from "../dom.js";
import { refreshSidebar, route } from "../shell.js";
import { when } from "./history.js";

// `levels`: those the user may give (a label's may.grant_levels).
// Whom a label is shared with, in words: the field's label and what is asked for follow the choice.
export const GRANTEE_KINDS = [
  ["user", "A person", "E-mail address", "name@example.com"],
  ["group", "A group", "Group name", "Sales"],
  ["domain", "Everyone at a domain", "Domain", "example.com"],
];

export function collaboratorForm(levels, onAdd, submitText) {
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
export const HIDEABLE = [
  ["TEL", "Phone numbers"], ["TEL;TYPE=CELL", "Mobile numbers only"], ["EMAIL", "E-mail addresses"], ["ADR", "Addresses"],
  ["BDAY", "Birthday"], ["NOTE", "Notes"], ["ORG", "Organization"], ["TITLE", "Job title"], ["URL", "Websites"], ["PHOTO", "Photo"],
];
export const hiddenWords = (item) => (HIDEABLE.find(([v]) => v.toUpperCase() === item.toUpperCase()) || [item, item])[1];

/** What is hidden from one collaborator, as checkboxes (a rule set elsewhere that none of them names is kept). */
export function hiddenFieldsChooser(g, unfolded, save) {
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
export function mailLine(g) {
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
export async function sharePanel(label) {
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

export function labelSettings(label) {
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
