// The admin dashboard: Preact + htm (one ES module served by the app), no build step.
import { html, render, useEffect, useRef, useState } from "/assets/vendor/htm-preact.js";

const TOKEN_KEY = "authpool.adminToken";
const COLORS = ["#0969da", "#1f883d", "#bf8700", "#8250df", "#cf222e", "#1b7c83", "#bc4c00", "#4d2d8c"];

function authHeaders(token) {
	return token ? { authorization: `Bearer ${token}` } : {};
}

async function api(path, token, init = {}) {
	const response = await fetch(path, { ...init, headers: { ...authHeaders(token), ...(init.headers ?? {}) } });
	let body = null;
	try {
		body = await response.json();
	} catch {
		body = null;
	}
	return { status: response.status, body };
}

function when(ms) {
	if (ms === undefined || ms === null) return "";
	const date = new Date(ms);
	const today = new Date().toDateString() === date.toDateString();
	return today ? date.toLocaleTimeString() : date.toLocaleString();
}

function percent(fraction) {
	return fraction === undefined || fraction === null ? "–" : `${Math.round(fraction * 100)}%`;
}

/** Reads an SSE response body (fetch, so the admin token travels in a header, never in the URL). */
async function readStream(response, onMessage, signal) {
	const reader = response.body.getReader();
	const decoder = new TextDecoder();
	let buffer = "";
	while (!signal.aborted) {
		const { value, done } = await reader.read();
		if (done) return;
		buffer += decoder.decode(value, { stream: true });
		let end = buffer.indexOf("\n\n");
		while (end >= 0) {
			const frame = buffer.slice(0, end);
			buffer = buffer.slice(end + 2);
			let name = "message";
			const data = [];
			for (const line of frame.split("\n")) {
				if (line.startsWith("event:")) name = line.slice(6).trim();
				else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
			}
			if (data.length > 0) onMessage(name, JSON.parse(data.join("\n")));
			end = buffer.indexOf("\n\n");
		}
	}
}

function Login({ onLogin, error }) {
	const [value, setValue] = useState("");
	const [busy, setBusy] = useState(false);
	const submit = async (event) => {
		event.preventDefault();
		setBusy(true);
		await onLogin(value.trim());
		setBusy(false);
	};
	return html`<form class="login" onSubmit=${submit} aria-label="Sign in">
		<h1>authpool broker</h1>
		<label for="token">Admin token</label>
		<input id="token" name="token" type="password" autocomplete="current-password" required value=${value}
			onInput=${(event) => setValue(event.currentTarget.value)} />
		${error ? html`<p class="error" role="alert" data-testid="login-error">${error}</p>` : null}
		<button class="primary" type="submit" disabled=${busy}>Sign in</button>
	</form>`;
}

function Quota({ quota }) {
	const fraction = Math.max(0, Math.min(1, quota.usedFraction ?? 0));
	const status =
		quota.status === "exhausted" || fraction >= 1
			? "exhausted"
			: quota.status === "warning" || fraction >= 0.8
				? "warning"
				: "";
	return html`<div class="quota" data-testid="quota">
		<div class="row"><span>${quota.label}${quota.windowLabel && quota.windowLabel !== quota.label ? ` · ${quota.windowLabel}` : ""}</span>
		<span>${percent(quota.usedFraction)}${quota.resetsAt ? ` · resets ${when(quota.resetsAt)}` : ""}</span></div>
		<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" aria-valuenow=${Math.round(fraction * 100)}>
			<span class=${status} style=${{ width: `${fraction * 100}%` }}></span>
		</div>
	</div>`;
}

function Account({ account }) {
	return html`<article class="card" data-testid="account" data-account-id=${account.id} data-state=${account.state}>
		<header>
			<span class="label">${account.label}</span>
			<span class=${`badge ${account.state}`} data-testid="state">${account.state}</span>
		</header>
		<div class="meta">#${account.id} · ${account.type === "oauth" ? "OAuth" : "API key"}${account.plan ? ` · ${account.plan}` : ""}${
			account.expiresAt ? ` · token until ${when(account.expiresAt)}` : ""
		}</div>
		${account.state === "blocked" ? html`<div class="meta" data-testid="blocked-until">blocked until ${when(account.blockedUntil)}</div>` : null}
		${account.state === "disabled" ? html`<div class="meta" data-testid="disabled-cause">disabled: ${account.disabledCause}</div>` : null}
		${account.quotas.map((quota) => html`<${Quota} key=${quota.id} quota=${quota} />`)}
		${account.quotas.length === 0 && account.state !== "disabled" ? html`<div class="meta">no usage report</div>` : null}
	</article>`;
}

