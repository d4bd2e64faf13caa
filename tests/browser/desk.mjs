// The seller's desk in a real headless Chromium: sales move within seconds of a purchase, an
// order is found by its seat, one ticket is refunded, the orders CSV downloads and parses; at
// 1280 and 375 px, with axe-core's serious and critical findings. Prints one JSON object;
// tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=... NS=gala EMAIL=... PASSWORD=... BUYER=... SCREENSHOTS=dir node desk.mjs
import { readFile } from "node:fs/promises";
import { axe, launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EMAIL: email, PASSWORD: password, BUYER: buyer } = process.env;
const browser = await launch();
const out = { overflow: {}, axe: {} };
const sold = (page) => page.getAttribute('.capacity[data-section="R"] .pct', "data-sold");

/// A buyer buys `seat` of session s1 through the API, as another device would.
async function buy(seat) {
  const post = async (path, body, token) => {
    const headers = { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(`${base}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const { access_token: token } = await post("/api/v1/auth/login", { email: buyer, password });
  const hold = await post(`/p/${ns}/api/holds`, { session: "s1", seats: [seat] }, token);
  return (await post(`/p/${ns}/api/holds/${hold.hold_id}/confirm`, { payment: { card: "4242 4242 4242 4242" } }, token)).order_id;
}

try {
  // bypassCSP: the page's policy would refuse axe-core, which the test injects.
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true, bypassCSP: true })).newPage();
  watchConsole(page, out);
  await page.goto(`${base}/console/#/auth/desk/${ns}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector('.capacity[data-section="R"]', { timeout: 20_000 });
  out.soldBefore = await sold(page);

  // Bought elsewhere: the desk shows it within a few seconds, without a reload.
  const order = await buy("R-3-3");
  const started = Date.now();
  await page.waitForFunction((before) => document.querySelector('.capacity[data-section="R"] .pct')?.getAttribute("data-sold") !== before, out.soldBefore, { timeout: 10_000 });
  out.soldAfter = await sold(page);
  out.movedWithinMs = Date.now() - started;
  out.percent = await page.textContent('.capacity[data-section="R"] .pct');
  out.gross = await page.textContent('[data-figure="gross"]');
  out.revenueLegend = await page.$$eval(".chart .u-legend .u-series .u-label", (labels) => labels.map((l) => l.textContent));

  // Found by its seat, one ticket refunded.
  await page.getByLabel("Search orders").fill("R-3-3");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForSelector(`tr[data-order="${order}"]`);
  out.found = await page.$$eval("tbody tr[data-order]", (rows) => rows.map((r) => r.getAttribute("data-order")));
  out.order = order;
  await page.getByRole("button", { name: order }).click();
  await page.getByRole("button", { name: "Refund R-3-3" }).click();
  await page.waitForSelector('li[data-seat="R-3-3"]:has-text("(refunded)")');
  out.refunded = (await page.textContent('li[data-seat="R-3-3"]')).trim();
  out.refundedFigure = await page.textContent('[data-figure="refunded"]');
  // The details a live performance may change, changed here, show on its page.
  await page.locator('form.details input[name="title"]').fill("Spring Gala II");
  await page.locator('form.details textarea[name="description"]').fill("Now with a second act.");
  const png = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(400, 600);
    canvas.getContext("2d").fillRect(0, 0, 400, 600);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer())];
  });
  // R has sold: its price is fixed; S has not: it takes a new one, typed in euros.
  out.priceLocked = { R: await page.getByLabel(/^R \(EUR\)/).isDisabled(), S: await page.getByLabel(/^S \(EUR\)/).isDisabled() };
  await page.getByLabel(/^S \(EUR\)/).fill("95.5");
  await page.locator('form.details input[name="label-s1"]').fill("Opening night");
  await page.getByLabel("New poster (JPEG, PNG or WebP)").setInputFiles({ name: "poster.png", mimeType: "image/png", buffer: Buffer.from(png) });
  await page.getByRole("button", { name: "Save details" }).click();
  await page.waitForSelector("form.details .notice.ok");
  const info = await (await fetch(`${base}/p/${ns}/api/info`)).json();
  await page.waitForFunction(() => document.querySelector("form.details img.poster")?.complete && !document.querySelector("form.details img.poster").hidden);
  out.savedDetails = { title: info.title, description: info.description, poster: info.poster?.startsWith("/api/v1/posters/") };
  out.prices = info.sections.map((s) => [s.name, s.price]);
  out.sessionLabel = info.sessions[0].label;
  // Mail: no relay here, so every mail waits in the outbox, where the desk shows it; a preview
  // shows a confirmation as a buyer would get it.
  await page.getByRole("button", { name: "Refresh the outbox" }).click();
  await page.waitForSelector('tr[data-mail^="refund/"]');
  out.outbox = await page.$$eval("section.mail tbody tr", (rows) => rows.map((r) => [r.cells[0].textContent, r.cells[2].textContent]));
  out.relay = await page.textContent("section.mail > p");
  await page.getByRole("button", { name: "Confirmation" }).click();
  await page.waitForSelector("section.mail pre.letter");
  out.previewSubject = await page.textContent("section.mail .preview h3");
  out.previewAttached = await page.textContent("section.mail .preview p");
  out.axe.desk1280 = await axe(page);
  await shoot(page, out, "desk-1280");

  // The export downloads and parses: a header and a row per order.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export orders (CSV)" }).click()]);
  const text = await readFile(await download.path(), "utf8");
  out.csvHeader = text.split("\n")[0];
  out.csvRows = text.trim().split("\n").length - 1;
  out.csvHasOrder = text.includes(order);

  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300);
  out.overflow.desk375 = await overflow(page);
  out.axe.desk375 = await axe(page);
  await shoot(page, out, "desk-375");
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
