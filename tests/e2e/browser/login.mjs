// login.mjs — the browser half of tests/e2e/browser.sh: Debian's Chromium, headless and
// driven by playwright-core, signs a user in on the page `pot login --no-browser` printed.
//
//   node login.mjs URL_FILE USER PASSWORD_FILE SHOT_DIR PREFIX
//
// Opens the address in URL_FILE (potd's sign-in page), fills in USER and the password read
// from PASSWORD_FILE (never on the command line), submits, clicks Allow when potd asks for
// consent (a third-party client), and waits for the page pot's loopback receiver serves
// ("Signed in"). Saves SHOT_DIR/PREFIX-login.png, SHOT_DIR/PREFIX-consent.png (only when
// there was a consent page) and SHOT_DIR/PREFIX-done.png. Prints one line per step, never
// an address (it carries the state, the code) nor the password. Exit 0 signed in, 1 not.
// CHROMIUM names the browser (default /usr/bin/chromium); nothing is ever downloaded.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [urlFile, user, passwordFile, shotDir, prefix] = process.argv.slice(2);
if (!prefix) {
	console.error('usage: node login.mjs URL_FILE USER PASSWORD_FILE SHOT_DIR PREFIX');
	process.exit(2);
}
const url = readFileSync(urlFile, 'utf8').trim();
const password = readFileSync(passwordFile, 'utf8').replace(/\n$/, '');
const say = (msg) => console.log(`browser(${prefix}): ${msg}`);

// A hard limit on the whole run: the shell test's timeout(1) is the last resort.
const watchdog = setTimeout(() => {
	console.error(`browser(${prefix}): gave up after 45 s`);
	process.exit(1);
}, 45000);

// What page are we on? potd's pages and pot's loopback page each have one <h1>.
const heading = async (page) => ((await page.locator('h1').first().textContent()) || '').trim();

// Clicks a submit button and waits for the page the form leads to (through potd's 303
// to the loopback redirect URI, when it redirects).
async function submit(page, button) {
	await Promise.all([
		page.waitForEvent('load'),
		page.locator(button).click(),
	]);
}

const profile = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'pot-chromium-'));
let context;
let ok = false;
const complaints = [];
// no query string in anything printed: an address there carries the state or the code
const scrub = (text) => text.replace(/\?\S*/g, '?...');
try {
	context = await chromium.launchPersistentContext(profile, {
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		// a quiet throw-away browser: no sandbox (we are root), no GPU, no QUIC, and no
		// first-run, update, sync or other traffic of its own
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 640, height: 520 },
		deviceScaleFactor: 1,
		locale: 'en-US',
		timeout: 20000,
	});
	const page = context.pages()[0] || await context.newPage();
	page.setDefaultTimeout(15000);
	// what the browser itself complains about (a CSP violation, a refused connection),
	// printed when the sign-in fails
	page.on('console', (m) => { if (m.type() === 'error') complaints.push(m.text()); });
	page.on('requestfailed', (r) => complaints.push(`request failed: ${r.method()} ` +
		`${r.url()}: ${r.failure() ? r.failure().errorText : '?'}`));

	// 1. potd's sign-in page
	const resp = await page.goto(url, { waitUntil: 'load' });
	if (!resp || resp.status() !== 200)
		throw new Error(`the sign-in page answered ${resp ? resp.status() : 'nothing'}`);
	if (await heading(page) !== 'Sign in')
		throw new Error(`expected the sign-in page, got "${await heading(page)}"`);
	const potd = new URL(page.url()).origin;
	await page.fill('#username', user);
	await page.fill('#password', password);
	await page.screenshot({ path: join(shotDir, `${prefix}-login.png`), fullPage: true });
	say('sign-in page shown, form filled');
	await submit(page, 'button[type=submit]');

	// 2. the consent page (third-party clients only)
	let h = await heading(page);
	if (h === 'Allow access?') {
		await page.screenshot({ path: join(shotDir, `${prefix}-consent.png`), fullPage: true });
		say('consent page shown: clicking Allow');
		await submit(page, 'button[name=decision][value=allow]');
		h = await heading(page);
	}

	// 3. pot's loopback receiver: http://127.0.0.1:PORT/callback, another origin than potd's
	const at = new URL(page.url());
	await page.screenshot({ path: join(shotDir, `${prefix}-done.png`), fullPage: true });
	if (h !== 'Signed in' || at.origin === potd || at.hostname !== '127.0.0.1' ||
	    at.pathname !== '/callback') {
		const err = await page.locator('.error').allTextContents();
		throw new Error(`ended on "${h}" at ${at.origin}${at.pathname}` +
			(err.length ? `: ${err.join(' ')}` : ''));
	}
	say('loopback page "Signed in" reached');
	ok = true;
} catch (e) {
	console.error(`browser(${prefix}): FAILED: ${scrub(e.message.split('\n')[0])}`);
	for (const c of complaints)
		console.error(`browser(${prefix}): the browser said: ${scrub(c)}`);
} finally {
	if (context)
		await context.close().catch(() => {});
	rmSync(profile, { recursive: true, force: true });
	clearTimeout(watchdog);
}
process.exit(ok ? 0 : 1);
