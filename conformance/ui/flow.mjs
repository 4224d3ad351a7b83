// The seed product's flow in the dashboard, as two people in two browser contexts (see run.sh).
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const require = createRequire(`${process.env.NODE_DIR}/`);
const { chromium } = require("playwright-core");

const { BASE, SHOTS, ADMIN, ADMIN_PASSWORD, BOB, SMTP_PORT, MAIL_FILE, GOOGLE, GOOGLE_KEY } = process.env;
/** What `user`'s Google Contacts hold (the People API stand-in's own view). */
async function inGoogle(user, what) {
  const r = await fetch(`${GOOGLE}/_emulator/${encodeURIComponent(user)}/${what}`);
  assert.equal(r.status, 200);
  return r.json();
}
async function until(what, check, ms = 10000) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
let BOB_PASSWORD = "";
let shot = 0;
async function snap(page, name) {
  shot += 1;
  await page.screenshot({ path: `${SHOTS}/${String(shot).padStart(2, "0")}-${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const errors = [];
async function person(viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, permissions: ["clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && !/status of 4\d\d/.test(m.text()) && errors.push(`console: ${m.text()}`));
  page.on("dialog", (d) => d.accept());
  return page;
}
async function signIn(page, email, password, name) {
  await page.goto(`${BASE}/`);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await snap(page, `${name}-sign-in`);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "My contacts", level: 1 }).waitFor();
}
/** Whether the page is wider than its window (a sideways scroll bar). */
const overflows = (page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
const sidebarLabel = (page, name) => page.getByRole("navigation").getByRole("link", { name: new RegExp(`^${name}`) });

try {
  // A signed-out page load asks nothing that fails: no red 401 in the console before anyone signs in.
  const fresh = await person();
  const logged = [];
  fresh.on("console", (m) => m.type() === "error" && logged.push(m.text()));
  await fresh.goto(`${BASE}/`);
  await fresh.getByLabel("Password").waitFor();
  await fresh.waitForTimeout(300);
  assert.deepEqual(logged, [], "a signed-out page load logs no error");
  await fresh.context().close();

  // 1. The administrator signs in with the password the server printed, and a wrong password is refused in place.
  const ann = await person();
  await ann.goto(`${BASE}/`);
  await ann.getByLabel("E-mail").fill(ADMIN);
  await ann.getByLabel("Password").fill("not-the-password");
  await ann.getByRole("button", { name: "Sign in" }).click();
  await ann.getByText("Wrong e-mail or password.").waitFor();
  await signIn(ann, ADMIN, ADMIN_PASSWORD, "admin");
  await snap(ann, "signed-in");

  // An existing contact to add later.
  await ann.getByRole("button", { name: "New contact" }).click();
  await ann.getByLabel("First name").fill("Ann");
  await ann.getByLabel("Last name").fill("Lee");
  await ann.getByLabel("E-mail value").fill("ann.lee@example.com");
  await ann.getByRole("button", { name: "Add contact" }).click();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ann Lee").waitFor();

  // The administrator adds a colleague in the browser and reads the generated password off the page.
  await ann.getByRole("link", { name: "People and domains" }).click();
  await ann.getByLabel("E-mail").fill(BOB);
  await ann.getByRole("button", { name: "Add person" }).click();
  await ann.getByText(`Password for ${BOB}`).waitFor();
  BOB_PASSWORD = (await ann.locator(".secret").textContent()).trim();
  assert.ok(BOB_PASSWORD.length >= 16, "a generated password is shown");
  await ann.getByRole("list").getByText(BOB, { exact: true }).waitFor();
  await snap(ann, "people");

  // Bob is signed in elsewhere already: what Ann does reaches his page without a reload.
  const bob = await person();
  await signIn(bob, BOB, BOB_PASSWORD, "bob");

  // 2. "+" → the label's name.
  await ann.getByRole("button", { name: "New label" }).click();
  // A name longer than the server takes is stopped here, not at Save, and never widens the page.
  await ann.getByLabel("Label name").fill("x".repeat(300));
  await ann.getByRole("button", { name: "Next" }).click();
  if (await ann.getByRole("heading", { name: /^Who shares/ }).isVisible()) {
    assert.ok((await ann.getByRole("heading", { name: /^Who shares/ }).textContent()).length < 220, "the name was held to 200");
    assert.ok(!(await overflows(ann)), "a long name does not widen step 2");
    await ann.getByRole("button", { name: "Back" }).click();
  } else {
    await ann.getByText("A label name is at most 200 characters.").waitFor();
  }
  await ann.getByLabel("Label name").fill("Clients");
  await snap(ann, "step-name");
  await ann.getByRole("button", { name: "Next" }).click();

  // Each collaborator is checked as it is added: not yourself, not an address the server cannot invite; an
  // address typed but not added stops Next with its reason rather than being dropped.
  const invitee = ann.getByLabel("E-mail address", { exact: true });
  await invitee.fill(ADMIN);
  await ann.getByRole("button", { name: "Add collaborator" }).click();
  await ann.getByText("That is you: you own the label.").waitFor();
  await invitee.fill("someone@elsewhere.test");
  await ann.getByRole("button", { name: "Next" }).click();
  await ann.getByText(/elsewhere\.test is not one of its domains/).waitFor();
  assert.ok(await ann.getByRole("heading", { name: /^Who shares/ }).isVisible(), "Next stays until the typed address is dealt with");
  await invitee.fill("");

  // 3. Collaborators: e-mail (completed from the directory), level (explained), the device toggle.
  await ann.getByLabel("E-mail address", { exact: true }).pressSequentially(BOB.slice(0, 3));
  await ann.locator(`#known-people option[value="${BOB}"]`).waitFor({ state: "attached" });
  await ann.getByLabel("E-mail address", { exact: true }).fill(BOB);
  await ann.getByLabel("Level").selectOption("view");
  await ann.getByText("Put these contacts on their phones and Outlook too (they can turn it off)").waitFor();
  await ann.getByRole("button", { name: "Add collaborator" }).click();
  await ann.getByRole("list", { name: "Collaborators to invite" }).getByText(BOB).waitFor();
  // The level is changed in the list until Save (Bob edits below, so this is what was saved).
  await ann.getByLabel(`Level of ${BOB}`).selectOption("edit");
  await snap(ann, "step-collaborators");
  await ann.getByRole("button", { name: "Next" }).click();

  // 4. Contacts: an existing one from the searchable list, and a new one.
  await ann.getByLabel("Search your contacts").fill("lee");
  await ann.getByRole("checkbox", { name: /Ann Lee/ }).check();
  await ann.getByLabel("First name").fill("Bo");
  await ann.getByLabel("Last name").fill("Chen");
  await ann.getByLabel("E-mail").fill("bo@example.com");
  await ann.getByRole("button", { name: "Add new contact" }).click();
  await ann.getByRole("list", { name: "New contacts" }).getByText("Bo Chen").waitFor();
  await ann.getByRole("checkbox", { name: /Ann Lee/ }).isChecked().then((c) => assert.ok(c, "the choice survives adding a new contact"));
  await snap(ann, "step-contacts");

  // 5. Saved: the label is in the sidebar with its count, and shows both contacts.
  await ann.getByRole("button", { name: "Save label" }).click();
  await ann.getByRole("heading", { name: "Clients", level: 1 }).waitFor();
  const contacts = ann.getByRole("list", { name: "Contacts" });
  await contacts.getByText("Ann Lee").waitFor();
  await contacts.getByText("Bo Chen").waitFor();
  await sidebarLabel(ann, "Clients").getByText("2", { exact: true }).waitFor();
  await sidebarLabel(ann, "Clients").getByRole("img", { name: "shared" }).waitFor();
  await ann.getByRole("list").getByText(BOB).first().waitFor();
  assert.match(await ann.getByText("pending", { exact: true }).first().textContent(), /pending/);
  await snap(ann, "saved");

  // 6. Bob, in another browser, sees the invitation arrive, accepts it, and sees the label and its contacts.
  await bob.getByRole("link", { name: /Invitations/ }).getByText("1").waitFor({ timeout: 3000 });
  await bob.getByRole("link", { name: /Invitations/ }).click();
  await bob.getByText("Clients").first().waitFor();
  await snap(bob, "invitation");
  await bob.getByRole("button", { name: "Accept Clients" }).click();
  await bob.getByRole("heading", { name: "Clients", level: 1 }).waitFor();
  await bob.getByRole("list", { name: "Contacts" }).getByText("Bo Chen").waitFor();
  await sidebarLabel(bob, "Clients").waitFor();
  await snap(bob, "accepted");
  // Ann's collaborator list shows the acceptance, live.
  await ann.getByText("accepted", { exact: true }).first().waitFor({ timeout: 3000 });

  // Bob edits a contact; Ann sees the change.
  // A row opens the contact's card; Edit turns it into the editor.
  await bob.getByRole("button", { name: "Open Bo Chen" }).click();
  await bob.getByRole("region", { name: "Contact Bo Chen" }).getByRole("list", { name: "Labels" }).getByText("Clients").waitFor();
  await bob.getByRole("button", { name: "Edit", exact: true }).click();
  await bob.getByLabel("Job title").fill("CTO");
  await bob.getByLabel("Organization").fill("Chen Labs");
  await bob.getByRole("button", { name: "Save", exact: true }).click();
  await bob.getByRole("list", { name: "Contacts" }).getByText(/Chen Labs/).waitFor();
  await snap(bob, "edited");
  // Ann's page shows it within a second, without a reload.
  await ann.getByRole("list", { name: "Contacts" }).getByText(/Chen Labs/).waitFor({ timeout: 1500 });
  await snap(ann, "sees-edit");
  // A change over CardDAV (a phone) shows the same way.
  const label = new URL(ann.url()).hash.split("/")[2];
  const card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:phone-1\r\nFN:Cy Diaz\r\nN:Diaz;Cy;;;\r\nEND:VCARD\r\n";
  const put = await fetch(`${BASE}/dav/addressbooks/${ADMIN}/${label}/phone-1.vcf`, {
    method: "PUT",
    headers: { authorization: "Basic " + Buffer.from(`${ADMIN}:${ADMIN_PASSWORD}`).toString("base64"), "content-type": "text/vcard" },
    body: card,
  });
  assert.equal(put.status, 201);
  await bob.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").waitFor({ timeout: 1500 });
  await ann.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").waitFor({ timeout: 1500 });
  // "Recently changed": the phone's card, then Bob's edit, then the rest; back to names (by family name).
  await ann.getByLabel("Sort").selectOption("recent");
  const rows = ann.getByRole("list", { name: "Contacts" }).locator("li");
  await rows.first().getByText("Cy Diaz").waitFor();
  assert.match(await rows.nth(1).textContent(), /Bo Chen/);
  await ann.getByLabel("Sort").selectOption("name");
  await rows.first().getByText("Bo Chen").waitFor();
  assert.match(await rows.nth(1).textContent(), /Cy Diaz/);

  // Bob makes a label of his own from a contact he reads in Ann's: it goes in as his copy.
  await bob.getByRole("button", { name: "New label" }).click();
  await bob.getByLabel("Label name").fill("Bob's picks");
  await bob.getByRole("button", { name: "Next" }).click();
  await bob.getByRole("button", { name: "Next" }).click();
  await bob.getByLabel("Contacts from").selectOption({ label: "Label: Clients" });
  await bob.getByRole("checkbox", { name: /Cy Diaz/ }).check();
  await bob.getByRole("button", { name: "Save label" }).click();
  await bob.getByRole("heading", { name: "Bob's picks", level: 1 }).waitFor();
  await bob.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").waitFor();
  await snap(bob, "own-label-from-shared");
  await sidebarLabel(bob, "Clients").click();
  await bob.getByRole("heading", { name: "Clients", level: 1 }).waitFor();

  // A photo, uploaded in the editor, is the contact's avatar in the list.
  await ann.getByRole("button", { name: "Open Bo Chen" }).click();
  await ann.getByRole("button", { name: "Edit", exact: true }).click();
  await ann.getByRole("form", { name: "Edit Bo Chen" }).getByLabel("Photo").waitFor();
  assert.ok(!(await overflows(ann)), "a contact's editor at 1280 px does not scroll sideways");
  const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "base64");
  await ann.getByRole("form", { name: "Edit Bo Chen" }).getByLabel("Photo").setInputFiles({ name: "bo.png", mimeType: "image/png", buffer: png });
  await ann.getByRole("button", { name: "Save", exact: true }).click();
  const face = ann.getByRole("list", { name: "Contacts" }).locator("li", { hasText: "Bo Chen" }).locator("img.avatar");
  await face.waitFor();
  await ann.waitForFunction((el) => el.complete && el.naturalWidth > 0, await face.elementHandle());

  // History says who changed what; the activity log and the trash keep what was taken off.
  await ann.getByRole("button", { name: "Open Bo Chen" }).click();
  const boCard = ann.getByRole("region", { name: "Contact Bo Chen" });
  await boCard.getByText("Chen Labs").waitFor();
  await snap(ann, "contact-card");
  // Escape closes the card.
  await ann.keyboard.press("Escape");
  await boCard.waitFor({ state: "detached" });
  await ann.getByRole("button", { name: "Open Bo Chen" }).click();
  await ann.getByRole("button", { name: "History" }).click();
  await ann.getByText(`edited by ${BOB}`).first().waitFor();
  await ann.getByText("job title: “—” → “CTO”").waitFor();
  await snap(ann, "history");
  await ann.getByRole("button", { name: "Close" }).click();
  await ann.getByRole("button", { name: "Open Ann Lee" }).click();
  await ann.getByRole("button", { name: "Remove from label" }).click();
  // No confirm(): the notice offers Undo (the trash is used below instead).
  await ann.getByRole("status").filter({ hasText: "Removed Ann Lee from the label." }).getByRole("button", { name: "Undo" }).waitFor();
  await ann.getByRole("list", { name: "Activity" }).getByText(`${ADMIN} removed Ann Lee`).waitFor();
  await ann.getByRole("link", { name: "Trash" }).click();
  await ann.getByRole("heading", { name: "Trash", level: 1 }).waitFor();
  assert.equal(await ann.locator(".toast").count(), 0, "a notice does not follow to the next page");
  await ann.getByRole("button", { name: "Restore Ann Lee" }).click();
  await ann.getByText("Restored Ann Lee").waitFor();
  await snap(ann, "trash");
  await sidebarLabel(ann, "Clients").click();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ann Lee").waitFor();

  // "Add existing contacts" marks those the label holds already.
  await ann.getByRole("button", { name: "Add existing contacts" }).click();
  const picker = ann.getByRole("region", { name: "Add existing contacts" });
  await picker.getByText("already in this label").first().waitFor();
  assert.ok(await picker.getByRole("checkbox", { name: /Ann Lee/ }).isDisabled(), "a contact on the label is not offered again");
  await picker.getByRole("button", { name: "Cancel" }).click();

  // Import a Google Contacts CSV into the label, with a progress bar and a summary; export links are there.
  await ann.getByRole("button", { name: "Import" }).click();
  await ann.getByLabel(/A vCard file/).setInputFiles({
    name: "google.csv",
    mimeType: "text/csv",
    buffer: Buffer.from("Name,Given Name,Family Name,E-mail 1 - Value,Phone 1 - Value\r\nDee Eng,Dee,Eng,dee@example.com,+1 555 0103\r\nEd Fox,Ed,Fox,ed@example.com,\r\n"),
  });
  await ann.getByRole("button", { name: "Start import" }).click();
  await ann.getByText("Imported: 2 new, 0 updated, 0 not imported.").waitFor();
  assert.ok(!(await ann.locator("main").textContent()).includes("null"), "an import's summary prints no null");
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ed Fox").waitFor();
  assert.match(await ann.getByRole("link", { name: "Export CSV" }).getAttribute("href"), /format=csv/);
  await snap(ann, "imported");

  // A delete needs no confirm(): the notice's Undo brings the contact back. Manage labels takes a contact off a
  // label and puts it back from its card.
  await sidebarLabel(ann, "My contacts").click();
  await ann.getByRole("button", { name: "Open Ed Fox" }).click();
  await ann.getByRole("button", { name: "Delete", exact: true }).click();
  await ann.getByRole("status").filter({ hasText: "Deleted Ed Fox." }).getByRole("button", { name: "Undo" }).click();
  await ann.getByText("Ed Fox is back.").waitFor();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ed Fox").waitFor();
  await ann.getByRole("button", { name: "Open Dee Eng" }).click();
  const deeLabels = ann.getByRole("region", { name: "Contact Dee Eng" }).getByRole("list", { name: "Labels" });
  await deeLabels.getByText("Clients").waitFor();
  await ann.getByRole("button", { name: "Manage labels" }).click();
  await ann.getByRole("checkbox", { name: "Clients" }).uncheck();
  await deeLabels.getByText("On no label.").waitFor();
  await ann.getByRole("checkbox", { name: "Clients" }).check();
  await deeLabels.getByText("Clients").waitFor();
  await snap(ann, "manage-labels");
  await ann.getByRole("button", { name: "Done" }).click();

  // Duplicates: a second Ann Lee in My contacts (the same address) is found, previewed in plain words, merged,
  // undone from the notice, and merged again; the label keeps one Ann Lee.
  await sidebarLabel(ann, "My contacts").click();
  await ann.getByRole("button", { name: "New contact" }).click();
  await ann.getByLabel("First name").fill("Ann");
  await ann.getByLabel("Last name").fill("L.");
  await ann.getByLabel("E-mail value").fill("Ann.Lee@example.com");
  await ann.getByRole("button", { name: "Add contact" }).click();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ann L.", { exact: true }).waitFor();
  await ann.getByRole("link", { name: "Duplicates" }).click();
  const dups = ann.getByRole("list", { name: "Likely duplicates" });
  await dups.getByText("the same e-mail address (ann.lee@example.com)", { exact: false }).waitFor();
  const mergeAnn = async () => {
    await ann.getByRole("radio", { name: /^Keep Ann Lee/ }).check();
    await ann.getByRole("button", { name: /^Review merging/ }).click();
    await ann.getByText("Other name: Ann L.").waitFor();
    await ann.getByRole("button", { name: "Merge", exact: true }).click();
    await ann.getByRole("status").filter({ hasText: "Merged Ann L. into Ann Lee." }).waitFor();
    await ann.getByText("No duplicates found.").waitFor();
  };
  await ann.getByRole("radio", { name: /^Keep Ann Lee/ }).check();
  await ann.getByRole("button", { name: /^Review merging/ }).click();
  await ann.getByText("Other name: Ann L.").waitFor();
  await snap(ann, "duplicates-preview");
  await ann.getByRole("button", { name: "Cancel" }).click();
  await mergeAnn();
  await snap(ann, "duplicates-merged");
  await ann.getByRole("status").getByRole("button", { name: "Undo" }).click();
  await ann.getByText("Merge undone: both contacts are back.").waitFor();
  await dups.getByText("the same e-mail address (ann.lee@example.com)", { exact: false }).waitFor();
  await mergeAnn();
  await sidebarLabel(ann, "Clients").click();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Ann Lee").waitFor();
  assert.equal(await ann.getByRole("list", { name: "Contacts" }).getByText(/^Ann L/).count(), 1, "one Ann Lee on the label");

  // Bulk: 50 contacts imported into My contacts are all ticked through the search, put on a label at once,
  // exported, deleted at once and brought back with the notice's Undo.
  await sidebarLabel(ann, "My contacts").click();
  const before = Number(await sidebarLabel(ann, "Clients").locator(".count").textContent());
  await ann.getByRole("button", { name: "Import" }).click();
  const fifty = Array.from({ length: 50 }, (_, i) => `Bulk Person ${String(i + 1).padStart(2, "0")},Bulk,Person ${String(i + 1).padStart(2, "0")},bulk${i + 1}@example.com`);
  await ann.getByLabel(/A vCard file/).setInputFiles({ name: "fifty.csv", mimeType: "text/csv",
    buffer: Buffer.from(`Name,Given Name,Family Name,E-mail 1 - Value\r\n${fifty.join("\r\n")}\r\n`) });
  await ann.getByRole("button", { name: "Start import" }).click();
  await ann.getByText("Imported: 50 new, 0 updated, 0 not imported.").waitFor();
  await ann.getByLabel("Search contacts").fill("bulk person");
  await ann.getByRole("checkbox", { name: "Select Bulk Person 01" }).check();
  const toolbar = ann.getByRole("toolbar", { name: "Selected contacts" });
  await toolbar.getByText("1 selected").waitFor();
  await toolbar.getByRole("button", { name: "Select all matching" }).click();
  await toolbar.getByText("50 selected").waitFor();
  await snap(ann, "bulk-selected");
  await toolbar.getByLabel("Label to add the selected contacts to").selectOption({ label: "Clients" });
  await ann.getByText("Added 50 to “Clients”.").waitFor();
  await sidebarLabel(ann, "Clients").locator(".count").getByText(String(before + 50), { exact: true }).waitFor();
  await ann.getByRole("checkbox", { name: "Select Bulk Person 01" }).check();
  await toolbar.getByRole("button", { name: "Select all matching" }).click();
  await toolbar.getByText("50 selected").waitFor();
  const [exported] = await Promise.all([ann.waitForEvent("download"), toolbar.getByRole("button", { name: "Export" }).click()]);
  const vcf = (await import("node:fs")).readFileSync(await exported.path(), "utf8");
  assert.equal(vcf.match(/BEGIN:VCARD/g).length, 50, "the export holds the 50 chosen");
  await toolbar.getByRole("button", { name: "Delete" }).click();
  await ann.getByText("No contact matches.").waitFor();
  await ann.getByRole("status").filter({ hasText: "Deleted 50." }).getByRole("button", { name: "Undo" }).click();
  await ann.getByText("All 50 are back.").waitFor();
  await ann.getByRole("list", { name: "Contacts" }).getByText("Bulk Person 50").waitFor();
  assert.equal(await ann.getByRole("list", { name: "Contacts" }).locator("li").count(), 50);
  await sidebarLabel(ann, "Clients").locator(".count").getByText(String(before + 50), { exact: true }).waitFor();
  await ann.getByLabel("Search contacts").fill("");
  await sidebarLabel(ann, "Clients").click();
  await ann.getByRole("heading", { name: "Clients", level: 1 }).waitFor();

  // A view-level refusal is shown next to what caused it: Ann lowers Bob to view in the Share dialog, Bob's
  // editor is read-only.
  const shareDialog = ann.getByRole("dialog", { name: "Share “Clients”" });
  await ann.getByRole("button", { name: "Share", exact: true }).click();
  await shareDialog.waitFor();
  await shareDialog.getByLabel(`Level of ${BOB}`).selectOption("view");
  await ann.getByText(`${BOB}: view`).waitFor();
  // Fields to hide are chosen by name, not typed as vCard properties.
  await ann.getByText(`Hidden from ${BOB}: nothing`).click();
  await ann.getByRole("group", { name: `Fields hidden from ${BOB}` }).getByRole("checkbox", { name: "Mobile numbers only" }).check();
  await ann.getByRole("status").filter({ hasText: `Hidden from ${BOB}: Mobile numbers only` }).waitFor();
  await snap(ann, "hidden-fields");
  await ann.getByRole("group", { name: `Fields hidden from ${BOB}` }).getByRole("checkbox", { name: "Mobile numbers only" }).uncheck();
  await ann.getByRole("status").filter({ hasText: `${BOB} sees every field` }).waitFor();
  await shareDialog.getByRole("button", { name: "Done" }).click();
  await shareDialog.waitFor({ state: "hidden" });
  // Bob's page is drawn again at his new level, live.
  await bob.getByRole("button", { name: "New contact" }).waitFor({ state: "detached", timeout: 3000 });
  await bob.getByRole("button", { name: "Open Bo Chen" }).click();
  await bob.getByRole("region", { name: "Contact Bo Chen" }).waitFor();
  assert.equal(await bob.getByRole("button", { name: "Edit", exact: true }).count(), 0, "a view-level collaborator cannot edit");
  assert.equal(await bob.getByRole("button", { name: "Remove from label" }).count(), 0);
  assert.equal(await bob.getByRole("button", { name: "New contact" }).count(), 0);

  // An invitation to someone with no account yet, by a copied link: the server's domain is added and the link
  // copied; it shows the invitation but cannot create the account (only a mailed link proves the address).
  await ann.getByRole("link", { name: "People and domains" }).click();
  await ann.getByLabel("New domain").fill("localhost");
  await ann.getByRole("button", { name: "Add domain" }).click();
  await ann.getByText("localhost (primary)").waitFor();
  await sidebarLabel(ann, "Clients").click();
  await ann.getByRole("button", { name: "Share", exact: true }).click();
  await ann.getByLabel("E-mail address", { exact: true }).fill("carl@localhost");
  await ann.getByLabel("Level", { exact: true }).selectOption("view");
  await ann.getByRole("button", { name: "Invite" }).click();
  await ann.getByRole("button", { name: "Copy link for carl@localhost's invitation" }).click();
  const inviteUrl = await ann.getByLabel("Invitation link for carl@localhost", { exact: true }).inputValue();
  assert.match(inviteUrl, /\/#\/invite\/lbi_/);
  // The link stays shown and copyable.
  await ann.getByRole("button", { name: "Copy the invitation link for carl@localhost" }).click();
  await ann.getByText("Link copied: it works once, for 14 days").waitFor();
  assert.equal(await ann.evaluate(() => navigator.clipboard.readText()), inviteUrl);
  await snap(ann, "share-dialog");
  await ann.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  const carl = await person();
  await carl.goto(inviteUrl);
  await carl.getByText("invites carl@localhost to the label “Clients”").waitFor();
  await carl.getByText("There is no account for carl@localhost on this server yet.").waitFor();
  assert.equal(await carl.getByLabel("Choose a password").count(), 0, "a copied link offers no account");
  await snap(carl, "invite-link-copied");

  // Mail: the administrator sets up the mail server, tests it, and the next invitation is e-mailed; its link
  // (read off the mail server) opens the invitation.
  const fs = await import("node:fs");
  const mails = () => (fs.existsSync(MAIL_FILE) ? fs.readFileSync(MAIL_FILE, "utf8") : "");
  await ann.getByRole("link", { name: "Settings" }).click();
  await ann.getByText("No mail server yet").waitFor();
  await ann.getByLabel("Mail server (SMTP host)").fill("127.0.0.1");
  await ann.getByLabel("Security").selectOption("none");
  await ann.getByLabel("Port").fill(SMTP_PORT);
  await ann.getByLabel("Sender").fill("Labelbook <labelbook@localhost>");
  await ann.getByRole("button", { name: "Send test message" }).click();
  await ann.getByText(`Sent to ${ADMIN}`).waitFor();
  assert.ok(mails().includes("Subject: Labelbook test message"), "the test message arrived");
  await ann.getByLabel("Sender").fill("not an address");
  await ann.getByRole("button", { name: "Save mail settings" }).click();
  await ann.getByText("is not an address such as").waitFor();
  await ann.getByLabel("Sender").fill("Labelbook <labelbook@localhost>");
  await ann.getByRole("button", { name: "Save mail settings" }).click();
  await ann.getByText("Invitations are e-mailed through 127.0.0.1").waitFor();
  await snap(ann, "settings");
  await sidebarLabel(ann, "Clients").click();
  await ann.getByRole("button", { name: "Share", exact: true }).click();
  await ann.getByLabel("E-mail address", { exact: true }).fill("dana@localhost");
  await ann.getByLabel("Level", { exact: true }).selectOption("edit");
  await ann.getByRole("button", { name: "Invite" }).click();
  await ann.getByText("Invitation e-mailed").waitFor({ timeout: 10000 });
  await ann.getByRole("button", { name: "Resend the invitation to dana@localhost" }).waitFor();
  const mailed = mails().replace(/=\r?\n/g, "").match(/https?:\/\/[^\s]+\/#\/invite\/lbi_[A-Za-z0-9_-]+/);
  assert.ok(mailed, "the invitation e-mail carries a link");
  await snap(ann, "invitation-mailed");
  await ann.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  const dana = await person();
  await dana.goto(mailed[0]);
  await dana.getByText("invites dana@localhost to the label “Clients”").waitFor();
  // The mailed link proves the address: the newcomer chooses a password there and lands in the label.
  await dana.getByLabel("Choose a password").fill("danas-password");
  await dana.getByLabel("Repeat it").fill("danas-password");
  await snap(dana, "invite-link");
  await dana.getByRole("button", { name: "Create account and accept" }).click();
  await dana.getByRole("heading", { name: "Clients", level: 1 }).waitFor();
  await dana.getByRole("list", { name: "Contacts" }).getByText("Ann Lee").waitFor();
  await snap(dana, "invite-accepted");

  // Devices: an app password, shown once, with setup steps.
  await ann.getByRole("link", { name: "Devices" }).click();
  await ann.getByLabel("Device name").fill("Ann's iPhone");
  await ann.getByRole("button", { name: "Create app password" }).click();
  await ann.getByText("Shown only now.").waitFor();
  await ann.getByText(/DAVx5/).waitFor();
  const profile = ann.getByRole("link", { name: /Download the profile/ });
  assert.match(await profile.getAttribute("download"), /\.mobileconfig$/);
  const [download] = await Promise.all([ann.waitForEvent("download"), profile.click()]);
  const plist = (await import("node:fs")).readFileSync(await download.path(), "utf8");
  assert.ok(plist.includes("<string>com.apple.carddav.account</string>") && plist.includes(`<string>${ADMIN}</string>`), plist);
  // A Mac gets one combined book with labels as groups.
  await ann.getByLabel("Device name").fill("Ann's Mac");
  await ann.getByLabel(/One combined book/).check();
  await ann.getByRole("button", { name: "Create app password" }).click();
  await ann.getByText("This password shows one book,").waitFor();
  await ann.getByRole("list", { name: "App passwords" }).getByText("one combined book").waitFor();
  await ann.getByLabel("Token name").fill("backup");
  await ann.getByRole("button", { name: "Create token" }).click();
  const token = await ann.getByRole("status").filter({ hasText: "Token “backup”" }).locator(".secret").textContent();
  assert.match(token, /^lbt_/);
  // Every generated secret has a Copy button.
  await ann.getByRole("button", { name: "Copy the token" }).click();
  await ann.getByText("Copied the token.").waitFor();
  assert.equal(await ann.evaluate(() => navigator.clipboard.readText()), token, "the token is on the clipboard");
  await ann.getByRole("list", { name: "Your API tokens" }).getByText("read only").waitFor();
  assert.ok(!(await ann.locator("main").textContent()).includes("nullnull"), "the API tokens card prints no null");
  await snap(ann, "devices");

  // The administrator uploads the Workspace delegation's key on People and domains: in use at once, with what
  // to authorise in the Google Admin console shown.
  await ann.getByRole("link", { name: "People and domains" }).click();
  const keyPanel = ann.getByRole("region", { name: "Google Workspace" });
  await keyPanel.getByLabel("Service-account key (JSON)").setInputFiles(GOOGLE_KEY);
  await keyPanel.getByText("100000000000000000001").waitFor();
  await keyPanel.getByText("https://www.googleapis.com/auth/contacts").waitFor();
  await ann.getByRole("link", { name: "Devices" }).click();

  // Google Contacts: Ann connects hers on this page, the administrator's page mirrors Bob's; the label and its
  // contacts reach both within seconds, and the state shows live.
  const googlePanel = ann.getByRole("region", { name: "Google Contacts" });
  await googlePanel.getByRole("button", { name: "Connect Google Contacts" }).click();
  await googlePanel.getByText("In sync").waitFor({ timeout: 10000 });
  await googlePanel.getByText(/Last sent/).waitFor();
  await snap(ann, "google-connected");
  await ann.getByRole("link", { name: "People and domains" }).click();
  const workspace = ann.getByRole("region", { name: "Google Workspace" });
  await workspace.getByText("labelbook-bridge@labelbook-tests.iam.gserviceaccount.com", { exact: false }).waitFor();
  await workspace.getByLabel(/Mirror someone/).fill(BOB);
  await workspace.getByRole("button", { name: "Mirror", exact: true }).click();
  await workspace.getByText(BOB).waitFor();
  await snap(ann, "google-workspace");
  for (const who of [ADMIN, BOB]) {
    await until(`Clients with its contacts in ${who}'s Google`, async () => {
      const groups = await inGoogle(who, "groups");
      const clients = groups.find((g) => g.name === "Clients");
      const people = await inGoogle(who, "people");
      const names = people.map((p) => (p.names || [{}])[0].unstructuredName);
      return clients && clients.memberResourceNames.length >= 4 && names.includes("Bo Chen") && names.includes("Cy Diaz");
    });
  }

  // Usable at 360 px: nothing wider than the screen.
  const phone = await person({ width: 360, height: 760 });
  await phone.goto(`${BASE}/`);
  const login = await phone.locator("form.login").boundingBox();
  assert.ok(login.x >= 8 && login.x + login.width <= 352, `the sign-in card keeps a margin at 360 px (${login.x}, ${login.width})`);
  await signIn(phone, BOB, BOB_PASSWORD, "phone");
  // Ticking a contact shows what can be done to it, within the screen.
  await phone.getByRole("checkbox", { name: "Select Cy Diaz" }).check();
  await phone.getByRole("toolbar", { name: "Selected contacts" }).getByText("1 selected").waitFor();
  assert.ok(!(await overflows(phone)), "the selection's toolbar fits 360 px");
  await snap(phone, "phone-bulk");
  await phone.getByRole("toolbar", { name: "Selected contacts" }).getByRole("button", { name: "Clear" }).click();
  // The sidebar is a drawer behind the menu button, closed again by going somewhere.
  assert.ok(!(await phone.getByRole("navigation").isVisible()), "no sidebar above the page at 360 px");
  await phone.getByRole("button", { name: "Menu" }).click();
  await snap(phone, "phone-menu");
  await sidebarLabel(phone, "Clients").click();
  await phone.getByRole("list", { name: "Contacts" }).getByText("Bo Chen").waitFor();
  await phone.getByRole("navigation").waitFor({ state: "hidden" });
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `the page is ${width}px wide at 360px`);
  await snap(phone, "phone");
  // List → card → back.
  await phone.getByRole("button", { name: "Open Bo Chen" }).click();
  await phone.getByRole("region", { name: "Contact Bo Chen" }).waitFor();
  assert.ok(!(await phone.getByRole("list", { name: "Contacts" }).isVisible()), "the card takes the list's place");
  assert.ok(!(await overflows(phone)), "a contact's card fits 360 px");
  await snap(phone, "phone-card");
  await phone.getByRole("button", { name: "← Back to the list" }).click();
  await phone.getByRole("list", { name: "Contacts" }).getByText("Bo Chen").waitFor();
  // Bob's copy of Cy Diaz and Ann's are found, and said to stay two (two owners); the page fits the screen.
  await phone.getByRole("button", { name: "Menu" }).click();
  await phone.getByRole("link", { name: "Duplicates" }).click();
  await phone.getByText(/^Not mergeable: one is yours/).first().waitFor();
  const dupWidth = await phone.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(dupWidth <= 360, `the duplicates page is ${dupWidth}px wide at 360px`);
  await snap(phone, "phone-duplicates");

  // The seed's "+" flow, a merge and a delete undone, all at 360 px.
  const fits = async (what) => assert.ok(!(await overflows(phone)), `${what} fits 360 px`);
  await phone.getByRole("button", { name: "Menu" }).click();
  await phone.getByRole("button", { name: "New label" }).click();
  await phone.getByLabel("Label name").fill("On the go");
  await phone.getByRole("button", { name: "Next" }).click();
  await fits("the collaborators step");
  await phone.getByRole("button", { name: "Next" }).click();
  await phone.getByRole("checkbox", { name: /Cy Diaz/ }).check();
  await fits("the contacts step");
  await phone.getByRole("button", { name: "Save label" }).click();
  await phone.getByRole("heading", { name: "On the go", level: 1 }).waitFor();
  await phone.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").waitFor();
  // A second Cy Diaz of his own: found and merged.
  await phone.getByRole("button", { name: "Menu" }).click();
  await sidebarLabel(phone, "My contacts").click();
  await phone.getByRole("button", { name: "New contact" }).click();
  await phone.getByLabel("First name").fill("Cy");
  await phone.getByLabel("Last name").fill("Diaz");
  await phone.getByRole("button", { name: "Add contact" }).click();
  await phone.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").first().waitFor();
  await phone.getByRole("button", { name: "Menu" }).click();
  await phone.getByRole("link", { name: "Duplicates" }).click();
  await phone.getByRole("button", { name: "Review merging Cy Diaz and Cy Diaz" }).click();
  await fits("a merge's preview");
  await phone.getByRole("button", { name: "Merge", exact: true }).click();
  await phone.getByRole("status").filter({ hasText: "Merged Cy Diaz into Cy Diaz." }).waitFor();
  // A delete, undone from the notice.
  await phone.getByRole("button", { name: "Menu" }).click();
  await sidebarLabel(phone, "My contacts").click();
  await phone.getByRole("checkbox", { name: "Select Cy Diaz" }).check();
  await phone.getByRole("toolbar", { name: "Selected contacts" }).getByRole("button", { name: "Delete" }).click();
  await phone.getByRole("status").filter({ hasText: "Deleted 1." }).getByRole("button", { name: "Undo" }).click();
  await phone.getByText("Cy Diaz is back.").waitFor();
  await phone.getByRole("list", { name: "Contacts" }).getByText("Cy Diaz").waitFor();
  await fits("My contacts after the undo");
  await snap(phone, "phone-flow-done");

  // Signing out ends the session.
  await bob.getByRole("button", { name: "Sign out" }).click();
  await bob.getByRole("button", { name: "Sign in" }).waitFor();
  await bob.reload();
  await bob.getByRole("button", { name: "Sign in" }).waitFor();

  // Accessibility: every page passes axe-core's WCAG 2 A and AA rules. axe is injected as a script, which the
  // dashboard's Content-Security-Policy rightly refuses, so this one context bypasses it (the others do not).
  const axeSource = (await import("node:fs")).readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  const auditContext = await browser.newContext({ viewport: { width: 1280, height: 860 }, bypassCSP: true });
  const auditor = await auditContext.newPage();
  auditor.on("dialog", (d) => d.accept());
  let audited = 0;
  const audit = async (what) => {
    audited += 1;
    await auditor.evaluate(axeSource);
    const result = await auditor.evaluate(async () =>
      // eslint-disable-next-line no-undef
      await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
    const found = result.violations.map((v) => `${what}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
    a11y.push(...found);
  };
  const a11y = [];
  await auditor.goto(`${BASE}/`);
  await auditor.getByLabel("E-mail").waitFor();
  await audit("sign-in");
  await auditor.getByLabel("E-mail").fill(ADMIN);
  await auditor.getByLabel("Password").fill(ADMIN_PASSWORD);
  await auditor.getByRole("button", { name: "Sign in" }).click();
  await auditor.getByRole("link", { name: /My contacts/ }).waitFor();
  await audit("my contacts");
  await sidebarLabel(auditor, "Clients").click();
  await auditor.getByRole("heading", { name: "Clients", level: 1 }).waitFor();
  await auditor.getByRole("heading", { name: "Collaborators" }).waitFor();
  await audit("label");
  await auditor.getByRole("button", { name: "Share", exact: true }).click();
  await auditor.getByRole("dialog", { name: "Share “Clients”" }).waitFor();
  await audit("share dialog");
  await auditor.getByRole("dialog").getByRole("button", { name: "Done" }).click();
  await auditor.getByRole("button", { name: "Open Bo Chen" }).click();
  await auditor.getByRole("region", { name: "Contact Bo Chen" }).waitFor();
  await audit("contact card");
  await auditor.getByRole("button", { name: "Edit", exact: true }).click();
  await auditor.getByRole("textbox", { name: "Job title" }).waitFor();
  await audit("contact editor");
  for (const [link, ready, what] of [["Invitations", "Invitations", "invitations"], ["Trash", "Trash", "trash"],
    ["Duplicates", "Duplicates", "duplicates"], ["Devices", "Devices", "devices"], ["People and domains", "People and domains", "people"], ["Settings", "Settings", "settings"]]) {
    await auditor.getByRole("link", { name: link, exact: true }).click();
    await auditor.getByRole("heading", { name: ready, level: 1 }).waitFor();
    await audit(what);
  }

  // The dark theme (the system's choice) keeps every page readable: audited the same way.
  await auditor.emulateMedia({ colorScheme: "dark" });
  await sidebarLabel(auditor, "Clients").click();
  await auditor.getByRole("heading", { name: "Clients", level: 1 }).waitFor();
  await audit("label (dark)");
  await auditor.getByRole("button", { name: "Open Bo Chen" }).click();
  await auditor.getByRole("region", { name: "Contact Bo Chen" }).waitFor();
  await audit("contact card (dark)");
  await snap(auditor, "dark");
  await auditor.getByRole("link", { name: "Duplicates", exact: true }).click();
  await auditor.getByRole("heading", { name: "Duplicates", level: 1 }).waitFor();
  await audit("duplicates (dark)");
  await auditor.emulateMedia({ colorScheme: "light" });

  // The seed's "+" flow with the keyboard alone: Tab to "+", Enter, type the name, Enter through the steps.
  await auditor.getByRole("link", { name: /My contacts/ }).focus();
  let reached = false;
  for (let i = 0; i < 12 && !reached; i++) {
    await auditor.keyboard.press("Tab");
    reached = await auditor.evaluate(() => document.activeElement?.getAttribute("aria-label") === "New label");
  }
  assert.ok(reached, "Tab reaches the “+” (New label) control");
  await auditor.keyboard.press("Enter");
  await auditor.getByLabel("Label name").waitFor();
  await audit("new label: name");
  assert.equal(await auditor.evaluate(() => document.activeElement?.id), await auditor.getByLabel("Label name").getAttribute("id"), "the name field has the focus");
  await auditor.keyboard.type("Keyboard only");
  await auditor.keyboard.press("Enter");
  await auditor.getByLabel("E-mail address", { exact: true }).waitFor();
  await audit("new label: collaborators");
  console.log(`a11y: ${audited} pages audited with axe-core`);
  assert.deepEqual(a11y, [], "no accessibility violations");

  assert.deepEqual(errors, [], "no script errors");
  console.log(`ok: dashboard flow, ${shot} screenshots`);
} catch (e) {
  console.error(e);
  if (errors.length) console.error(errors.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