/** Width of an element in CSS px, kept current (the chart draws in real pixels so its text stays legible). */
function useWidth(fallback) {
	const ref = useRef(null);
	const [width, setWidth] = useState(fallback);
	useEffect(() => {
		if (!ref.current) return undefined;
		const observer = new ResizeObserver(([entry]) => setWidth(Math.max(200, Math.floor(entry.contentRect.width))));
		observer.observe(ref.current);
		return () => observer.disconnect();
	}, [ref.current]);
	return [ref, width];
}

function HistoryChart({ points }) {
	const [ref, width] = useWidth(600);
	if (points.length === 0)
		return html`<div class="chart muted" data-testid="history" ref=${ref}>No usage history yet.</div>`;
	const series = new Map();
	for (const point of points) {
		if (point.usedFraction === undefined || point.usedFraction === null) continue;
		const key = `${point.provider} · ${point.account} · ${point.label}`;
		const id = `${point.provider}\n${point.credentialId ?? point.account}\n${point.limitId}`;
		if (!series.has(id)) series.set(id, { key, list: [] });
		series.get(id).list.push(point);
	}
	const all = [...series.values()].flatMap((entry) => entry.list);
	const minX = Math.min(...all.map((p) => p.recordedAt));
	const maxX = Math.max(...all.map((p) => p.recordedAt), minX + 1);
	const height = Math.round(Math.min(260, Math.max(160, width * 0.4)));
	const pad = { left: 34, right: 8, top: 8, bottom: 20 };
	const x = (t) => pad.left + ((t - minX) / (maxX - minX)) * (width - pad.left - pad.right);
	const y = (f) => pad.top + (1 - Math.max(0, Math.min(1, f))) * (height - pad.top - pad.bottom);
	const entries = [...series.values()].map((entry) => [entry.key, entry.list]);
	return html`<div class="chart" data-testid="history" ref=${ref}>
		<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="Usage history">
			${[0, 0.5, 1].map(
				(f) => html`<line class="axis" x1=${pad.left} x2=${width - pad.right} y1=${y(f)} y2=${y(f)} />
				<text x="2" y=${y(f) + 4}>${f * 100}%</text>`,
			)}
			<text x=${pad.left} y=${height - 4}>${when(minX)}</text>
			<text x=${width - pad.right} y=${height - 4} text-anchor="end">${when(maxX)}</text>
			${entries.map(
				(
					[key, list],
					index,
				) => html`<polyline key=${key} fill="none" stroke=${COLORS[index % COLORS.length]} stroke-width="2"
					points=${list.map((p) => `${x(p.recordedAt).toFixed(1)},${y(p.usedFraction).toFixed(1)}`).join(" ")} />
				${list.map((p) => html`<circle cx=${x(p.recordedAt)} cy=${y(p.usedFraction)} r="3" fill=${COLORS[index % COLORS.length]} />`)}`,
			)}
		</svg>
		<div class="legend">${entries.map(
			([key], index) =>
				html`<span key=${key}><i style=${{ background: COLORS[index % COLORS.length] }}></i>${key}</span>`,
		)}</div>
	</div>`;
}

function Events({ events }) {
	if (events.length === 0) return html`<p class="muted" data-testid="events">No events since the broker started.</p>`;
	return html`<ul class="events" data-testid="events">
		${events.map(
			(event) => html`<li key=${event.seq} data-kind=${event.kind}>
				<span class=${`kind ${event.kind}`}>${event.kind}</span>${event.provider} · ${event.label}
				${event.detail ? ` — ${event.detail}` : ""}${event.until ? ` (until ${when(event.until)})` : ""}
				<span class="muted"> · ${when(event.at)}</span>
			</li>`,
		)}
	</ul>`;
}

