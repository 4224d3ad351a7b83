// The dashboard: live: the server's event stream. (app.js says how the modules fit.)
import { api, state } from "./api.js";
import { refreshSidebar, route } from "./shell.js";

export function stopListening() {
  if (state.events) state.events.close();
  state.events = null;
}

/** Follows /api/v1/events: whatever changes anywhere (another browser, a phone over CardDAV) shows here. */
export function listen() {
  stopListening();
  const source = new EventSource("/api/v1/events");
  state.events = source;
  const due = { sidebar: false, list: false, share: false, page: false, session: false };
  let timer = null;
  let opened = false;
  const later = (what) => {
    Object.assign(due, what);
    clearTimeout(timer);
    // Changes come in bursts (an import, a sync): one refresh for each burst.
    timer = setTimeout(async () => {
      const now = { ...due };
      Object.keys(due).forEach((k) => (due[k] = false));
      try {
        if (now.session) await api("GET", "/session");
        if (now.sidebar || now.page) await refreshSidebar();
        const view = state.view;
        const label = view && state.labels.find((l) => l.id === view.id);
        // A label gone, renamed or at another level is drawn again; otherwise only its lists, so a contact
        // being edited stays open.
        const stale = view && view.id !== "contacts" && (!label || label.level !== view.level || label.name !== view.name);
        if (now.page || stale || (location.hash.startsWith("#/invitations") && now.sidebar)) await route();
        else if (view) {
          if (now.list) await view.reload();
          if (now.share && view.redraw) await view.redraw();
        }
      } catch (e) {
        /* a 401 has shown the sign-in form */
      }
    }, 150);
  };
  const data = (e) => JSON.parse(e.data || "{}");
  source.addEventListener("open", () => {
    // A reconnect: what changed while away is replayed, or announced as a resync; a first open needs nothing.
    if (opened) later({ sidebar: true });
    opened = true;
  });
  source.addEventListener("contacts", (e) => {
    const d = data(e);
    const view = state.view;
    const here = view && (view.id === "contacts" ? d.my_contacts : d.labels.includes(view.id));
    later({ sidebar: true, list: !!here });
  });
  source.addEventListener("labels", () => later({ sidebar: true, share: true }));
  source.addEventListener("invitations", () => later({ sidebar: true }));
  source.addEventListener("resync", () => later({ sidebar: true, list: true, share: true }));
  source.addEventListener("account", () => later({ session: true }));
  source.addEventListener("google", () => {
    if (state.googleRedraw && location.hash.startsWith("#/devices")) state.googleRedraw().catch(() => {});
  });
  source.addEventListener("error", () => {
    // The browser retries on its own unless the server refused the stream (signed out, session over).
    if (source.readyState === EventSource.CLOSED && state.events === source) {
      api("GET", "/session").then(() => setTimeout(() => state.me && listen(), 2000), () => {});
    }
  });
}
