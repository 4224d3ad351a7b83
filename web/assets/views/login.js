// The dashboard: sign in. (app.js says how the modules fit.)
import { ApiError, api, state } from "../api.js";
import { app, field, fill, h } from "../dom.js";
import { stopListening } from "../live.js";
import { start } from "../app.js";

export function renderLogin(message) {
  stopListening();
  const [emailWrap, email, emailErr] = field("E-mail", { type: "email", autocomplete: "username", required: true });
  const [passWrap, pass, passErr] = field("Password", { type: "password", autocomplete: "current-password", required: true });
  const formErr = h("p", { class: "error", role: "alert", hidden: !message }, message || "");
  const submit = h("button", { class: "primary", type: "submit" }, "Sign in");
  const form = h(
    "form",
    {
      class: "login",
      onsubmit: async (ev) => {
        ev.preventDefault();
        emailErr(null);
        passErr(null);
        formErr.hidden = true;
        submit.disabled = true;
        try {
          const s = await api("POST", "/session", { email: email.value, password: pass.value });
          state.csrf = s.csrf_token;
          await start();
        } catch (e) {
          submit.disabled = false;
          if (e instanceof ApiError && e.field("email")) emailErr(e.field("email"));
          else if (e.status === 401) passErr("Wrong e-mail or password.");
          else {
            formErr.textContent = e.message;
            formErr.hidden = false;
          }
        }
      },
    },
    h("h1", {}, "Labelbook"),
    h("p", { class: "hint" }, "Shared contacts, on every device."),
    formErr,
    emailWrap,
    passWrap,
    submit,
  );
  fill(app(), form);
  email.focus();
}
