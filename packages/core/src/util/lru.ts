/**
 * A bounded map with approximately-least-recently-used eviction (keeps per-session state bounded).
 *
 * CLOCK, not a move-to-back LRU: a read only sets the entry's "used" mark, and eviction advances one
 * long-lived cursor over the insertion order, clearing marks and evicting the first unmarked entry.
 * A move-to-back LRU deletes and re-inserts on every read; in V8 a deleted entry stays in its hash
 * chain (and at the front of the iteration order) until the table is rebuilt, so re-reading a hot key
 * in a map of 10,000 entries cost ~24 µs per read and finding the oldest entry grew with every
 * eviction. Here a read is one lookup, and eviction is O(1) amortised (each cursor step clears a mark
 * a read set).
 */
interface Slot<V> {
	value: V;
	used: boolean;
}

export class LruMap<K, V> {
	readonly #map = new Map<K, Slot<V>>();
	readonly #max: number;
	/** The clock hand: a live iterator over the map (Map iterators follow later inserts and deletes). */
	#hand: Iterator<[K, Slot<V>]> | undefined;

	constructor(maxEntries: number) {
		if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError("maxEntries must be a positive integer");
		this.#max = maxEntries;
	}

	get size(): number {
		return this.#map.size;
	}

	/** Read, marking the entry recently used. */
	get(key: K): V | undefined {
		const slot = this.#map.get(key);
		if (slot === undefined) return undefined;
		slot.used = true;
		return slot.value;
	}

	/** Read without touching recency. */
	peek(key: K): V | undefined {
		return this.#map.get(key)?.value;
	}

	has(key: K): boolean {
		return this.#map.has(key);
	}

	/** Insert or replace; replacing marks the entry recently used. Past the bound, one entry is evicted. */
	set(key: K, value: V): this {
		const slot = this.#map.get(key);
		if (slot !== undefined) {
			slot.value = value;
			slot.used = true;
			return this;
		}
		this.#map.set(key, { value, used: false });
		if (this.#map.size > this.#max) this.#evictOne();
		return this;
	}

	delete(key: K): boolean {
		return this.#map.delete(key);
	}

	clear(): void {
		this.#map.clear();
		this.#hand = undefined;
	}

	keys(): IterableIterator<K> {
		return this.#map.keys();
	}

	*entries(): IterableIterator<[K, V]> {
		for (const [key, slot] of this.#map) yield [key, slot.value];
	}

	#evictOne(): void {
		// Every full lap clears every mark, so this ends within two laps.
		for (;;) {
			let step = this.#hand?.next();
			if (step === undefined || step.done) {
				this.#hand = this.#map.entries();
				step = this.#hand.next();
				if (step.done) return;
			}
			const [key, slot] = step.value;
			if (slot.used) slot.used = false;
			else {
				this.#map.delete(key);
				return;
			}
		}
	}
}
