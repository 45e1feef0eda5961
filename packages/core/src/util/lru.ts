/**
 * A bounded map with least-recently-used eviction (keeps per-session state bounded).
 */
export class LruMap<K, V> {
	readonly #map = new Map<K, V>();
	readonly #max: number;

	constructor(maxEntries: number) {
		if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
		this.#max = maxEntries;
	}

	get size(): number {
		return this.#map.size;
	}

	get(key: K): V | undefined {
		const value = this.#map.get(key);
		if (value === undefined) return undefined;
		// Re-insert to mark as most recently used.
		this.#map.delete(key);
		this.#map.set(key, value);
		return value;
	}

	/** Read without touching recency. */
	peek(key: K): V | undefined {
		return this.#map.get(key);
	}

	has(key: K): boolean {
		return this.#map.has(key);
	}

	set(key: K, value: V): this {
		if (this.#map.has(key)) this.#map.delete(key);
		this.#map.set(key, value);
		if (this.#map.size > this.#max) {
			const oldest = this.#map.keys().next();
			if (!oldest.done) this.#map.delete(oldest.value);
		}
		return this;
	}

	delete(key: K): boolean {
		return this.#map.delete(key);
	}

	clear(): void {
		this.#map.clear();
	}

	keys(): IterableIterator<K> {
		return this.#map.keys();
	}

	entries(): IterableIterator<[K, V]> {
		return this.#map.entries();
	}
}
