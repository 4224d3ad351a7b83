// The dashboard: an invitation link, signed in or not. (app.js says how the modules fit.)
import { ApiError, LEVELS, api, state } from "../api.js";
import { field, fill, h, toast } from "../dom.js";
import { renderLogin } from "./login.js";
import { refreshSidebar, signOut } from "../shell.js";
import { start } from "../app.js";

export async function renderInvite(main, secret) {
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
