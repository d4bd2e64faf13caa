// Split-token browser sessions in a real headless Chromium. Prints one JSON object of what
// the page observed; tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=http://127.0.0.1:PORT NS=gala EMAIL=... PASSWORD=... node split-token.mjs
import { launch, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EMAIL: email, PASSWORD: password } = process.env;
const browser = await launch();
const out = {};
try {
  const context = await browser.newContext();
  const page = await context.newPage();
  // The 401s are the probes below, refused as they should be; anything else is a fault.
  watchConsole(page, out, (text) => text.includes("401 (Unauthorized)"));
  // The console's origin: a performance's pages are sandboxed and cannot call the platform
  // at all (sandbox.mjs).
  await page.goto(`${base}/console/`);

  Object.assign(out, await page.evaluate(async ({ email, password }) => {
    const r = {};
    const json = { "content-type": "application/json" };
    const login = await fetch("/api/v1/auth/login", { method: "POST", headers: json, body: JSON.stringify({ email, password, mode: "browser" }) });
    r.login = login.status;
    const session = await login.json();
    r.pageTokenParts = session.access_token.split(".").length;
    r.scriptVisibleCookies = document.cookie;
    const bearer = (t) => ({ Authorization: `Bearer ${t}` });
    r.bothHalves = (await fetch("/api/v1/performances", { headers: bearer(session.access_token) })).status;
    r.cookieOnly = (await fetch("/api/v1/performances")).status;
    r.pagePartOnly = (await fetch("/api/v1/performances", { headers: bearer(session.access_token), credentials: "omit" })).status;
    const refreshed = await fetch("/api/v1/auth/refresh", { method: "POST" });
    r.refresh = refreshed.status;
    r.fresh = (await fetch("/api/v1/performances", { headers: bearer((await refreshed.json()).access_token) })).status;
    return r;
  }, { email, password }));

  // A cross-site form (localhost is another site than 127.0.0.1) cannot ride the cookies.
  const crossSite = await context.newPage();
  await crossSite.goto(base.replace("127.0.0.1", "localhost") + `/p/${ns}/`);
  await crossSite.waitForLoadState();
  const [response] = await Promise.all([
    crossSite.waitForNavigation(),
    crossSite.evaluate((target) => {
      const form = document.createElement("form");
      form.method = "POST";
      form.action = target;
      document.body.appendChild(form);
      form.submit();
    }, `${base}/api/v1/auth/refresh`),
  ]);
  out.crossSiteRefresh = response.status();

  Object.assign(out, await page.evaluate(async () => {
    const r = {};
    r.logout = (await fetch("/api/v1/auth/logout", { method: "POST" })).status;
    r.refreshAfterLogout = (await fetch("/api/v1/auth/refresh", { method: "POST" })).status;
    r.scriptVisibleCookiesAfterLogout = document.cookie;
    return r;
  }));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
