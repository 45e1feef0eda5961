export * from "./anthropic-env-keys";
export * from "./anthropic-limits";
export * from "./anthropic-oauth";
export * from "./anthropic-plugin";
export * from "./anthropic-ranking-strategy";
export * from "./anthropic-rate-limit-headers";
export * from "./anthropic-usage-provider";
