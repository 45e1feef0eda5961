/**
 * The dashboard in real headless Chromium (Debian's package, found or installed by scripts/chromium.sh;
 * a missing browser fails this file, it never skips). Screenshots go to .tmp/artifacts/.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ADMIN_TOKEN, type Fixture, startFixture } from "./test-support";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const artifacts = `${root}.tmp/artifacts`;

/** A busy shared machine is slow; these bound waits, they are not asserted durations. */
const LIVE = { timeout: 10_000 };

let browser: Browser;
let fixture: Fixture;

beforeAll(async () => {
	const executablePath = execFileSync("bash", [`${root}scripts/chromium.sh`], { encoding: "utf8" }).trim();
	browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
	fixture = await startFixture();
	mkdirSync(artifacts, { recursive: true });
}, 120_000);

afterAll(async () => {
	await browser?.close();
	await fixture?.close();
});

function watchConsole(page: Page): string[] {
	const errors: string[] = [];
	page.on("console", (message) => {
		if (message.type() === "error") errors.push(message.text());
	});
	page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
	return errors;
}

it("logs in, shows the fake provider's accounts, updates live, fits 375 px", async () => {
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
	const page = await context.newPage();
	const errors = watchConsole(page);

	await page.goto(fixture.app.url);
	await page.locator("form.login").waitFor();
	expect(errors).toEqual([]);

	// A wrong token: the API answers 401 and the form says so.
	const wrong = page.waitForResponse((response) => response.url().endsWith("/api/session"));
	await page.fill("#token", "test-wrong-token");
	await page.click("button[type=submit]");
	expect((await wrong).status()).toBe(401);
	await expect.poll(() => page.locator("[data-testid=login-error]").textContent(), LIVE).toContain("401");
	// The browser reports the refused request itself; nothing else may have gone wrong.
	expect(errors.every((text) => text.includes("401"))).toBe(true);
	const errorsAfterLogin = errors.length;

	await page.fill("#token", ADMIN_TOKEN);
	await page.click("button[type=submit]");
	await page.locator("[data-testid=account]").first().waitFor();
	expect(await page.evaluate('sessionStorage.getItem("authpool.adminToken")')).toBe(ADMIN_TOKEN);

	const accounts = page.locator("[data-testid=account]");
	await expect.poll(() => accounts.count(), LIVE).toBe(4);
	const labels = await page.locator("[data-testid=account] .label").allTextContents();
	expect(labels.slice(0, 3)).toEqual(["alice@example.com", "bob@example.com", "carol@example.com"]);
	expect(await page.locator('[data-state="disabled"] [data-testid=disabled-cause]').textContent()).toContain(
		"refresh token revoked",
	);
	// Quota bars from the fake provider's usage reports (fetched by the app at start).
	await expect.poll(() => page.locator("[data-testid=quota]").count(), LIVE).toBeGreaterThanOrEqual(4);
	const aliceBars = await page
		.locator("[data-account-id] >> nth=0 >> [role=progressbar]")
		.evaluateAll((bars) => bars.map((bar) => Number(bar.getAttribute("aria-valuenow"))));
	expect(aliceBars).toEqual(expect.arrayContaining([35, 62]));
	await expect.poll(() => page.locator("[data-testid=history] polyline").count(), LIVE).toBeGreaterThanOrEqual(1);
	await expect.poll(() => page.locator("[data-testid=live]").textContent(), LIVE).toBe("live");

	// Live: a block set through the storage reaches the page over the stream, without a reload.
	expect(await page.locator('[data-state="blocked"]').count()).toBe(0);
	await fixture.storage.getApiKey("anthropic", "test-session-1");
	await fixture.storage.markUsageLimitReached("anthropic", "test-session-1", { retryAfterMs: 3_600_000 });
	await page.locator('[data-state="blocked"] [data-testid=blocked-until]').waitFor({ timeout: 10_000 });
	await page.locator('[data-testid=events] [data-kind="blocked"]').waitFor({ timeout: 10_000 });
	const unblocked = fixture.storage
		.exportSnapshot()
		.credentials.find((entry) => entry.provider === "anthropic" && entry.blocks.length === 0);
	expect(unblocked).toBeDefined();
	await fixture.storage.disableCredentialById(unblocked?.id ?? -1, "test disable");
	await page
		.locator('[data-testid=events] [data-kind="disabled"]')
		.filter({ hasText: "test disable" })
		.waitFor({ timeout: 10_000 });
	await expect.poll(() => page.locator('[data-state="disabled"]').count(), LIVE).toBe(2);
	expect(await page.locator('[data-testid=events] [data-kind="removed"]').count()).toBe(0);
	await page.screenshot({ path: `${artifacts}/dashboard-desktop.png`, fullPage: true });

	// Phone width: no horizontal scroll.
	await page.setViewportSize({ width: 375, height: 812 });
	await page.waitForTimeout(100);
	// Evaluated in the page (strings: this file is typechecked without the DOM library).
	const widths = (await page.evaluate(
		"({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth })",
	)) as { scroll: number; client: number };
	expect(widths.scroll).toBeLessThanOrEqual(widths.client);
	await page.screenshot({ path: `${artifacts}/dashboard-375.png`, fullPage: true });

	// The token survives a reload in sessionStorage: no second login.
	await page.reload();
	await page.locator("[data-testid=account]").first().waitFor();
	expect(await page.locator("form.login").count()).toBe(0);

	expect(errors.slice(errorsAfterLogin)).toEqual([]);
	await context.close();
});
