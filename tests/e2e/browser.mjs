// Browser end-to-end test of the demo app, in headless Chromium via playwright-core.
// Run through `cargo xtask e2e`, which starts the demo and sets DEMO_URL and E2E_OUTPUT.
import { chromium } from "playwright-core";
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const demo = process.env.DEMO_URL;
const output = process.env.E2E_OUTPUT ?? "e2e-output";
fs.mkdirSync(output, { recursive: true });

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name} ${detail}`);
  }
}

// A second origin (another host name and port): its page posts a form to the demo.
const demoPort = new URL(demo).port;
const attacker = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end(`<!doctype html><form id="f" method="post" action="${demo}/logout"></form>
    <script>document.getElementById("f").submit()</script>`);
});
await new Promise((resolve) => attacker.listen(0, "127.0.0.1", resolve));
const attackerUrl = `http://localhost:${attacker.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const context = await browser.newContext();
  const page = await context.newPage();

  await page.goto(`${demo}/`);
  check("anonymous page shows the login form", await page.locator("input[name=username]").count() === 1);

  await page.fill("input[name=username]", "alice");
  await page.fill("input[name=password]", "alice-password");
  await Promise.all([page.waitForURL(`${demo}/`), page.click("button[type=submit]")]);
  const body = await page.textContent("body");
  check("login shows 'Signed in as alice'", body.includes("Signed in as alice"), body);

  const visible = await page.evaluate(() => document.cookie);
  check("the session cookie is HttpOnly (invisible to scripts)", !visible.includes("__Host-id="), visible);
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "__Host-id");
  check("the browser stored the session cookie", Boolean(session), JSON.stringify(cookies));
  check("the cookie is a Secure __Host- cookie, HttpOnly and SameSite=Lax, host-only with Path=/",
    session?.secure === true && session?.httpOnly === true && session?.sameSite === "Lax" && session?.path === "/"
      && !session?.domain?.startsWith("."),
    JSON.stringify(session));

  await page.screenshot({ path: path.join(output, "logged-in.png") });

  await page.reload();
  check("a reload stays logged in", (await page.textContent("body")).includes("Signed in as alice"));

  // Cross-site form post from the other origin: refused, and alice stays logged in.
  const refused = page.waitForResponse((r) => r.url() === `${demo}/logout`);
  await page.goto(attackerUrl);
  const response = await refused;
  check("a cross-site form post is refused with 403", response.status() === 403, `status ${response.status()}`);
  await page.goto(`${demo}/`);
  check("after the forged post alice is still logged in",
    (await page.textContent("body")).includes("Signed in as alice"));

  await Promise.all([page.waitForURL(`${demo}/`), page.click("text=Sign out")]);
  check("logout shows the login form again", await page.locator("input[name=username]").count() === 1);
  const after = (await context.cookies()).find((c) => c.name === "__Host-id");
  check("logout removed the session cookie", !after, JSON.stringify(after));
} catch (error) {
  failed += 1;
  console.log(`FAIL unexpected error: ${error?.stack ?? error}`);
} finally {
  await browser.close();
  attacker.close();
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
