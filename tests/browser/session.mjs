// What every browser script shares: Debian's Chromium launched headless, a record of console
// errors, full-page screenshots into $SCREENSHOTS, and the sideways-scroll check.
import { chromium } from "playwright-core";

/// `extra`: more Chromium switches (a fake camera, say).
export function launch(extra = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", ...extra],
  });
}

/// Collects the page's console errors and uncaught exceptions into `out.consoleErrors`;
/// `expected()` says whether one is a refusal the script provokes on purpose.
export function watchConsole(page, out, expected = () => false) {
  out.consoleErrors ??= [];
  out.provokedRefusals ??= [];
  page.on("console", (m) => m.type() === "error" && (expected(m.text()) ? out.provokedRefusals : out.consoleErrors).push(m.text()));
  page.on("pageerror", (e) => out.consoleErrors.push(String(e)));
}

export async function shoot(page, out, name) {
  const path = `${process.env.SCREENSHOTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  (out.screenshots ??= []).push(path);
}

/// Pixels the page is wider than its viewport: more than 0 means a sideways scroll.
export const overflow = (page) => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

/// The page's serious and critical accessibility violations by axe-core: `["rule: target", ...]`.
export async function axe(page) {
  await page.addScriptTag({ path: new URL("./node_modules/axe-core/axe.min.js", import.meta.url).pathname });
  return page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ["violations"] });
    return violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(" ")}`));
  });
}
