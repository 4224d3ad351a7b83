// The dashboard: import. (app.js says how the modules fit.)
import { ApiError, api, state } from "../api.js";
import { field, fill, h, nextId } from "../dom.js";
import { refreshSidebar } from "../shell.js";

export function importPanel(book, done) {
  const fileId = nextId("file");
  const file = h("input", { type: "file", id: fileId, accept: ".vcf,.vcard,.csv,text/vcard,text/csv" });
  const err = h("p", { class: "error", role: "alert", hidden: true });
  const bar = h("progress", { max: "1", value: "0", hidden: true, "aria-label": "Import progress" });
  const status = h("p", { class: "hint", role: "status" });
  const result = h("div", {});
  const start = h("button", { type: "submit", class: "primary" }, "Start import");
  const form = h("form", { onsubmit: async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    fill(result, );
    const f = file.files[0];
    if (!f) { err.textContent = "Choose a file first."; err.hidden = false; return; }
    start.disabled = true;
    try {
      const r = await fetch(`/api/v1/imports?book=${encodeURIComponent(book)}&name=${encodeURIComponent(f.name)}`, {
        method: "POST", body: f, credentials: "same-origin",
        headers: { "content-type": f.type || "application/octet-stream", "x-csrf-token": state.csrf || "" },
      });
      const body = await r.json();
      if (!r.ok) throw new ApiError(r.status, body);
      bar.hidden = false;
      let job = body;
      while (job.status === "running") {
        bar.max = String(Math.max(job.total, 1));
        bar.value = String(job.done);
        status.textContent = `${job.done} of ${job.total}…`;
        await new Promise((res) => setTimeout(res, 400));
        job = await api("GET", `/imports/${job.id}`);
      }
      bar.value = bar.max;
      status.textContent = job.status === "done" ? `Imported: ${job.created} new, ${job.updated} updated, ${job.failed} not imported.` : `The import failed: ${job.error}`;
      fill(result, 
        job.failures.length ? h("details", {}, h("summary", {}, `${job.failed} not imported`), h("ul", {}, job.failures.map((x) => h("li", {}, x)))) : null,
        job.unread_columns.length ? h("p", { class: "hint" }, `Columns no contact field takes (their values were not imported): ${job.unread_columns.join(", ")}`) : null,
      );
      start.disabled = false;
      await Promise.all([refreshSidebar(), state.view && state.view.reload()]);
    } catch (e) {
      start.disabled = false;
      err.textContent = e.message;
      err.hidden = false;
    }
  } },
    h("label", { for: fileId }, "A vCard file (.vcf), or a CSV exported from Google Contacts or Outlook"), file,
    h("p", { class: "hint" }, "Importing the same file again updates those contacts; it does not double them."),
    err, bar, status, result,
    h("div", { class: "actions" }, h("button", { type: "button", onclick: () => done(null) }, "Close"), start));
  return h("section", { class: "panel", "aria-label": "Import" }, h("h2", {}, "Import contacts"), form);
}
