// Labelbook's dashboard: ES modules the browser loads as they are (no build step), talking only to /api/v1.
// This one starts it. api.js holds the shared state and the API client, dom.js the DOM helpers and notices,
// shell.js the sidebar and the router, live.js the server's event stream, views/ one module per page or panel.
// The router and the views name each other, so some imports go in a circle: harmless, since no module does
// anything when it is loaded but declare (this one then calls start()).
// Everything a contact or a collaborator wrote reaches the page as text nodes (never as HTML), and the server's
// policy allows no inline script: what one collaborator types cannot run in another's browser.
import { ApiError, api, state } from "./api.js";
import { app, fill, h } from "./dom.js";
import { renderLogin } from "./views/login.js";
import { refreshSidebar, route, setMenu } from "./shell.js";
import { renderInvite } from "./views/invite.js";
import { listen } from "./live.js";

/** Whether the server set a session cookie in this browser (the session itself is HttpOnly). */
const maybeSignedIn = () => document.cookie.split(";").some((c) => c.trim().startsWith("lb_signed_in=1"));

export async function start() {
  try {
    // Signed out for sure: sign in without asking first (a 401 would show in the console as an error).
    if (!maybeSignedIn()) throw new ApiError(401, null);
    const s = await api("GET", "/session");
    state.csrf = s.csrf_token || null;
    await refreshSidebar();
    listen();
  } catch (e) {
    const invite = location.hash.match(/^#\/invite\/([^/]+)$/);
    if (e.status === 401 && invite) {
      const box = h("div", { class: "login" });
      fill(app(), box);
      return renderInvite(box, decodeURIComponent(invite[1]));
    }
    if (e.status === 401) return renderLogin();
    fill(app(), h("p", { class: "loading error", role: "alert" }, `Labelbook is unreachable: ${e.message}`));
    return;
  }
  await route();
}

// A notice belongs to the page it was given for: going elsewhere takes it away (an Undo included: it would act
// on something no longer in view). One given just after moving to a page (`location.hash = …; toast(…)`) is that
// page's, and stays.
window.addEventListener("hashchange", () => {
  document.querySelectorAll(".toast").forEach((t) => { if (t.dataset.page !== location.hash) t.remove(); });
  setMenu(false);
  route();
});
start();
