// The door in a real headless Chromium: the buyer's "My tickets" draws a ticket's QR code; a
// video made from that drawing is the door's fake camera; door staff with a door token scan it
// and see green, scan it again and see "already used", undo, and scan it in once more; a
// typed ticket that is not one is red. Prints one JSON object; tests/e2e/browser.rs asserts.
//   MARQUEE_URL=... NS=gala EMAIL=... PASSWORD=... DOOR_TOKEN=... SCREENSHOTS=dir node door.mjs
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { axe, launch, overflow, shoot, watchConsole } from "./session.mjs";

const base = process.env.MARQUEE_URL;
const { NS: ns, EMAIL: email, PASSWORD: password, DOOR_TOKEN: doorToken } = process.env;
const out = { overflow: {}, axe: {} };
const [width, height] = [640, 480];

// 1. The buyer's ticket as the console draws it, as the luma of a 640x480 frame.
let browser = await launch();
let luma;
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  watchConsole(page, out);
  await page.goto(`${base}/console/#/auth`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForSelector("#who .email");
  await page.goto(`${base}/console/#/tickets`);
  await page.waitForSelector("figure.qr svg");
  luma = await page.evaluate(async ([w, h]) => {
    const svg = new XMLSerializer().serializeToString(document.querySelector("figure.qr svg"));
    const image = new Image();
    image.src = `data:image/svg+xml;base64,${btoa(svg)}`;
    await image.decode();
    const canvas = Object.assign(document.createElement("canvas"), { width: w, height: h });
    const g = canvas.getContext("2d");
    g.fillStyle = "#fff";
    g.fillRect(0, 0, w, h);
    const side = 400;
    g.drawImage(image, (w - side) / 2, (h - side) / 2, side, side);
    const rgba = g.getImageData(0, 0, w, h).data;
    const y = new Array(w * h);
    for (let i = 0; i < w * h; i++) y[i] = Math.round(0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]);
    return y;
  }, [width, height]);
} finally {
  await browser.close();
}

// 2. That frame as a Y4M video (grey: U and V at 128), which Chromium plays as its camera.
const video = join(tmpdir(), `marquee-door-${process.pid}.y4m`);
const frame = Buffer.concat([Buffer.from("FRAME\n"), Buffer.from(luma), Buffer.alloc(width * height / 2, 128)]);
writeFileSync(video, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F5:1 Ip A1:1 C420jpeg\n`), frame, frame]));

// 3. Door staff: a door token, the camera, the verdicts.
browser = await launch(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${video}`]);
try {
  for (const [name, viewport] of [["1280", { width: 1280, height: 900 }], ["375", { width: 375, height: 800 }]]) {
    // bypassCSP: the page's policy would refuse axe-core, which the test injects.
    const context = await browser.newContext({ viewport, bypassCSP: true });
    await context.grantPermissions(["camera"], { origin: base });
    const page = await context.newPage();
    watchConsole(page, out);
    await page.goto(`${base}/console/#/door/${ns}`);
    await page.getByLabel("Door token").fill(doorToken);
    await page.getByLabel("This door").fill("B");
    await page.getByRole("button", { name: "Save" }).click();
    const verdict = async (status) => {
      await page.waitForSelector(`.verdict[data-verdict="${status}"]`, { timeout: 30_000 });
      return page.textContent(".verdict");
    };
    if (name === "1280") {
      await page.getByRole("button", { name: "Start camera" }).click();
      out.first = await verdict("checked_in");
      await page.waitForSelector('.arrivals[data-arrivals="1"]');
      out.arrivals = await page.textContent(".arrivals");
      await shoot(page, out, `door-${name}`);
      await page.getByRole("button", { name: "Next ticket" }).click();
      out.again = await verdict("already_used");
      await page.getByRole("button", { name: "Undo this entry" }).click();
      out.undone = await verdict("undone");
      await page.getByRole("button", { name: "Next ticket" }).click();
      out.afterUndo = await verdict("checked_in");
    } else {
      await page.getByLabel("Or type a ticket").fill("o_000000000000 R-9-9 00112233445566778899aabb");
      await page.getByRole("button", { name: "Check" }).click();
      out.typedWrong = await verdict("unknown");
      await shoot(page, out, `door-${name}`);
    }
    out.overflow[`door-${name}`] = await overflow(page);
    out.axe[`door${name}`] = await axe(page);
    await context.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
