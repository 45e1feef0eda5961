/** The exact bytes of the committed `openapi.json` (shared by the writer script and the drift test). */
import { buildOpenApiDocument } from "./openapi";

export function openApiJson(): string {
	return `${JSON.stringify(buildOpenApiDocument(), null, "\t")}\n`;
}
