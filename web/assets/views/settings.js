// The dashboard: administration: server settings (mail, public address, invitations). (app.js says how the modules fit.)
import { ApiError, api, state } from "../api.js";
import { field, fill, h, nextId, toast } from "../dom.js";
import { refreshSidebar } from "../shell.js";

export async function renderSettings(main) {
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
