// What a hostile seller's text and a hostile component's answers do in a real Chromium:
// markup in a title, venue or description stays text on every screen that shows it, and a
// component's cookies and redirects stay inside its own pages. Prints one JSON object;
// tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=... NS=xss EVIL=evil GOOD=gala SELLER=... BUYER=... PASSWORD=... node hostile-text.mjs
import { launch, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EVIL: evil, GOOD: good, SELLER: seller, BUYER: buyer, PASSWORD: password } = process.env;
const browser = await launch();
const out = { screens: {} };

/// Waits until the page shows the hostile title as text, then says whether any of the
/// seller's markup became elements or ran.
async function inspect(page, name) {
  await page.waitForFunction(() => document.body.innerText.includes("<img src=x"), null, { timeout: 20_000 });
  out.screens[name] = await page.evaluate(() => ({
    ran: window.__pwned ?? null,
    elements: document.querySelectorAll('img[src="x"], #injected, marquee-injected').length,
  }));
}

async function signIn(page, email, then) {
  await page.goto(`${base}/console/#/auth/${then}`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#who .email");
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watchConsole(page, out);

  // Anyone: the catalog, the console's storefront, the performance's own page.
  await page.goto(`${base}/console/#/browse`);
  await inspect(page, "browse");
  await page.goto(`${base}/console/#/p/${ns}`);
  await inspect(page, "storefront");
  await page.goto(`${base}/p/${ns}/`);
  await inspect(page, "own-page");

  // The buyer's tickets, the seller's performances and monitor.
  await signIn(page, buyer, "tickets");
  await inspect(page, "tickets");
  await page.getByRole("button", { name: "Sign out" }).click();
  // Signed out for sure before the next sign-in: the sign-in screen is for guests only.
  await page.waitForSelector("#who .email", { state: "detached" });
  await signIn(page, seller, "deploy");
  await inspect(page, "deploy");
  await page.goto(`${base}/console/#/monitor/${ns}`);
  await inspect(page, "monitor");

  // A cookie bomb for the whole origin: ten 3.9 KB cookies with Path=/ for a year.
  const bomb = Array.from({ length: 10 }, (_, n) =>
    `h=${encodeURIComponent(`Set-Cookie:bomb${n}=${"A".repeat(3900)}; Path=/; Max-Age=31536000`)}`).join("&");
  await page.goto(`${base}/p/${evil}/api/info?do=set&${bomb}`);
  const own = encodeURIComponent(`Set-Cookie:theme=dark; Path=/p/${evil}/; Max-Age=60`);
  await page.goto(`${base}/p/${evil}/api/info?do=set&h=${own}`);
  out.cookies = (await context.cookies()).map((c) => `${c.name} ${c.path}`).filter((c) => !c.startsWith("mq_"));
  out.afterBomb = {
    console: (await page.goto(`${base}/console/`)).status(),
    other: (await page.goto(`${base}/p/${good}/api/info`)).status(),
  };

  // An open redirect off the platform's origin.
  const redirect = encodeURIComponent("Location:https://evil.example/");
  const answer = await page.goto(`${base}/p/${evil}/api/info?do=set&status=302&h=${redirect}`);
  out.redirect = { status: answer.status(), at: new URL(page.url()).origin === new URL(base).origin };
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
