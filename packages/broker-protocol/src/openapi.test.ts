import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BROKER_ROUTES } from "./constants";
import { buildOpenApiDocument } from "./openapi";
import { openApiJson } from "./openapi-file";

describe("OpenAPI document", () => {
	it("matches the committed openapi.json (run `pnpm --filter @authpool/broker-protocol openapi` after a schema change)", () => {
		const committed = readFileSync(new URL("../openapi.json", import.meta.url), "utf8");
		// Compared as data: the committed file is Biome-formatted, the generator's output is not.
		expect(JSON.parse(committed)).toEqual(JSON.parse(openApiJson()));
	});

	it("describes every route of the protocol", () => {
		const paths = buildOpenApiDocument().paths as Record<string, Record<string, unknown>>;
		for (const route of Object.values(BROKER_ROUTES)) {
			expect(paths[route.path]?.[route.method.toLowerCase()], `${route.method} ${route.path}`).toBeDefined();
		}
		expect(buildOpenApiDocument().openapi).toBe("3.1.0");
	});

	it("keeps extension fields open and envelopes closed in the JSON Schema", () => {
		const schemas = (buildOpenApiDocument().components as { schemas: Record<string, Record<string, unknown>> }).schemas;
		expect(schemas.Snapshot?.additionalProperties).toBe(false);
		expect(schemas.UpsertRequest?.additionalProperties).toBe(false);
	});
});
