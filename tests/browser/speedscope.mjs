// tests/t60_browser.sh's driver: opens speedscope (npm, dist served from disk) in Debian's
// Chromium through playwright-core (no browser download), imports each trace file given
// through the page's file input, as a user's "Browse" does, and prints one JSON line per
// file: what the page showed (title, an alert such as "Unrecognized format", an error
// screen) and the frame names of its sandwich view (DOM text; the flame graphs are canvas).
// usage: node speedscope.mjs CHROMIUM INDEX_HTML PROFILE_DIR TRACE...
import { chromium } from 'playwright-core';

const [exe, index, profileDir, ...files] = process.argv.slice(2);
const browser = await chromium.launchPersistentContext(profileDir, {
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         // WebGL in software: speedscope draws with WebGL and imports nothing without it
         '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  timeout: 60000,
});
// nothing leaves the machine: only file:// URLs are let through
await browser.route(url => !url.toString().startsWith('file:'), route => route.abort());
for (const file of files) {
  const page = await browser.newPage();
  const seen = { file, dialogs: [], pageErrors: [], console: [] };
  page.on('dialog', d => { seen.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', e => seen.pageErrors.push(String(e).slice(0, 300)));
  page.on('console', m => { if (m.type() === 'error') seen.console.push(m.text().slice(0, 300)); });
  try {
    await page.goto('file://' + index, { waitUntil: 'load', timeout: 60000 });
    await page.setInputFiles('input[type=file]', file, { timeout: 60000 });
    const base = file.split('/').pop();
    // done when the title names the profile, an alert came, or the error screen shows
    const deadline = Date.now() + 90000;
    for (;;) {
      seen.title = await page.title();
      seen.text = await page.evaluate(() => document.body.innerText);
      if (seen.title.includes(base) || seen.dialogs.length ||
          /Something went wrong/.test(seen.text) || Date.now() > deadline) break;
      await page.waitForTimeout(200);
    }
    if (seen.title.includes(base)) {
      await page.keyboard.press('3'); // sandwich view: a table of frames, in the DOM
      await page.waitForTimeout(1000);
      seen.sandwich = await page.evaluate(() => document.body.innerText);
    }
  } catch (e) {
    seen.exception = String(e).slice(0, 500);
  }
  delete seen.text;
  console.log(JSON.stringify(seen));
  await page.close();
}
await browser.close();
