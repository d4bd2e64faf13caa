// What a performance's pages can reach, in a real headless Chromium. A signed-in buyer:
// opens a performance whose listing is a seller's hostile component in the console (the
// console must not run the JavaScript it serves); then buys on another performance's own
// page (/p/{ns}/), which runs sandboxed: no origin, no cookies, no platform call, only a token
// for that one performance handed over by the console. Prints one JSON object.
//   MARQUEE_URL=... NS=gala EVIL=evil EMAIL=... PASSWORD=... SCREENSHOTS=dir node sandbox.mjs
import { launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EVIL: evil, EMAIL: email, PASSWORD: password } = process.env;
const browser = await launch();
const out = { overflow: {} };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // The hostile listing answers its API with text, which the storefront reports; and the
  // sandboxed page's probes are refused on purpose.
  watchConsole(page, out, (text) => text.includes("CORS") || text.includes("Failed to load resource"));

  // Signing in from the performance's own page goes through the console and comes back.
  await page.goto(`${base}/p/${ns}/`);
  await page.waitForSelector('[data-seat="R-1-1"]');
  await page.click('[data-seat="R-1-1"]');
  await page.getByRole("button", { name: "Hold" }).click();
  await page.getByRole("link", { name: "sign in", exact: true }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL((url) => url.pathname === `/p/${ns}/`);
  await page.waitForSelector('[data-seat="R-1-1"]');
  out.backAt = page.url();
  // The seat picked before signing in is picked still.
  out.keptPick = await page.getAttribute('[data-seat="R-1-1"]', "aria-checked");
  out.probes = await page.evaluate(async () => {
    const r = { origin: self.origin };
    try {
      r.cookies = document.cookie;
    } catch {
      r.cookies = "blocked";
    }
    try {
      r.storage = String(localStorage.length);
    } catch {
      r.storage = "blocked";
    }
    r.platformCall = await fetch("/api/v1/orders", { credentials: "include" }).then((x) => x.status, () => "blocked");
    return r;
  });
  await page.getByRole("button", { name: "Hold" }).click();
  await page.waitForSelector(".countdown");
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: /^Pay / }).click();
  await page.waitForSelector("[data-order]");
  out.tickets = await page.$$eval("[data-ticket]", (els) => els.map((e) => e.getAttribute("data-ticket")));
  await shoot(page, out, "own-page-paid-1280");
  out.overflow.ownPage = await overflow(page);

  // A reload keeps the buyer signed in: the page, whose memory went, asks the console again.
  const minted = page.waitForResponse((r) => r.url().endsWith("/api/v1/auth/namespace-token"));
  await page.reload();
  await minted;
  await page.waitForURL((url) => url.pathname === `/p/${ns}/` && url.hash === "#signed-in");
  await page.waitForSelector('[data-seat="R-1-2"]');
  await page.click('[data-seat="R-1-2"]');
  await page.getByRole("button", { name: "Hold" }).click();
  await page.waitForSelector(".countdown");
  out.afterReload = await page.textContent(".summary");
  // Signed out in the console, a reload comes back signed out, and no token stays anywhere.
  const signOut = await context.newPage();
  await signOut.goto(`${base}/console/#/browse`);
  await signOut.getByRole("button", { name: "Sign out" }).click();
  await signOut.waitForSelector('a[data-screen="auth"]');
  await signOut.close();
  await page.reload();
  await page.waitForURL((url) => url.pathname === `/p/${ns}/` && url.hash === "");
  await page.waitForSelector('[data-seat="R-1-3"]');
  await page.click('[data-seat="R-1-3"]');
  await page.getByRole("button", { name: "Hold" }).click();
  out.afterSignOut = await (await page.waitForSelector(".notice.error")).textContent();

  // The console shows the hostile performance with its own storefront code, never the
  // module the performance serves.
  const console_ = await context.newPage();
  watchConsole(console_, out, (text) => text.includes("Failed to load resource"));
  await console_.goto(`${base}/console/#/p/${evil}`);
  await console_.waitForSelector(".notice.error, main h1");
  out.consoleRanSellerScript = await console_.evaluate(() => "pwned" in window || document.body.textContent.includes("pwned"));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
