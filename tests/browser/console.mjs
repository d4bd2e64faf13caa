// The web console in a real headless Chromium, as a seller: sign up, deploy from the form, see
// the performance live. Prints one JSON object of what it saw; tests/e2e/browser.rs asserts on
// it. Screenshots of each main screen, at 1280 and 375 px, go to $SCREENSHOTS.
//   MARQUEE_URL=http://127.0.0.1:PORT SCREENSHOTS=dir node console.mjs
import { axe, launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const browser = await launch();
const out = { overflow: {}, axe: {} };

try {
  // bypassCSP: the page's policy would refuse axe-core, which the test injects.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  // Chromium logs every refused request as an error; the one refusal this script provokes on
  // purpose is counted apart, anything else is a fault.
  let provoking = false;
  watchConsole(page, out, () => provoking);

  await page.goto(`${base}/`);
  await page.waitForSelector("main h1");
  out.firstScreen = await page.textContent("main h1");
  await shoot(page, out, "browse-1280");
  await page.getByRole("link", { name: "Sign in", exact: true }).click();
  await page.waitForSelector("form h1");
  await shoot(page, out, "auth-1280");

  await page.getByRole("button", { name: "New here? Create an account" }).click();
  await page.getByLabel("Email").fill("sam@example.com");
  await page.getByLabel("Password").fill("a-good-password");
  await page.getByLabel("I am").selectOption("seller");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.waitForSelector("[data-template=seated]");
  out.afterSignup = new URL(page.url()).hash;
  out.who = await page.textContent("#who .email");

  // The template picker works by keyboard: one tab stop, arrows choose.
  await page.focus("[data-template=festival]");
  await page.keyboard.press("ArrowRight");
  out.keyboardTemplate = await page.textContent("form.card h2");
  await page.click("[data-template=seated]");
  await page.getByLabel("Title").fill("Spring Gala");
  await page.getByLabel("Venue").fill("Town Hall");
  out.suggestedAddress = await page.getByLabel("Address").inputValue();
  // Described as the seller would: in won, in Vienna's time, prices typed in won.
  await page.getByLabel("Description").fill("A night of Strauss.");
  await page.getByLabel("Currency").selectOption("KRW");
  await page.getByLabel("Time zone").selectOption("Europe/Vienna");
  await page.locator('input[name="price"]').first().fill("45000");
  // A poster the browser draws: a 1600 x 2400 PNG, which the platform fits into 1200 x 1800.
  const png = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(1600, 2400);
    const g = canvas.getContext("2d");
    g.fillStyle = "#312e81";
    g.fillRect(0, 0, 1600, 2400);
    g.fillStyle = "#fbbf24";
    g.fillRect(200, 200, 1200, 600);
    return [...new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer())];
  });
  await page.getByLabel("Poster (JPEG, PNG or WebP)").setInputFiles({ name: "poster.png", mimeType: "image/png", buffer: Buffer.from(png) });
  // A seated performance may add a standing section beside its seat map.
  await page.getByRole("button", { name: "Add a section" }).click();
  await page.locator('select[name="section-kind"]').nth(1).selectOption("standing");
  const standing = page.locator('select[name="section-kind"]').nth(1).locator('xpath=ancestor::div[contains(@class, "row")][1]');
  out.standingFields = await standing.locator("input:visible").evaluateAll((els) => els.map((e) => e.name));
  await page.getByRole("button", { name: "Deploy seated" }).click();
  const deployed = await page.waitForSelector("[data-deployed]");
  out.deployedText = await deployed.textContent();
  const info = await (await fetch(`${base}/p/spring-gala/api/info`)).json();
  out.deployedSections = info.sections.map((s) => (s.numbered ? "map" : "standing"));
  out.described = { currency: info.currency, time_zone: info.time_zone, price: info.sections[0].price, starts_at: info.sessions[0].starts_at, description: info.description };
  const poster = await fetch(`${base}${info.poster}`);
  out.poster = { type: poster.headers.get("content-type"), cache: poster.headers.get("cache-control") };
  await page.waitForSelector(".performances a");
  out.listed = await page.textContent(".performances");
  await shoot(page, out, "deploy-1280");
  out.overflow.deploy1280 = await overflow(page);
  out.axe.deploy1280 = await axe(page);

  // An address in use is refused with the API's reason, and nothing is lost from the form.
  provoking = true;
  await page.getByRole("button", { name: "Deploy seated" }).click();
  out.taken = await (await page.waitForSelector(".notice.error")).textContent();
  provoking = false;
  out.titleKept = await page.getByLabel("Title").inputValue();
  // One the browser itself refuses never reaches the API.
  await page.getByLabel("Address").fill("Not A Valid Name");
  await page.getByRole("button", { name: "Deploy seated" }).click();
  out.invalidAddress = await page.getByLabel("Address").evaluate((input) => input.validity.patternMismatch);

  await page.setViewportSize({ width: 375, height: 800 });
  await shoot(page, out, "deploy-375");
  out.overflow.deploy375 = await overflow(page);
  out.axe.deploy375 = await axe(page);

  // The performance is live: its own listing function answers its page.
  const storefront = await context.newPage();
  const response = await storefront.goto(`${base}/p/spring-gala/`);
  out.storefrontStatus = response.status();
  out.storefrontTitle = await storefront.title();
  // Its page shows the poster, as the platform wrote it.
  const shown = await storefront.waitForSelector("img.poster");
  await storefront.waitForFunction((img) => img.complete, shown);
  out.storefrontPoster = await shown.evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight, alt: img.alt }));
  await storefront.close();

  await page.goto(`${base}/console/#/browse`);
  await page.waitForSelector(".catalog a");
  out.catalog = await page.textContent(".catalog");
  await shoot(page, out, "browse-375");
  out.overflow.browse375 = await overflow(page);

  // After a reload the session comes back from its cookies.
  await page.reload();
  await page.waitForSelector("#who .email");
  out.afterReload = await page.textContent("#who .email");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("link", { name: "Sign in", exact: true }).click();
  await page.waitForSelector("form h1");
  await shoot(page, out, "auth-375");
  out.overflow.auth375 = await overflow(page);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
