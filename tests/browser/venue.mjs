// A show page as a buyer in New York sees a performance in Vienna priced in won: its sessions
// at Vienna's time in the viewer's own words, prices in won, its description, cast and running
// time; on the console's storefront and on the performance's own page; at 1280 and 375 px.
// Prints one JSON object; tests/e2e/browser.rs asserts on it.
//   MARQUEE_URL=... NS=gala SCREENSHOTS=dir node venue.mjs
import { axe, launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns } = process.env;
const browser = await launch();
const out = { overflow: {}, axe: {} };

/// What the page shows of the performance.
const seen = (page) =>
  page.evaluate(() => ({
    session: document.querySelector("select[name=session] option")?.textContent,
    price: document.querySelector(".card h2")?.textContent,
    venue: document.querySelector(".venue")?.textContent,
    description: document.querySelector(".description")?.textContent,
    cast: document.querySelector(".cast")?.textContent,
  }));

try {
  // bypassCSP: the page's policy would refuse axe-core, which the test injects.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: "en-US", timezoneId: "America/New_York", bypassCSP: true });
  const page = await context.newPage();
  watchConsole(page, out);
  await page.goto(`${base}/console/#/p/${ns}`);
  await page.waitForSelector(".description");
  out.console = await seen(page);
  out.axe.storefront1280 = await axe(page);
  await shoot(page, out, "venue-1280");
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300);
  out.overflow.venue375 = await overflow(page);
  out.axe.storefront375 = await axe(page);
  await shoot(page, out, "venue-375");

  await page.goto(`${base}/p/${ns}/`);
  await page.waitForSelector(".description");
  out.ownPage = await seen(page);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
