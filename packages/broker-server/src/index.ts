export {
	type Broker,
	type BrokerHandler,
	type BrokerHandlerOptions,
	type BrokerOptions,
	createBrokerHandler,
	startBroker,
} from "./broker";
export {
	BROKER_SCOPES,
	type BrokerPrincipal,
	type BrokerScope,
	type BrokerTokenSpec,
	type BrokerTokens,
	hashBrokerToken,
} from "./tokens";
