/**
 * The simulated providers' state: accounts, issued tokens, quota windows, login codes. No HTTP here.
 */
import { accessTokenFor, apiKeyFor, codexJwt, oneTimeCode, randomUUID, refreshTokenFor, userCode } from "./tokens";
import type {
	FakeAccount,
	FakeAccountSpec,
	FakeCredential,
	FakeDeviceCode,
	FakeUsagePatch,
	FakeUsageWindow,
} from "./types";

export const FIVE_HOURS_MS = 5 * 3_600_000;
export const SEVEN_DAYS_MS = 7 * 86_400_000;
const TEN_YEARS_MS = 10 * 365 * 86_400_000;

const API_KEY_PROVIDERS = new Set(["zai", "opencode-go", "ollama", "ollama-cloud"]);

/** Saved-reset credit (Codex). */
export interface ResetCredit {
	id: string;
	status: "available" | "redeemed";
	grantedAt: number;
	expiresAt: number;
	redeemedAt?: number;
}

/** Internal mutable account record. */
export interface AccountRecord {
	id: string;
	provider: string;
	type: "oauth" | "api_key";
	ordinal: number;
	email?: string;
	accountId?: string;
	projectId?: string;
	orgId: string;
	plan?: string;
	apiKey?: string;
	refreshToken: string;
	accessToken: string;
	expiresAt: number;
	rotate: boolean;
	ttlMs: number;
	identityInTokenResponse: boolean;
	revoked: boolean;
	quota: number;
	windowMs: number;
	spent: number;
	windowStart?: number;
	usage: FakeUsagePatch;
	refreshes: number;
	inferences: number;
	credits: ResetCredit[];
	redeemed: Map<string, { status: number; code: string }>;
	view: FakeAccount;
}

/** A usage window as rendered to payloads, with every field resolved. */
export interface ResolvedWindow {
	usedPercent: number;
	resetsAt: number;
	windowMs: number;
}

interface DeviceCodeRecord extends FakeDeviceCode {
	state: "pending" | "approved" | "denied" | "consumed";
	accountId?: string;
	expiresAt: number;
}

/** Outcome of a token-endpoint grant. */
export type GrantOutcome =
	| { ok: true; account: AccountRecord; rotated: boolean }
	| { ok: false; error: string; description: string };

export interface WorldOptions {
	now: () => number;
	accessTokenTtlMs: number;
	rotateRefreshTokens: boolean;
}

export class FakeWorld {
	readonly accountsById = new Map<string, AccountRecord>();
	private readonly refreshTokens = new Map<string, { accountId: string; used: boolean }>();
	private readonly accessTokens = new Map<string, { accountId: string; expiresAt: number }>();
	private readonly apiKeys = new Map<string, string>();
	private readonly authCodes = new Map<string, { accountId: string; used: boolean }>();
	private readonly deviceCodes = new Map<string, DeviceCodeRecord>();
	private readonly perProvider = new Map<string, number>();
	private ordinal = 0;
	private creditSeq = 0;

	constructor(private readonly options: WorldOptions) {}

	now(): number {
		return this.options.now();
	}

	isKnownProvider(provider: string): boolean {
		for (const account of this.accountsById.values()) if (account.provider === provider) return true;
		return false;
	}

