/** Rewrites openapi.json from the schemas: `pnpm --filter @authpool/broker-protocol openapi`. */
import { writeFileSync } from "node:fs";
import { openApiJson } from "../src/openapi-file";

writeFileSync(new URL("../openapi.json", import.meta.url), openApiJson());
