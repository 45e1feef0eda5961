export { adminQuery, dropSchema, randomSchema, recyclingSchemas, testPostgresUrl } from "./postgres";
export {
	dropPrefix,
	dumpPrefix,
	freePort,
	randomPrefix,
	startThrowawayRedis,
	type ThrowawayRedis,
	testRedisUrl,
} from "./redis";