	addAccount(provider: string, spec: FakeAccountSpec = {}): AccountRecord {
		if (!provider || provider.includes("/")) throw new TypeError("fake-provider: invalid provider id");
		const n = (this.perProvider.get(provider) ?? 0) + 1;
		this.perProvider.set(provider, n);
		this.ordinal += 1;
		const id = spec.id ?? `${provider}-${n}`;
		if (this.accountsById.has(id)) throw new Error(`fake-provider: account ${id} already exists`);
		const type = spec.type ?? (API_KEY_PROVIDERS.has(provider) ? "api_key" : "oauth");
		const now = this.now();
		const record: AccountRecord = {
			id,
			provider,
			type,
			ordinal: this.ordinal,
			email: spec.email ?? (type === "oauth" ? `user${this.ordinal}@example.com` : undefined),
			accountId: spec.accountId ?? defaultAccountId(provider, this.ordinal),
			projectId: spec.projectId ?? (provider.startsWith("google-") ? `fake-project-${this.ordinal}` : undefined),
			orgId: randomUUID(),
			plan: spec.plan ?? spec.usage?.plan,
			refreshToken: "",
			accessToken: "",
			expiresAt: Number.MAX_SAFE_INTEGER,
			rotate: spec.rotateRefreshTokens ?? this.options.rotateRefreshTokens,
			ttlMs: spec.accessTokenTtlMs ?? this.options.accessTokenTtlMs,
			identityInTokenResponse: spec.identityInTokenResponse ?? true,
			revoked: false,
			quota: spec.quota ?? Number.POSITIVE_INFINITY,
			windowMs: spec.windowMs ?? FIVE_HOURS_MS,
			spent: 0,
			usage: {},
			refreshes: 0,
			inferences: 0,
			credits: [],
			redeemed: new Map(),
			view: undefined as unknown as FakeAccount,
		};
		record.view = accountView(record);
		if (type === "api_key") {
			record.apiKey = spec.apiKey ?? apiKeyFor(provider);
			record.accessToken = record.apiKey;
			this.apiKeys.set(record.apiKey, id);
		} else if (provider === "github-copilot") {
			// Copilot's GitHub OAuth token is both access and refresh, never expires, never rotates.
			const token = accessTokenFor(provider);
			record.accessToken = token;
			record.refreshToken = token;
			record.rotate = false;
			record.expiresAt = spec.expiresAt ?? now + TEN_YEARS_MS;
			this.accessTokens.set(token, { accountId: id, expiresAt: record.expiresAt });
			this.refreshTokens.set(token, { accountId: id, used: false });
		} else {
			this.issuePair(record, spec.expiresAt);
		}
		this.accountsById.set(id, record);
		if (spec.usage) this.setUsage(id, spec.usage);
		return record;
	}

	get(id: string): AccountRecord {
		const record = this.accountsById.get(id);
		if (!record) throw new Error(`fake-provider: no account ${id}`);
		return record;
	}

	find(idOrToken: string): AccountRecord | undefined {
		const direct = this.accountsById.get(idOrToken);
		if (direct) return direct;
		const owner =
			this.refreshTokens.get(idOrToken)?.accountId ??
			this.accessTokens.get(idOrToken)?.accountId ??
			this.apiKeys.get(idOrToken);
		return owner === undefined ? undefined : this.accountsById.get(owner);
	}

	/** Issues a fresh access token, and a fresh refresh token (retiring the current one). */
	private issuePair(record: AccountRecord, expiresAt?: number): void {
		const now = this.now();
		record.expiresAt = expiresAt ?? now + record.ttlMs;
		record.accessToken =
			record.provider === "openai-codex"
				? codexJwt({
						accountId: record.accountId,
						email: record.email,
						expiresAt: record.expiresAt,
						issuedAt: now,
					})
				: accessTokenFor(record.provider);
		this.accessTokens.set(record.accessToken, { accountId: record.id, expiresAt: record.expiresAt });
		this.rotateRefresh(record);
	}

	private rotateRefresh(record: AccountRecord): void {
		const previous = this.refreshTokens.get(record.refreshToken);
		if (previous) previous.used = true;
		record.refreshToken = refreshTokenFor(record.provider);
		this.refreshTokens.set(record.refreshToken, { accountId: record.id, used: false });
	}

	private issueAccess(record: AccountRecord): void {
		const now = this.now();
		record.expiresAt = now + record.ttlMs;
		record.accessToken =
			record.provider === "openai-codex"
				? codexJwt({
						accountId: record.accountId,
						email: record.email,
						expiresAt: record.expiresAt,
						issuedAt: now,
					})
				: accessTokenFor(record.provider);
		this.accessTokens.set(record.accessToken, { accountId: record.id, expiresAt: record.expiresAt });
	}

