// The web console's monitor in a real headless Chromium, as a seller: charts of a performance's
// functions and sales, and their live refresh as traffic arrives. Prints one JSON object;
// tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=... NS=gala EMAIL=... PASSWORD=... SCREENSHOTS=dir node monitor.mjs
import { launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EMAIL: email, PASSWORD: password } = process.env;
const browser = await launch();
const out = { overflow: {} };
const rate = (page) => page.textContent('.latest tr[data-function="listing"] td');

try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watchConsole(page, out);

  await page.goto(`${base}/console/#/auth/monitor/${ns}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector('.latest tr[data-function="listing"]', { timeout: 20_000 });
  out.functions = await page.$$eval(".latest tr[data-function]", (rows) => rows.map((r) => r.getAttribute("data-function")));
  out.charts = await page.$$eval(".chart canvas", (c) => c.length);
  out.legend = await page.$$eval(".chart .u-legend .u-series .u-label", (labels) => labels.map((l) => l.textContent));
  // Right after a deploy the x axis is the last minute, not years around a few samples.
  out.window = await page.getAttribute(".chart [role=img]", "aria-label");

  // Live: a burst of requests shows up without a reload.
  const before = await rate(page);
  out.rateBefore = before;
  const deadline = Date.now() + 15_000;
  let after = before;
  while (after === before && Date.now() < deadline) {
    await Promise.all(Array.from({ length: 40 }, () => fetch(`${base}/p/${ns}/api/info`).then((r) => r.arrayBuffer())));
    await page.waitForTimeout(500);
    after = await rate(page);
  }
  out.rateAfter = after;
  await shoot(page, out, "monitor-1280");

  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300);
  await shoot(page, out, "monitor-375");
  out.overflow.monitor375 = await overflow(page);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
