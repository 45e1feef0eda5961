/** A small Prometheus text renderer (exposition format 0.0.4); no client library needed. */

const LATENCY_BUCKETS_S = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
	return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function labelText(labels: Labels): string {
	const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
	return parts.length ? `{${parts.join(",")}}` : "";
}

const keyOf = (labels: Labels) => JSON.stringify(Object.entries(labels));

/** Counters and latency histograms the broker keeps while it runs. */
export class BrokerMetrics {
	readonly #counters = new Map<string, { help: string; values: Map<string, { labels: Labels; value: number }> }>();
	readonly #histograms = new Map<string, { labels: Labels; buckets: number[]; sum: number; count: number }>();

	count(name: string, help: string, labels: Labels, by = 1): void {
		let family = this.#counters.get(name);
		if (!family) {
			family = { help, values: new Map() };
			this.#counters.set(name, family);
		}
		const key = keyOf(labels);
		const entry = family.values.get(key);
		if (entry) entry.value += by;
		else family.values.set(key, { labels, value: by });
	}

	/** Record one request's latency (seconds) under `route` + `status`. */
	observeRequest(route: string, method: string, status: number, seconds: number): void {
		this.count("authpool_broker_requests_total", "Requests answered, by route and status.", {
			route,
			method,
			status: String(status),
		});
		const labels = { route, method };
		const key = keyOf(labels);
		let histogram = this.#histograms.get(key);
		if (!histogram) {
			histogram = { labels, buckets: LATENCY_BUCKETS_S.map(() => 0), sum: 0, count: 0 };
			this.#histograms.set(key, histogram);
		}
		for (let i = 0; i < LATENCY_BUCKETS_S.length; i += 1) {
			if (seconds <= LATENCY_BUCKETS_S[i]!) histogram.buckets[i]! += 1;
		}
		histogram.sum += seconds;
		histogram.count += 1;
	}

	/** Counters and histograms, then the caller's gauges (computed at scrape time). */
	render(gauges: GaugeFamily[]): string {
		const lines: string[] = [];
		for (const [name, family] of this.#counters) {
			lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} counter`);
			for (const { labels, value } of family.values.values()) lines.push(`${name}${labelText(labels)} ${value}`);
		}
		if (this.#histograms.size > 0) {
			const name = "authpool_broker_request_duration_seconds";
			lines.push(`# HELP ${name} Request latency by route.`, `# TYPE ${name} histogram`);
			for (const h of this.#histograms.values()) {
				LATENCY_BUCKETS_S.forEach((le, i) => {
					lines.push(`${name}_bucket${labelText({ ...h.labels, le: String(le) })} ${h.buckets[i]}`);
				});
				lines.push(`${name}_bucket${labelText({ ...h.labels, le: "+Inf" })} ${h.count}`);
				lines.push(`${name}_sum${labelText(h.labels)} ${h.sum}`, `${name}_count${labelText(h.labels)} ${h.count}`);
			}
		}
		for (const gauge of gauges) {
			if (gauge.samples.length === 0) continue;
			lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
			const seen = new Set<string>();
			for (const sample of gauge.samples) {
				const key = keyOf(sample.labels);
				// A duplicate series fails the whole scrape: keep the first.
				if (seen.has(key) || !Number.isFinite(sample.value)) continue;
				seen.add(key);
				lines.push(`${gauge.name}${labelText(sample.labels)} ${sample.value}`);
			}
		}
		return `${lines.join("\n")}\n`;
	}
}

export interface GaugeFamily {
	name: string;
	help: string;
	samples: { labels: Labels; value: number }[];
}
