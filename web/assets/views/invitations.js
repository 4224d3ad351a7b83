// The dashboard: invitations. (app.js says how the modules fit.)
import { DEVICES_TOGGLE, LEVELS, api } from "../api.js";
import { fill, h, initials, toast } from "../dom.js";
import { refreshSidebar, route } from "../shell.js";

export async function renderInvitations(main) {
  const items = (await api("GET", "/invitations")).items;
  const rows = items.map((inv) => {
    const devices = h("input", { type: "checkbox", checked: inv.sync_devices });
    const err = h("p", { class: "error", hidden: true });
    const answer = async (accept) => {
      try {
        await api("POST", `/invitations/${inv.id}/${accept ? "accept" : "decline"}`, accept ? { sync_devices: devices.checked } : undefined);
        await refreshSidebar();
        if (accept) location.hash = `#/book/${inv.label_id}`;
        else route();
        toast(accept ? `You joined “${inv.label_name}”` : "Declined");
      } catch (e) { err.textContent = e.message; err.hidden = false; }
    };
    return h("li", {}, h("span", { class: "avatar", "aria-hidden": "true" }, initials(inv.label_name)),
      h("div", { class: "who" }, h("div", { class: "name" }, inv.label_name),
        h("div", { class: "meta" }, `from ${inv.invited_by || inv.owner} · ${LEVELS.find((l) => l[0] === inv.level)?.[1] || inv.level}`),
        h("label", { class: "inline" }, devices, DEVICES_TOGGLE), err),
      h("button", { type: "button", onclick: () => answer(false) }, "Decline"),
      h("button", { type: "button", class: "primary", "aria-label": `Accept ${inv.label_name}`, onclick: () => answer(true) }, "Accept"));
  });
  fill(main, h("div", { class: "head" }, h("h1", {}, "Invitations")),
    h("section", { class: "panel" }, rows.length ? h("ul", { class: "list" }, rows) : h("p", { class: "hint" }, "No invitation is waiting for you.")));
}
