export * from "./constants";
export { buildOpenApiDocument } from "./openapi";
export * from "./schemas";
export { encodeSseFrame, parseCapabilities, parseStreamFrame, type RawSseEvent, SseParser } from "./sse";
