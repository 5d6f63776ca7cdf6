// Package kafka is a walbatch sink for Apache Kafka, on franz-go's kgo
// client: a dispatcher.Dispatcher that produces one record per event and
// reports one outcome per event.
//
// It is its own Go module (github.com/walbatch/walbatch/sinks/kafka), so
// walbatch's core keeps bbolt and msgpack as its only dependencies.
//
// # Records
//
// Each event becomes one record on the sink's topic (or the topic
// WithTopicFunc returns for it):
//
//   - key: WithKey's, by default the event's batch key when it has one,
//     else none;
//   - value: WithValue's, by default the event's payload as the WAL stores
//     it;
//   - headers: walbatch-event-id (HeaderEventID) and walbatch-batch-id
//     (HeaderBatchID), then the event's own headers (processor
//     WithEventHeaders) sorted by name, except any named like the first two;
//   - timestamp: when it is produced (kgo's default).
//
// A batch is produced with one ProduceSync and Dispatch waits for every
// record's answer within its context. Records of one partition are written
// in the batch's order.
//
// # Outcomes
//
// Records on different partitions succeed or fail independently, so
// Dispatch returns dispatcher.PerEvent: acknowledged events complete,
// permanent failures dead-letter their own event with the reason, and the
// rest are retried under the same batch ID.
//
//	outcome     what the client reports
//	permanent   a Kafka error kerr marks not retriable: MESSAGE_TOO_LARGE,
//	            RECORD_LIST_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP,
//	            INVALID_TOPIC_EXCEPTION, POLICY_VIOLATION,
//	            TOPIC_AUTHORIZATION_FAILED, CLUSTER_AUTHORIZATION_FAILED, ...;
//	            a record larger than the client's ProducerBatchMaxBytes
//	            (kgo fails it with MESSAGE_TOO_LARGE before sending);
//	            no topic (ErrNoTopic), a WithValue error
//	retryable   a Kafka error kerr marks retriable: NOT_LEADER_FOR_PARTITION,
//	            LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS,
//	            UNKNOWN_TOPIC_OR_PARTITION, NETWORK_EXCEPTION, ...;
//	            the producer-session and broker codes kerr marks not
//	            retriable but that say nothing of the record
//	            (UNKNOWN_SERVER_ERROR, OUT_OF_ORDER_SEQUENCE_NUMBER,
//	            INVALID_PRODUCER_EPOCH, UNKNOWN_PRODUCER_ID, ...);
//	            network errors; kgo.ErrRecordTimeout, ErrRecordRetries,
//	            ErrMaxBuffered, ErrAborting, ErrClientClosed; the dispatch
//	            context ending before the log answered for the record (the
//	            records it acknowledged by then are delivered); anything else
//
// kgo itself retries retriable errors (a leader change, a timed-out
// request) inside one Dispatch until its RecordRetries or
// RecordDeliveryTimeout, or the processor's dispatch timeout, runs out;
// only then does the processor's retry schedule take over.
//
// # Delivery: at least once across a producer crash
//
// franz-go's idempotent producer (on by default) lets the broker drop a
// batch the client sends again, but only within one producer session: the
// producer ID and sequence numbers live in the client's memory. A process
// killed after Kafka wrote a batch and before the WAL marked it complete
// redelivers it on the next start from a new session, with a new producer
// ID, and Kafka stores it again. So every acknowledged event reaches the
// topic at least once, and a consumer drops the duplicates by the
// walbatch-event-id header (see the package example). The same holds for a
// Dispatch whose context ended while records were on the wire: they are
// retried and may be written twice.
package kafka