	/** `grant_type=refresh_token`. */
	refresh(provider: string, refreshToken: string): GrantOutcome {
		const entry = this.refreshTokens.get(refreshToken);
		const record = entry ? this.accountsById.get(entry.accountId) : undefined;
		if (!entry || !record || record.provider !== provider || record.type !== "oauth") {
			return invalidGrant("refresh token not recognised");
		}
		if (record.revoked) return invalidGrant("refresh token has been revoked");
		if (entry.used) return invalidGrant("refresh token has already been used");
		record.refreshes += 1;
		if (record.rotate) {
			this.issuePair(record);
			return { ok: true, account: record, rotated: true };
		}
		this.issueAccess(record);
		return { ok: true, account: record, rotated: false };
	}

	createAuthorizationCode(provider: string, spec: FakeAccountSpec = {}): { code: string; record: AccountRecord } {
		const record = spec.existingAccountId ? this.get(spec.existingAccountId) : this.addAccount(provider, spec);
		const code = oneTimeCode("fake-code");
		this.authCodes.set(code, { accountId: record.id, used: false });
		return { code, record };
	}

	/** `grant_type=authorization_code`: one-time. */
	exchangeCode(provider: string, code: string): GrantOutcome {
		// Anthropic clients may send `code#state` unsplit; tolerate it.
		const entry = this.authCodes.get(code) ?? this.authCodes.get(code.split("#")[0] ?? "");
		const record = entry ? this.accountsById.get(entry.accountId) : undefined;
		if (!entry || !record || record.provider !== provider) return invalidGrant("authorization code not recognised");
		if (entry.used) return invalidGrant("authorization code has already been used");
		if (record.revoked) return invalidGrant("grant has been revoked");
		entry.used = true;
		this.issuePair(record);
		return { ok: true, account: record, rotated: true };
	}

	startDeviceCode(provider: string, ttlMs: number): DeviceCodeRecord {
		const record: DeviceCodeRecord = {
			provider,
			userCode: userCode(),
			deviceCode: oneTimeCode("fake-device"),
			state: "pending",
			expiresAt: this.now() + ttlMs,
		};
		this.deviceCodes.set(record.deviceCode, record);
		return record;
	}

	private deviceByUserCode(code: string): DeviceCodeRecord {
		for (const record of this.deviceCodes.values()) if (record.userCode === code) return record;
		throw new Error("fake-provider: unknown device user code");
	}

	approveDeviceCode(code: string, spec: FakeAccountSpec = {}): AccountRecord {
		const device = this.deviceByUserCode(code);
		if (device.state !== "pending") throw new Error("fake-provider: device code is not pending");
		const record = spec.existingAccountId ? this.get(spec.existingAccountId) : this.addAccount(device.provider, spec);
		device.state = "approved";
		device.accountId = record.id;
		return record;
	}

	denyDeviceCode(code: string): void {
		this.deviceByUserCode(code).state = "denied";
	}

	pendingDeviceCodes(provider?: string): FakeDeviceCode[] {
		return [...this.deviceCodes.values()]
			.filter((d) => d.state === "pending" && (provider === undefined || d.provider === provider))
			.map(({ provider: p, userCode: u, deviceCode }) => ({ provider: p, userCode: u, deviceCode }));
	}

	/** Device-code poll: an OAuth error code, or the account (with freshly issued tokens). */
	pollDeviceCode(provider: string, deviceCode: string): GrantOutcome {
		const device = this.deviceCodes.get(deviceCode);
		if (!device || device.provider !== provider || device.state === "consumed" || this.now() >= device.expiresAt) {
			return { ok: false, error: "expired_token", description: "device code expired or unknown" };
		}
		if (device.state === "pending") {
			return { ok: false, error: "authorization_pending", description: "the user has not approved yet" };
		}
		if (device.state === "denied") return { ok: false, error: "access_denied", description: "the user denied" };
		device.state = "consumed";
		const record = this.get(device.accountId ?? "");
		if (record.provider !== "github-copilot") this.issuePair(record);
		return { ok: true, account: record, rotated: true };
	}

