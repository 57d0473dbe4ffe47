// The console's browser test, run by console_test.go with CONSOLE_URL,
// HELPER_URL, SCREENSHOTS and CHROMIUM set. Every step asserts what a
// person would see; the first failure ends the run with a non-zero exit.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

const base = process.env.CONSOLE_URL;
const helper = process.env.HELPER_URL;
const shots = process.env.SCREENSHOTS;
const run = Date.now().toString(36);
const alice = `alice-${run}@example.com`;
const bob = `bob-${run}@example.com`;
const password = process.env.PASSWORD;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

async function mail(to, n, prefix = base) {
  const r = await fetch(`${helper}/mail?to=${encodeURIComponent(to)}&n=${n}&prefix=${encodeURIComponent(prefix)}`);
  const body = await r.text();
  assert.equal(r.status, 200, `mail ${n} to ${to}: ${body}`);
  return JSON.parse(body);
}

async function text(page) {
  return page.locator("main").innerText();
}

async function expectText(page, what) {
  const t = await text(page);
  assert.ok(t.includes(what), `expected "${what}" on ${page.url()}, page says:\n${t}`);
}

// eventuallyText reloads url until it shows what: the registry learns of
// a sync through an event, a moment after the workspace's call returned.
async function eventuallyText(page, url, what, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    await page.goto(url);
    if ((await text(page)).includes(what)) return;
    if (Date.now() > deadline) return expectText(page, what);
    await page.waitForTimeout(250);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

async function signUp(page, email, org) {
  await page.goto(`${base}/signup`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Organization").fill(org);
  await page.getByLabel("Password", { exact: false }).first().fill(password);
  await page.getByLabel("Password again").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expectText(page, `We sent a message to ${email}`);
}

async function signIn(page, email, pw = password) {
  await page.goto(`${base}/signin`);
  await page.getByLabel("E-mail address").fill(email);
  await page.getByLabel("Password").fill(pw);
  await page.getByRole("button", { name: "Sign in" }).click();
}

function step(name) { console.log(`step: ${name}`); }

try {
  const ctxA = await browser.newContext({ acceptDownloads: true });
  const page = await ctxA.newPage();

  step("sign-up form names every bad field");
  await page.goto(`${base}/signup`);
  await shot(page, "signup");
  await page.getByLabel("E-mail address").fill("not-an-address");
  await page.getByRole("button", { name: "Create account" }).click();
  await expectText(page, "Enter an e-mail address like name@example.com.");
  await expectText(page, "Enter your organization's name.");
  await expectText(page, "Choose a password of at least 10 characters.");
  assert.equal(await page.locator("#email").getAttribute("aria-invalid"), "true");

  step("sign up, verify by the e-mailed link");
  await signUp(page, alice, "Acme");
  const verify = await mail(alice, 1);
  assert.match(verify.subject, /Verify your e-mail address/);
  await page.goto(verify.link);
  await expectText(page, "Your address is verified");
  await page.goto(verify.link);
  await expectText(page, "This link was already used");

  step("wrong password, then sign in");
  await signIn(page, alice, "wrong password!!");
  await expectText(page, "Wrong e-mail address or password");
  await signIn(page, alice);
  await page.waitForURL(`${base}/workspaces`);
  await expectText(page, "no workspace yet");

  step("register online with the shown token");
  await page.getByRole("navigation").getByRole("link", { name: "Register self-managed" }).click();
  await page.getByRole("button", { name: "Get a registration token" }).click();
  const token = await page.locator("#token").inputValue();
  assert.match(token, /^rt_/);
  await shot(page, "register-online");
  const reg = await fetch(`${helper}/workspace?token=${encodeURIComponent(token)}`, { method: "POST" });
  const regBody = await reg.text();
  assert.equal(reg.status, 200, regBody);
  const { workspaceId } = JSON.parse(regBody);

  step("the workspace is listed after its first sync");
  await eventuallyText(page, `${base}/workspaces`, "https://chat.acme.test");
  await expectText(page, "7.2.1");
  await expectText(page, "Starter");
  await eventuallyText(page, `${base}/workspaces`, "over limit: activeUsers");
  await shot(page, "workspaces");

  step("start a trial");
  await page.getByRole("link", { name: "Acme Chat" }).click();
  await page.waitForURL(`${base}/workspaces/${workspaceId}`);
  assert.ok(await page.locator("svg.chart").count() === 1, `usage chart missing:\n${await text(page)}`);
  await page.getByLabel("Try a paid plan free").selectOption({ label: "Pro" });
  await page.getByRole("button", { name: "Start trial" }).click();
  await expectText(page, "Your trial has started");
  assert.match(await page.locator("#plan").innerText(), /Pro \(trial\)/);
  await shot(page, "workspace-trial");

  step("a second trial of the same plan is refused with a clear message");
  // The trial form is gone on a paid plan; post it as a stale tab would.
  const csrf = await page.locator("input[name=csrf]").first().inputValue();
  const again = await page.request.post(`${base}/workspaces/${workspaceId}/trial`, {
    form: { csrf, plan: "pro", idem: "stale-tab" }, headers: { Origin: base } });
  assert.equal(again.status(), 409);
  assert.ok((await again.text()).includes("A trial can only start from the free plan."));

  step("cancel: back to Starter");
  await page.getByRole("button", { name: "Cancel subscription" }).click();
  await expectText(page, "The subscription is cancelled");
  assert.match(await page.locator("#plan").innerText(), /^Starter/);
  await expectText(page, "License history");
  await shot(page, "workspace-starter");

  step("download an offline license");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "Download offline license" }).click(),
  ]);
  const license = (await readFile(await download.path(), "utf8")).trim();
  assert.match(license, /^RCV3_[\w-]+\.[\w-]+\.[\w-]+$/);

  step("register offline with a pasted client key");
  await page.goto(`${base}/register`);
  await page.getByLabel("The workspace's client key").fill("this is not a client key");
  await page.getByRole("button", { name: "Register offline" }).click();
  await expectText(page, "The client key was not accepted");
  const clientKey = await (await fetch(`${helper}/clientkey`)).text();
  await page.getByLabel("The workspace's client key").fill(clientKey);
  await page.getByRole("button", { name: "Register offline" }).click();
  const blob = await page.locator("#cloud-blob").inputValue();
  const cloud = JSON.parse(Buffer.from(blob, "base64").toString("utf8"));
  assert.match(cloud.licenseData.license, /^RCV3_/);
  await shot(page, "register-offline");
  await page.goto(`${base}/workspaces`);
  await expectText(page, "https://chat1.gap.test");

  step("deregister the offline workspace, once the box is ticked");
  await page.getByRole("link", { name: "Gap Chat 1" }).click();
  await page.getByRole("button", { name: "Deregister" }).click();
  await expectText(page, "Tick the box to confirm that the workspace should be deregistered.");
  await page.getByRole("link", { name: "Back to the workspace" }).click();
  await page.getByLabel("I understand that the workspace loses its license").check();
  await page.getByRole("button", { name: "Deregister" }).click();
  await expectText(page, "The workspace is deregistered");
  assert.equal(await page.locator("#ws-state").innerText(), "deregistered");

  step("phone width");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "workspaces-phone");
  await page.goto(`${base}/workspaces/${workspaceId}`);
  await shot(page, "workspace-phone");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.ok(!overflow, "the workspace page scrolls sideways at phone width");

  step("another organization cannot reach the workspace by editing the URL");
  const ctxB = await browser.newContext();
  const pageB = await ctxB.newPage();
  await signUp(pageB, bob, "Globex");
  await pageB.goto((await mail(bob, 1)).link);
  await signIn(pageB, bob);
  await pageB.waitForURL(`${base}/workspaces`);
  await expectText(pageB, "no workspace yet");
  const resp = await pageB.goto(`${base}/workspaces/${workspaceId}`);
  assert.equal(resp.status(), 404);
  await expectText(pageB, "There is no such workspace in your organization.");
  const csrfB = await pageB.locator("input[name=csrf]").first().inputValue();
  for (const action of ["cancel", "deregister", "offline-license", "trial"]) {
    const r = await pageB.request.post(`${base}/workspaces/${workspaceId}/${action}`, {
      form: { csrf: csrfB, plan: "pro", confirm: "yes" }, headers: { Origin: base } });
    assert.equal(r.status(), 404, `${action} on another organization's workspace: ${r.status()}`);
  }
  const forged = await pageB.request.post(`${base}/register/online`, { form: { csrf: "csrf_forged" }, headers: { Origin: base } });
  assert.equal(forged.status(), 403, "a form without the right CSRF token was accepted");

  step("sign-up and reset say the same for known and unknown addresses");
  const anon = await (await browser.newContext()).newPage();
  await signUp(anon, alice, "Someone else");
  const notice = await mail(alice, 2);
  assert.match(notice.subject, /already have a cloud console account/);
  await anon.goto(`${base}/reset`);
  await anon.getByLabel("E-mail address").fill(`nobody-${run}@example.com`);
  await anon.getByRole("button", { name: "Send the link" }).click();
  const unknown = (await text(anon)).replace(`nobody-${run}@example.com`, "X");
  await anon.goto(`${base}/reset`);
  await anon.getByLabel("E-mail address").fill(alice);
  await anon.getByRole("button", { name: "Send the link" }).click();
  const known = (await text(anon)).replace(alice, "X");
  assert.equal(known, unknown);

  step("reset the password by the e-mailed link");
  const reset = await mail(alice, 3);
  await anon.goto(reset.link);
  await anon.locator("#password").fill("a brand new password");
  await anon.getByLabel("New password again").fill("a brand new password");
  await anon.getByRole("button", { name: "Set the password" }).click();
  await expectText(anon, "Your new password is set");
  await anon.goto(reset.link);
  await expectText(anon, "This link was already used");
  await signIn(anon, alice, "a brand new password");
  await anon.waitForURL(`${base}/workspaces`);

  step("confirm a setup wizard's registration from the e-mailed link");
  const intentResp = await fetch(`${helper}/intent?email=${encodeURIComponent(alice)}`, { method: "POST" });
  const intentBody = await intentResp.text();
  assert.equal(intentResp.status, 200, intentBody);
  const intent = JSON.parse(intentBody);
  const confirmMail = await mail(alice, 4);
  assert.ok(confirmMail.link.startsWith(`${base}/register/confirm?code=`), `intent link ${confirmMail.link} is not the console's`);
  await anon.goto(confirmMail.link);
  await expectText(anon, intent.user_code);
  await shot(anon, "register-confirm");
  await anon.getByRole("button", { name: "Confirm" }).click();
  await expectText(anon, "The workspace is registered");
  await anon.goto(confirmMail.link);
  await expectText(anon, "This workspace is registered");
  await anon.goto(`${base}/register/confirm?code=cc_forged`);
  await expectText(anon, "This confirmation link is not valid");
  // The registry attached it to the customer whose contact is alice: Acme.
  await eventuallyText(anon, `${base}/workspaces`, "Acme Wizard");

  step("an owner adds a member, who chooses a password from the invitation");
  const carol = `carol-${run}@example.com`;
  await anon.goto(`${base}/members`);
  await anon.getByLabel("E-mail address").fill(carol);
  await anon.getByRole("button", { name: "Add member" }).click();
  await expectText(anon, `${carol} was added`);
  await anon.getByLabel("E-mail address").fill(carol);
  await anon.getByRole("button", { name: "Add member" }).click();
  await expectText(anon, `${carol} is already a member.`);
  await shot(anon, "members");
  const invite = await mail(carol, 1);
  assert.match(invite.subject, /You were added to Acme/);
  const carolPage = await (await browser.newContext()).newPage();
  await carolPage.goto(invite.link);
  await carolPage.locator("#password").fill("carol's own password");
  await carolPage.getByLabel("New password again").fill("carol's own password");
  await carolPage.getByRole("button", { name: "Set the password" }).click();
  await signIn(carolPage, carol, "carol's own password");
  await carolPage.waitForURL(`${base}/workspaces`);
  await expectText(carolPage, "Acme Chat");
  // A member, not an owner: no form to add members.
  await carolPage.goto(`${base}/members`);
  assert.equal(await carolPage.getByRole("button", { name: "Add member" }).count(), 0);

  step("sign-in attempts are rate-limited per account");
  const limited = await (await browser.newContext()).newPage();
  for (let i = 0; i < 5; i++) {
    await signIn(limited, bob, `wrong password ${i}`);
    await expectText(limited, "Wrong e-mail address or password");
  }
  await signIn(limited, bob);
  await expectText(limited, "Too many failed sign-in attempts");

  step("sign out");
  await pageB.goto(`${base}/workspaces`);
  await pageB.getByRole("button", { name: "Sign out" }).click();
  await pageB.waitForURL(`${base}/signin`);
  const after = await pageB.goto(`${base}/workspaces`);
  assert.ok(after.url().startsWith(`${base}/signin`), "a signed-out browser still reaches the workspaces");
  console.log("all steps passed");
} finally {
  await browser.close();
}
