// The dashboard: devices: app passwords. (app.js says how the modules fit.)
import { ApiError, api, msgFor, state } from "../api.js";
import { app, field, fill, h, nextId, toast } from "../dom.js";
import { when } from "./history.js";

/** What a device registered for instant updates (WebDAV-Push), in words; nothing for a device that did not. */
export function pushLine(p) {
  if (!p || !p.registrations) return null;
  const parts = [`Instant updates on (${p.registrations === 1 ? "1 book" : p.registrations + " books"})`,
    p.last_push_at ? "last update sent " + new Date(p.last_push_at).toLocaleString() : "no update sent yet"];
  const line = h("div", { class: "meta" }, parts.join(" · "));
  if (!p.last_error) return line;
  return h("div", {}, line, h("div", { class: "error" }, `The last update could not be delivered (${new Date(p.last_error_at).toLocaleString()}): ${p.last_error}`));
}

export async function renderDevices(main, arg) {
  const items = (await api("GET", "/app-passwords")).items;
  const shown = h("div", {});
  const [nameWrap, name, nameErr] = field("Device name", { placeholder: "e.g. Ann's iPhone" });
  const single = h("input", { type: "checkbox" });
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    nameErr(null);
    try {
      const r = await api("POST", "/app-passwords", { name: name.value, layout: single.checked ? "single" : "books" });
      showSecret(shown, r);
      name.value = "";
      single.checked = false;
      await renderList();
    } catch (e) { nameErr(msgFor(e, "name")); }
  } }, nameWrap,
    h("label", { class: "inline" }, single, "One combined book with labels as groups (for a Mac: macOS Contacts shows only an account's first book)"),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Create app password")));
  const list = h("ul", { class: "list", "aria-label": "App passwords" });
  const renderList = async () => {
    const all = (await api("GET", "/app-passwords")).items;
    fill(list, ...all.map((a) => h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, a.name),
      h("div", { class: "meta" }, [a.layout === "single" ? "one combined book" : null, a.last_used_at ? "last synced " + new Date(a.last_used_at).toLocaleString() : "never synced"].filter(Boolean).join(" · ")),
      pushLine(a.push)),
      h("button", { type: "button", class: "link danger", "aria-label": `Revoke ${a.name}`, onclick: async () => {
        if (!confirm(`Revoke “${a.name}”? That device stops syncing at once.`)) return;
        await api("DELETE", `/app-passwords/${a.id}`);
        await renderList();
      } }, "Revoke"))));
    if (!all.length) list.append(h("li", {}, h("span", { class: "hint" }, "No device yet.")));
  };
  const tokens = await tokenSection();
  const google = await googleSection(arg === "google-refused");
  fill(main, h("div", { class: "head" }, h("h1", {}, "Devices")),
    h("section", { class: "panel" }, h("h2", {}, "Connect a phone, a Mac, Thunderbird or Outlook"),
      h("p", { class: "hint" }, "Give each device its own app password: you can revoke one without touching the others."), form, shown),
    h("section", { class: "panel" }, h("h2", {}, "Your devices"), list), google, tokens);
  void items;
  await renderList();
}

export const GOOGLE_WORDS = { off: "Off", pending: "Starting…", ok: "In sync", permission_lost: "Permission lost", paused: "Paused", error: "Trouble reaching Google (retried on its own)", removing: "Being removed" };

export function googleWhen(t) { return t ? new Date(t).toLocaleString() : "never"; }

