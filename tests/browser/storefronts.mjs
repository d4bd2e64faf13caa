// The console's storefront for what the built-in one used to miss: a festival's goods, a
// presale's code field, and an address with no performance behind it. Prints one JSON object.
//   MARQUEE_URL=... FEST=fest PRE=pre EMAIL=... PASSWORD=... SCREENSHOTS=dir node storefronts.mjs
import { launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { FEST: fest, PRE: pre, EMAIL: email, PASSWORD: password } = process.env;
const browser = await launch();
const out = { overflow: {} };
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  // The unknown address is a 404 on purpose.
  watchConsole(page, out, (text) => text.includes("404 (Not Found)"));
  await page.goto(`${base}/console/#/auth`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#who .email");
  // Signing in ends by going home; going elsewhere before that lands could be overtaken by it.
  await page.waitForURL((url) => url.hash === "#/browse");

  await page.goto(`${base}/console/#/p/${fest}`);
  await page.waitForSelector(".goods");
  out.goods = await page.$$eval('input[name^="goods-"]', (els) => els.map((e) => e.name));
  out.festEmpty = await page.textContent(".summary");
  out.most = { standing: await page.getAttribute('input[name="qty-GA"]', "max"), goods: await page.getAttribute('input[name="goods-SHIRT"]', "max") };
  await page.fill('input[name="goods-SHIRT"]', "50");
  out.goodsClamped = await page.inputValue('input[name="goods-SHIRT"]');
  await page.fill('input[name="qty-GA"]', "1");
  await page.fill('input[name="goods-SHIRT"]', "2");
  out.festSummary = await page.textContent(".summary");
  await page.getByRole("button", { name: "Hold" }).click();
  await page.waitForSelector(".countdown");
  await shoot(page, out, "festival-1280");
  out.overflow.festival = await overflow(page);

  await page.goto(`${base}/console/#/p/${pre}`);
  await page.waitForSelector('input[name="presale-code"]');
  await page.fill('input[name="presale-code"]', "EARLY-BIRD");
  await page.getByRole("button", { name: "Use code" }).click();
  await page.waitForSelector(".admitted");
  out.admitted = await page.textContent(".admitted");

  await page.goto(`${base}/console/#/p/no-such-show`);
  await page.waitForSelector(".notice.error");
  out.unknown = await page.textContent(".notice.error");
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
