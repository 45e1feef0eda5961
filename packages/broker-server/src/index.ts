export { type Broker, type BrokerOptions, startBroker } from "./broker";
export {
	BROKER_SCOPES,
	type BrokerPrincipal,
	type BrokerScope,
	type BrokerTokenSpec,
	type BrokerTokens,
	hashBrokerToken,
} from "./tokens";