	/** The account a bearer token / key authenticates as, if valid now. */
	authenticate(provider: string, token: string | undefined): AccountRecord | undefined {
		if (!token) return undefined;
		const access = this.accessTokens.get(token);
		const owner = access?.accountId ?? this.apiKeys.get(token);
		const record = owner === undefined ? undefined : this.accountsById.get(owner);
		if (!record || record.provider !== provider || record.revoked) return undefined;
		if (access && access.expiresAt <= this.now()) return undefined;
		return record;
	}

	revoke(id: string): void {
		this.get(id).revoked = true;
	}

	expireAccessToken(id: string): void {
		const record = this.get(id);
		const expired = this.now() - 1;
		record.expiresAt = expired;
		const entry = this.accessTokens.get(record.accessToken);
		if (entry) entry.expiresAt = expired;
	}

	setUsage(id: string, patch: FakeUsagePatch): void {
		const record = this.get(id);
		const usage = record.usage;
		for (const key of ["plan", "primary", "secondary", "resetCredits", "entitlement"] as const) {
			if (key in patch) (usage as Record<string, unknown>)[key] = patch[key];
		}
		if (patch.plan !== undefined) record.plan = patch.plan;
		if (patch.buckets) usage.buckets = { ...usage.buckets, ...patch.buckets };
		if (patch.raw) usage.raw = { ...usage.raw, ...patch.raw };
		if (patch.resetCredits !== undefined) this.setResetCredits(record, patch.resetCredits);
	}

	private setResetCredits(record: AccountRecord, count: number): void {
		const now = this.now();
		const redeemed = record.credits.filter((c) => c.status === "redeemed");
		const available: ResetCredit[] = [];
		for (let i = 0; i < Math.max(0, Math.trunc(count)); i++) {
			this.creditSeq += 1;
			available.push({
				id: `RateLimitResetCredit_fake${String(this.creditSeq).padStart(4, "0")}`,
				status: "available",
				grantedAt: now,
				expiresAt: now + 30 * 86_400_000,
			});
		}
		record.credits = [...redeemed, ...available];
	}

	/** Starts a new quota window once the previous one has ended. */
	private roll(record: AccountRecord): void {
		if (record.windowStart !== undefined && this.now() >= record.windowStart + record.windowMs) {
			record.windowStart = undefined;
			record.spent = 0;
		}
	}

	private windowEnd(record: AccountRecord): number {
		return (record.windowStart ?? this.now()) + record.windowMs;
	}

	/** The primary window, explicit or derived from inference use; `undefined` when removed. */
	primary(record: AccountRecord): ResolvedWindow | undefined {
		this.roll(record);
		const explicit = record.usage.primary;
		if (explicit === null) return undefined;
		if (explicit) return this.resolve(explicit, this.windowEnd(record), record.windowMs);
		const derived = Number.isFinite(record.quota) ? (record.quota > 0 ? (record.spent / record.quota) * 100 : 100) : 0;
		return { usedPercent: Math.min(100, derived), resetsAt: this.windowEnd(record), windowMs: record.windowMs };
	}

	secondary(record: AccountRecord): ResolvedWindow | undefined {
		const explicit = record.usage.secondary;
		if (explicit === null) return undefined;
		if (explicit) return this.resolve(explicit, this.now() + (explicit.windowMs ?? SEVEN_DAYS_MS), SEVEN_DAYS_MS);
		return { usedPercent: 0, resetsAt: this.now() + SEVEN_DAYS_MS, windowMs: SEVEN_DAYS_MS };
	}

	resolve(window: FakeUsageWindow, defaultResetsAt: number, defaultWindowMs: number): ResolvedWindow {
		return {
			usedPercent: window.usedPercent,
			resetsAt: window.resetsAt ?? defaultResetsAt,
			windowMs: window.windowMs ?? defaultWindowMs,
		};
	}