/** Your Google Contacts mirror: connect, state (live through the `google` event), Sync now, disconnect. */
export async function googleSection(refused) {
  const box = h("section", { class: "panel", "aria-label": "Google Contacts" });
  const signIn = async (mine) => {
    const r = await api("POST", "/google/oauth", { my_contacts: mine });
    location.href = r.url;
  };
  const draw = async () => {
    const g = await api("GET", "/google");
    const title = h("h2", {}, "Google Contacts");
    if (!g.available && !g.enabled) {
      fill(box, title, h("p", { class: "hint" }, "This server does not mirror into Google Contacts; an administrator can set it up."));
      return;
    }
    const err = h("p", { class: "error", role: "alert", hidden: true });
    const act = (fn) => async () => {
      err.hidden = true;
      try { await fn(); await draw(); } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    const mine = h("input", { type: "checkbox", checked: g.my_contacts });
    if (g.enabled) mine.addEventListener("change", act(() => api("PUT", "/google", { my_contacts: mine.checked })));
    const status = h("p", { role: "status" }, h("strong", {}, GOOGLE_WORDS[g.status] || g.status),
      g.syncing ? " · syncing now" : g.sync_requested ? " · sync asked for" : "");
    const notes = [];
    if (g.enabled) notes.push(h("p", { class: "meta" }, `Last sent ${googleWhen(g.last_push)} · last read ${googleWhen(g.last_pull)}`));
    const ownGrant = g.own_account && (g.connected_with === "own_account" || !g.delegation);
    if (g.status === "permission_lost") notes.push(h("p", { class: "error" }, ownGrant
      ? "Google no longer lets Labelbook reach your contacts (the access was taken back, or has run out). Choose Reconnect to grant it again."
      : "Google refused access to your contacts. Ask your administrator to check the Workspace delegation for Labelbook, then choose Reconnect."));
    else if (g.last_error && g.status !== "ok") notes.push(h("p", { class: g.status === "paused" ? "error" : "hint" }, g.last_error));
    // A lost permission of one's own grant is mended by granting again; of the delegation, by the administrator
    // (then a sync).
    const regrant = g.status === "permission_lost" && ownGrant;
    const connect = [];
    if (g.delegation) connect.push(h("button", { type: "button", class: "primary", onclick: act(() => api("PUT", "/google", { my_contacts: mine.checked })) }, "Connect Google Contacts"));
    if (g.own_account) connect.push(h("button", { type: "button", class: g.delegation ? "" : "primary", onclick: act(() => signIn(mine.checked)) }, g.delegation ? "Use my own Google account instead" : "Connect with Google"));
    const buttons = g.enabled
      ? [h("button", { type: "button", class: "primary", onclick: act(() => (regrant ? signIn(g.my_contacts) : api("POST", "/google/sync"))) },
          g.status === "permission_lost" ? "Reconnect" : g.status === "paused" ? "Apply the deletions and resume" : "Sync now"),
        h("button", { type: "button", class: "link danger", onclick: act(async () => {
          if (!confirm("Stop mirroring into your Google Contacts? The labels and contacts Labelbook made there are removed; nothing changes here.")) return;
          await api("DELETE", "/google");
        }) }, "Disconnect")]
      : g.status === "removing" ? [] : connect;
    if (refused && !g.enabled) notes.push(h("p", { class: "error" }, "Google did not grant access, so nothing was connected."));
    fill(box, title,
      h("p", { class: "hint" }, "Every label that syncs to your devices shows in your Google Contacts as a label of the same name, with its contacts as you see them (fields hidden from you stay here). What you change there comes back, within your level on each label."),
      status, ...notes, h("label", { class: "inline" }, mine, "Also my own contacts (My contacts)"),
      h("div", { class: "actions" }, ...buttons), err);
  };
  await draw();
  state.googleRedraw = draw;
  return box;
}

/** API tokens for scripts: made here (never by another token), shown once, revocable. */
export async function tokenSection() {
  const box = h("section", { class: "panel", "aria-label": "API tokens" });
  const draw = async (made) => {
    const all = (await api("GET", "/tokens")).items;
    const [nameWrap, name, nameErr] = field("Token name", { placeholder: "e.g. nightly backup" });
    const scopeId = nextId("scope");
    const scope = h("select", { id: scopeId }, h("option", { value: "read" }, "Read only (GET)"), h("option", { value: "write" }, "Read and write"));
    const [daysWrap, days, daysErr] = field("Expires after (days, empty: never)", { type: "number", min: "1", max: "3650" });
    const form = h("form", { onsubmit: async (ev) => {
      ev.preventDefault();
      nameErr(null); daysErr(null);
      try {
        const r = await api("POST", "/tokens", { name: name.value, scope: scope.value, expires_in_days: days.value ? Number(days.value) : null });
        await draw(r);
      } catch (e) { if (e instanceof ApiError && e.field("expires_in_days")) daysErr(e.field("expires_in_days")); else nameErr(msgFor(e, "name")); }
    } }, nameWrap, h("label", { for: scopeId }, "Scope"), scope, daysWrap, h("div", { class: "actions" }, h("button", { type: "submit" }, "Create token")));
    fill(box, h("h2", {}, "API tokens"),
      h("p", { class: "hint" }, "For scripts: send it as “Authorization: Bearer …” to /api/v1."),
      made ? h("div", { role: "status" }, h("p", {}, `Token “${made.token.name}”, shown only now:`), secretLine(made.secret, "token")) : null,
      all.length ? h("ul", { class: "list", "aria-label": "Your API tokens" }, all.map((t) => h("li", {}, h("div", { class: "who" }, h("div", { class: "name" }, t.name),
        h("div", { class: "meta" }, `${t.scope === "read" ? "read only" : "read and write"} · ${t.expires_at ? "expires " + when(t.expires_at) : "no expiry"} · ${t.last_used_at ? "last used " + when(t.last_used_at) : "never used"}`)),
        h("button", { type: "button", class: "link danger", "aria-label": `Revoke token ${t.name}`, onclick: async () => {
          if (!confirm(`Revoke “${t.name}”? Scripts using it stop at once.`)) return;
          await api("DELETE", `/tokens/${t.id}`);
          await draw();
        } }, "Revoke")))) : null,
      form);
  };
  await draw();
  return box;
}

/** A secret shown once, with a button that copies it (selecting it by hand works too). */
export function secretLine(secret, what) {
  return h("div", { class: "row secret-row" }, h("p", { class: "secret grow" }, secret),
    h("button", { type: "button", "aria-label": `Copy the ${what}`, onclick: async () => {
      try { await navigator.clipboard.writeText(secret); toast(`Copied the ${what}.`); }
      catch (e) { toast(`Select the ${what} and copy it: this browser would not let the page do it.`); }
    } }, "Copy"));
}

export function showSecret(box, r) {
  const server = `${location.origin}/`;
  fill(box, h("div", { class: "panel", role: "status" },
    h("h2", {}, `App password for ${r.app_password.name}`),
    h("p", {}, "Shown only now. Enter it on the device with your e-mail address as the user name:"),
    secretLine(r.password, "app password"),
    h("ul", {},
      h("li", {}, h("strong", {}, "iPhone / iPad / Mac: "), `Settings → Contacts → Accounts → Add Account → Other → CardDAV. Server: ${location.host}, user: ${state.me.email}.`),
      h("li", {}, h("strong", {}, "Android (DAVx5): "), `Login with URL and user name: ${server}`),
      h("li", {}, h("strong", {}, "Thunderbird: "), `Address Book → New → CardDAV Address Book: ${server}`),
      r.app_password.layout === "single"
        ? h("li", {}, h("strong", {}, "This password shows one book, "), `“All contacts” (${location.origin}${r.server_path}addressbooks/${state.me.email}/all/), with each label as a group.`)
        : h("li", {}, h("strong", {}, "Outlook (CalDav Synchronizer): "), `CardDAV URL: ${location.origin}${r.server_path}addressbooks/${state.me.email}/contacts/`)),
    h("p", {}, h("a", { href: mobileconfig(r), download: `Labelbook-${r.app_password.name.replace(/[^A-Za-z0-9-]+/g, "_")}.mobileconfig` }, "Download the profile for iPhone, iPad or Mac"),
      " — open it on the device and the account is set up in one tap.")));
}

/** An Apple configuration profile with this app password's CardDAV account (built here: the password is never
 * stored in clear on the server, so only this page can put it in). */
export function mobileconfig(r) {
  const esc = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  // crypto.randomUUID needs a secure context; a LAN address over plain HTTP is not one.
  const uuid = () => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("").toUpperCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  };
  const tls = location.protocol === "https:";
  const port = location.port || (tls ? "443" : "80");
  const ident = `${location.hostname}.labelbook.${r.app_password.id}`;
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>CardDAVAccountDescription</key><string>Labelbook (${esc(location.hostname)})</string>
<key>CardDAVHostName</key><string>${esc(location.hostname)}</string>
<key>CardDAVPort</key><integer>${esc(port)}</integer>
<key>CardDAVUseSSL</key><${tls}/>
<key>CardDAVPrincipalURL</key><string>${esc(`/dav/principals/${state.me.email}/`)}</string>
<key>CardDAVUsername</key><string>${esc(state.me.email)}</string>
<key>CardDAVPassword</key><string>${esc(r.password)}</string>
<key>PayloadDescription</key><string>Your Labelbook contacts</string>
<key>PayloadDisplayName</key><string>Labelbook contacts</string>
<key>PayloadIdentifier</key><string>${esc(ident)}.carddav</string>
<key>PayloadType</key><string>com.apple.carddav.account</string>
<key>PayloadUUID</key><string>${uuid()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDisplayName</key><string>Labelbook (${esc(r.app_password.name)})</string>
<key>PayloadIdentifier</key><string>${esc(ident)}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${uuid()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
`;
  return URL.createObjectURL(new Blob([xml], { type: "application/x-apple-aspen-config" }));
}
