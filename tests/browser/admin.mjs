// The web console in a real headless Chromium, as an admin: upload a component to the pool,
// add a template as JSON and delete it. Prints one JSON object; tests/e2e/browser.rs asserts.
//   MARQUEE_URL=... EMAIL=... PASSWORD=... COMPONENT=file.wasm TEMPLATE='{...}' SCREENSHOTS=dir node admin.mjs
import { launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { EMAIL: email, PASSWORD: password, COMPONENT: component, TEMPLATE: template } = process.env;
const browser = await launch();
const out = { overflow: {} };

try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watchConsole(page, out);

  await page.goto(`${base}/console/#/auth/admin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("[data-component]");
  out.heading = await page.textContent("main h1");

  await page.getByLabel("Component (.wasm)").setInputFiles(component);
  out.suggestedName = await page.getByLabel("Name").inputValue();
  await page.getByRole("button", { name: "Upload" }).click();
  await page.waitForSelector(`[data-component="${out.suggestedName}@0.1.0"]`, { timeout: 60_000 });
  out.uploaded = await page.textContent(".notice.ok");
  await shoot(page, out, "admin-1280");

  await page.getByLabel("Template JSON").fill(template);
  await page.getByRole("button", { name: "Add template" }).click();
  const name = JSON.parse(template).name;
  await page.waitForSelector(`[data-template-name="${name}"]`);
  out.templateAdded = true;
  await page.getByRole("button", { name: `Delete template ${name}` }).click();
  await page.waitForSelector(`[data-template-name="${name}"]`, { state: "detached" });
  // Each action's message shows beside it, not at the top of the page.
  out.templateDeleted = await page.textContent(".template-list >> xpath=.. >> .notice.ok");
  out.templateMessageInView = await page.locator(".template-list >> xpath=.. >> .notice.ok").isVisible();
  out.builtinDeleteButtons = await page.locator('[data-template-name="seated"] button').count();

  await page.setViewportSize({ width: 375, height: 800 });
  await shoot(page, out, "admin-375");
  out.overflow.admin375 = await overflow(page);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
