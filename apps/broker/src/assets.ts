/** The dashboard's static files: the app's own under public/, the UI library from node_modules. */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface Asset {
	body: Buffer;
	contentType: string;
}

const publicDir = fileURLToPath(new URL("../public/", import.meta.url));
const require = createRequire(import.meta.url);

/** URL path → file. Nothing else is served: no directory listing, no path joining of request input. */
const FILES: Record<string, { file: () => string; contentType: string }> = {
	"/": { file: () => `${publicDir}index.html`, contentType: "text/html; charset=utf-8" },
	"/assets/app.js": { file: () => `${publicDir}app.js`, contentType: "text/javascript; charset=utf-8" },
	"/assets/app.css": { file: () => `${publicDir}app.css`, contentType: "text/css; charset=utf-8" },
	"/assets/vendor/htm-preact.js": {
		// Preact + hooks + htm in one ES module, shipped by htm: no bundler and no CDN.
		file: () => join(dirname(require.resolve("htm")), "..", "preact", "standalone.module.js"),
		contentType: "text/javascript; charset=utf-8",
	},
};

export function isAssetPath(path: string): boolean {
	return Object.hasOwn(FILES, path);
}

const cache = new Map<string, Promise<Asset>>();

export function loadAsset(path: string): Promise<Asset> {
	const spec = FILES[path];
	if (!spec) throw new Error(`not an asset: ${path}`);
	let loaded = cache.get(path);
	if (!loaded) {
		loaded = readFile(spec.file()).then((body) => ({ body, contentType: spec.contentType }));
		loaded.catch(() => cache.delete(path));
		cache.set(path, loaded);
	}
	return loaded;
}