	/**
	 * One inference call. Refused when the quota is spent or an explicit usage knob shows a window
	 * at 100 %; `resetsAt` is when the blocking window ends.
	 */
	spend(record: AccountRecord): { ok: true } | { ok: false; resetsAt: number; window: "primary" | "secondary" } {
		this.roll(record);
		if (record.spent >= record.quota) return { ok: false, resetsAt: this.windowEnd(record), window: "primary" };
		const primary = record.usage.primary ? this.primary(record) : undefined;
		if (primary && primary.usedPercent >= 100) return { ok: false, resetsAt: primary.resetsAt, window: "primary" };
		const secondary = record.usage.secondary ? this.secondary(record) : undefined;
		if (secondary && secondary.usedPercent >= 100) {
			return { ok: false, resetsAt: secondary.resetsAt, window: "secondary" };
		}
		if (record.windowStart === undefined) record.windowStart = this.now();
		record.spent += 1;
		record.inferences += 1;
		return { ok: true };
	}

	/** Codex saved-reset redemption, idempotent on `redeemRequestId`. */
	consumeReset(record: AccountRecord, creditId: string, redeemRequestId: string): { status: number; code: string } {
		const previous = record.redeemed.get(redeemRequestId);
		if (previous) return previous;
		const credit = record.credits.find((c) => c.id === creditId);
		let outcome: { status: number; code: string };
		if (!credit) outcome = { status: 409, code: "no_credit" };
		else if (credit.status === "redeemed") outcome = { status: 409, code: "already_redeemed" };
		else {
			const primary = this.primary(record)?.usedPercent ?? 0;
			const secondary = this.secondary(record)?.usedPercent ?? 0;
			if (primary <= 0 && secondary <= 0) outcome = { status: 409, code: "nothing_to_reset" };
			else {
				credit.status = "redeemed";
				credit.redeemedAt = this.now();
				record.spent = 0;
				record.windowStart = undefined;
				if (record.usage.primary) record.usage.primary = { ...record.usage.primary, usedPercent: 0 };
				if (record.usage.secondary) record.usage.secondary = { ...record.usage.secondary, usedPercent: 0 };
				outcome = { status: 200, code: "reset" };
			}
		}
		record.redeemed.set(redeemRequestId, outcome);
		return outcome;
	}

	clear(): void {
		this.accountsById.clear();
		this.refreshTokens.clear();
		this.accessTokens.clear();
		this.apiKeys.clear();
		this.authCodes.clear();
		this.deviceCodes.clear();
		this.perProvider.clear();
		this.ordinal = 0;
	}
}

function invalidGrant(description: string): GrantOutcome {
	return { ok: false, error: "invalid_grant", description };
}

function defaultAccountId(provider: string, n: number): string | undefined {
	switch (provider) {
		case "anthropic":
		case "openai-codex":
			return randomUUID();
		case "github-copilot":
			return `octocat${n}`;
		case "kimi-code":
			return `kimi-user-${n}`;
		default:
			return undefined;
	}
}

function accountView(record: AccountRecord): FakeAccount {
	return {
		get id() {
			return record.id;
		},
		get provider() {
			return record.provider;
		},
		get type() {
			return record.type;
		},
		get email() {
			return record.email;
		},
		get accountId() {
			return record.accountId;
		},
		get projectId() {
			return record.projectId;
		},
		get plan() {
			return record.plan;
		},
		get refreshToken() {
			return record.refreshToken;
		},
		get accessToken() {
			return record.accessToken;
		},
		get expiresAt() {
			return record.expiresAt;
		},
		get apiKey() {
			return record.apiKey;
		},
		get credential(): FakeCredential {
			if (record.type === "api_key") return { type: "api_key", key: record.apiKey ?? record.accessToken };
			const credential: FakeCredential = {
				type: "oauth",
				access: record.accessToken,
				refresh: record.refreshToken,
				expires: record.expiresAt,
			};
			if (record.accountId !== undefined) credential.accountId = record.accountId;
			if (record.email !== undefined) credential.email = record.email;
			if (record.projectId !== undefined) credential.projectId = record.projectId;
			return credential;
		},
	};
}