function Dashboard({ token, onLogout }) {
	const [state, setState] = useState(null);
	const [events, setEvents] = useState([]);
	const [history, setHistory] = useState([]);
	const [live, setLive] = useState(false);
	const stateRef = useRef(null);

	useEffect(() => {
		const controller = new AbortController();
		let retry;
		const loadSide = async () => {
			const [ev, hist] = await Promise.all([api("/api/events", token), api("/api/history", token)]);
			if (ev.status === 401 || hist.status === 401) return onLogout("Session expired: sign in again.");
			if (ev.body?.events) setEvents(ev.body.events.slice().reverse());
			if (hist.body?.points) setHistory(hist.body.points);
		};
		const connect = async () => {
			try {
				const response = await fetch("/api/stream", { headers: authHeaders(token), signal: controller.signal });
				if (response.status === 401) return onLogout("Session expired: sign in again.");
				if (!response.ok) throw new Error(`stream answered ${response.status}`);
				setLive(true);
				await readStream(
					response,
					(name, data) => {
						if (name === "state") {
							const refetchHistory = stateRef.current && stateRef.current.usageFetchedAt !== data.usageFetchedAt;
							stateRef.current = data;
							setState(data);
							if (refetchHistory) void loadSide();
						} else if (name === "event") {
							setEvents((list) => [data, ...list].slice(0, 200));
						}
					},
					controller.signal,
				);
			} catch {
				// Reconnect below; an abort means the view is going away.
			}
			setLive(false);
			if (!controller.signal.aborted) retry = setTimeout(connect, 2000);
		};
		void loadSide();
		void connect();
		return () => {
			controller.abort();
			clearTimeout(retry);
		};
	}, [token]);

	return html`<header class="top">
			<h1>authpool broker</h1>
			<span class=${`live ${live ? "on" : "off"}`} data-testid="live">${live ? "live" : "reconnecting"}</span>
			${token ? html`<button type="button" onClick=${() => onLogout()}>Sign out</button>` : null}
		</header>
		<main>
			${
				state === null
					? html`<p class="muted">Loading…</p>`
					: state.providers.length === 0
						? html`<p class="muted" data-testid="empty">No accounts stored yet.</p>`
						: state.providers.map(
								(provider) => html`<section key=${provider.id} data-testid="provider" data-provider=${provider.id}>
									<h2>${provider.id} <span class="muted">(${provider.accounts.filter((a) => a.state !== "disabled").length} active of ${provider.accounts.length})</span></h2>
									<div class="grid">${provider.accounts.map((account) => html`<${Account} key=${account.id} account=${account} />`)}</div>
								</section>`,
							)
			}
			<h2>Usage history</h2>
			<${HistoryChart} points=${history} />
			<h2>Recent refreshes, blocks and disables</h2>
			<${Events} events=${events} />
			${state?.usageFetchedAt ? html`<p class="muted">Usage fetched ${when(state.usageFetchedAt)}</p>` : null}
		</main>`;
}

function App() {
	const [phase, setPhase] = useState("checking");
	const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY) ?? "");
	const [error, setError] = useState("");

	useEffect(() => {
		void (async () => {
			// Ask /api/session only with a token to try (or when the app runs without tokens): a request
			// bound to fail would only put a 401 in the console.
			const health = await api("/healthz");
			if (!token && health.body?.auth !== "none") return setPhase("out");
			const { status } = await api("/api/session", token);
			if (status === 200) setPhase("in");
			else {
				if (token) sessionStorage.removeItem(TOKEN_KEY);
				setToken("");
				setPhase("out");
			}
		})();
	}, []);

	const login = async (candidate) => {
		const { status } = await api("/api/session", candidate);
		if (status === 200) {
			sessionStorage.setItem(TOKEN_KEY, candidate);
			setToken(candidate);
			setError("");
			setPhase("in");
		} else {
			setError(status === 401 ? "Wrong admin token (401)." : `Sign-in failed (HTTP ${status}).`);
		}
	};
	const logout = (message = "") => {
		sessionStorage.removeItem(TOKEN_KEY);
		setToken("");
		setError(message);
		setPhase("out");
	};

	if (phase === "checking") return html`<p class="muted">Loading…</p>`;
	if (phase === "out") return html`<${Login} onLogin=${login} error=${error} />`;
	return html`<${Dashboard} token=${token} onLogout=${logout} />`;
}

render(html`<${App} />`, document.getElementById("app"));
