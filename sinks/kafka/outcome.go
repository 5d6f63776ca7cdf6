package kafka

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/internal/errwalk"
)

// IsPermanent reports whether a record's produce error is one that
// producing the same record again cannot fix, so its event is dead-lettered
// rather than retried. It follows kerr's classification: a Kafka error code
// is permanent when kerr marks it not retriable (MESSAGE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE, INVALID_RECORD, INVALID_TIMESTAMP,
// INVALID_TOPIC_EXCEPTION, POLICY_VIOLATION, TOPIC_AUTHORIZATION_FAILED,
// CLUSTER_AUTHORIZATION_FAILED, ...), except the codes in sessionCodes,
// which concern the producer's session or the broker rather than the
// record. Everything else is retryable: retriable codes (NOT_LEADER_FOR_PARTITION,
// REQUEST_TIMED_OUT, LEADER_NOT_AVAILABLE, NOT_ENOUGH_REPLICAS,
// UNKNOWN_TOPIC_OR_PARTITION, ...), network errors, the client's own
// give-ups (kgo.ErrRecordTimeout, kgo.ErrRecordRetries,
// kgo.ErrMaxBuffered, kgo.ErrAborting, kgo.ErrClientClosed), an ended
// context, and any error the sink does not know. A nil err is not
// permanent.
//
// Like dispatcher.IsPermanent, it looks for the *kerr.Error among the
// first 64 errors of err's tree only (in errors.As order, each Unwrap
// called once), and an Unwrap or As method that panics counts as not
// finding one: it always returns, and never panics.
func IsPermanent(err error) bool {
	ke, ok := errwalk.As[*kerr.Error](errwalk.Tree(err))
	if !ok || ke == nil {
		return false
	}
	return !ke.Retriable && !sessionCodes[ke.Code]
}

// sessionCodes are Kafka error codes kerr marks not retriable that say
// nothing about the record: the producer's idempotent session was reset or
// fenced, or the broker failed in a way of its own. A later attempt (after
// the client reset its producer ID, or another broker took over) can
// succeed, so their events are retried, not dead-lettered.
var sessionCodes = map[int16]bool{
	kerr.UnknownServerError.Code:       true,
	kerr.OperationNotAttempted.Code:    true,
	kerr.OutOfOrderSequenceNumber.Code: true,
	kerr.DuplicateSequenceNumber.Code:  true,
	kerr.InvalidProducerEpoch.Code:     true,
	kerr.InvalidProducerIDMapping.Code: true,
	kerr.UnknownProducerID.Code:        true,
	kerr.ReassignmentInProgress.Code:   true,
	kerr.RebootstrapRequired.Code:      true,
}

// outcome turns one record's produce result into its event's outcome: nil
// when the log acknowledged it, else an error naming the topic and
// partition, permanent when IsPermanent says so and retryable otherwise.
func outcome(r *kgo.Record, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("kafka: topic %s partition %d: %w", r.Topic, r.Partition, err)
	if IsPermanent(err) {
		return dispatcher.Permanent(err)
	}
	return err
}
