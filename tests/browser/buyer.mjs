// The web console in a real headless Chromium, as a buyer: open a performance's storefront
// (its module served by the performance's listing component), pick a seat on the SVG map by
// mouse, sign in and find it still picked, pick the next by keyboard, see a rival's hold appear
// without a reload, hold, see a declined card told on screen, pay and see the tickets. Prints one JSON object; tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=... NS=gala EMAIL=... PASSWORD=... RIVAL_TOKEN=... SCREENSHOTS=dir node buyer.mjs
import { launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EMAIL: email, PASSWORD: password, RIVAL_TOKEN: rival } = process.env;
const browser = await launch();
const out = { overflow: {} };
const seat = (id) => `[data-seat="${id}"]`;

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // The declined card's 402 is provoked on purpose.
  watchConsole(page, out, (text) => text.includes("402 (Payment Required)"));

  // Signed out, the storefront shows and asks for a sign-in to hold.
  await page.goto(`${base}/console/#/p/${ns}`);
  await page.waitForSelector(seat("R-1-1"));
  out.title = await page.textContent("main h1");
  await page.click(seat("R-1-1"));
  await page.getByRole("button", { name: "Hold" }).click();
  await page.getByRole("link", { name: "sign in", exact: true }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector(seat("R-1-1"));
  // The seat picked before signing in is still picked.
  await page.waitForSelector(`${seat("R-1-1")}[aria-checked="true"]`);
  out.keptAfterSignIn = await page.$$eval('[data-seat][aria-checked="true"]', (els) => els.map((e) => e.getAttribute("data-seat")));
  out.backAt = new URL(page.url()).hash;
  await shoot(page, out, "storefront-1280");

  // A rival holds a seat through the API; the map shows it taken without a reload.
  const held = await fetch(`${base}/p/${ns}/api/holds`, {
    method: "POST",
    headers: { authorization: `Bearer ${rival}`, "content-type": "application/json" },
    body: JSON.stringify({ session: "s1", seats: ["R-2-5"] }),
  });
  out.rivalHold = held.status;
  await page.waitForSelector(`${seat("R-2-5")}[aria-disabled="true"]`, { timeout: 10_000 });
  out.rivalSeatShownTaken = true;

  // The next seat by keyboard, from the one kept.
  await page.focus(seat("R-1-1"));
  await page.keyboard.press("ArrowRight");
  await page.keyboard.press("Space");
  out.focused = await page.evaluate(() => document.activeElement?.getAttribute("data-seat"));
  out.picked = await page.$$eval('[data-seat][aria-checked="true"]', (els) => els.map((e) => e.getAttribute("data-seat")));
  // And one standing place beside them.
  await page.fill('input[name="qty-S"]', "1");
  out.summary = await page.textContent(".summary");

  await page.getByRole("button", { name: "Hold" }).click();
  await page.waitForSelector(".countdown");
  out.countdown = await page.textContent(".countdown");
  await shoot(page, out, "hold-1280");

  // A declined card is told beside the card field, where the buyer is looking, on screen.
  await page.getByLabel("Card number").fill("4000 0000 0000 0002");
  await page.getByRole("button", { name: /^Pay / }).click();
  const declined = await page.waitForSelector(".checkout .notice.error");
  out.declined = { text: await declined.textContent(), onScreen: await declined.isVisible() && await declined.evaluate((e) => e.getBoundingClientRect().bottom <= window.innerHeight) };
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.waitForSelector("[data-order]");
  out.tickets = await page.$$eval("[data-ticket]", (els) => els.map((e) => e.getAttribute("data-ticket")));
  // Nothing of the paid order stays picked for the next one.
  out.afterPay = {
    standing: await page.inputValue('input[name="qty-S"]'),
    picked: await page.locator('[data-seat][aria-checked="true"]').count(),
    summary: await page.textContent(".summary"),
    error: await page.locator(".notice.error").count(),
  };
  await shoot(page, out, "paid-1280");

  await page.setViewportSize({ width: 375, height: 800 });
  await shoot(page, out, "storefront-375");
  out.overflow.storefront375 = await overflow(page);

  // My tickets: the order with a QR code per ticket, and cancelling it.
  await page.getByRole("link", { name: "See all your tickets" }).click();
  await page.waitForSelector(".order [role=img]");
  out.qrCodes = await page.$$eval(".order [role=img]", (els) => els.map((e) => e.getAttribute("aria-label")));
  await shoot(page, out, "tickets-375");
  out.overflow.tickets375 = await overflow(page);
  await page.setViewportSize({ width: 1280, height: 900 });
  await shoot(page, out, "tickets-1280");
  await page.getByRole("button", { name: "Cancel order" }).click();
  await page.getByRole("button", { name: /^Yes, cancel/ }).click();
  await page.waitForSelector(".order.cancelled");
  out.afterCancel = await page.textContent(".order .status");
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
