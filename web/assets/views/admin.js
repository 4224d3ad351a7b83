// The dashboard: administration: people, groups, domains. (app.js says how the modules fit.)
import { api, msgFor, state } from "../api.js";
import { app, field, fill, h, initials, nextId } from "../dom.js";
import { GOOGLE_WORDS, googleWhen, secretLine } from "./devices.js";

export async function renderAdmin(main) {
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
