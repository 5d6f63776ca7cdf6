package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
)

// TestClassification is the table of doc.go: which produce errors
// dead-letter their event and which are retried.
func TestClassification(t *testing.T) {
	permanent := []error{
		kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTimestamp,
		kerr.InvalidTopicException, kerr.PolicyViolation, kerr.TopicAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.TransactionalIDAuthorizationFailed,
		kerr.UnsupportedForMessageFormat, kerr.InvalidRequiredAcks,
		fmt.Errorf("wrapped: %w", kerr.MessageTooLarge),
	}
	retryable := []error{
		kerr.NotLeaderForPartition, kerr.LeaderNotAvailable, kerr.RequestTimedOut, kerr.NotEnoughReplicas,
		kerr.NotEnoughReplicasAfterAppend, kerr.UnknownTopicOrPartition, kerr.NetworkException,
		kerr.BrokerNotAvailable, kerr.KafkaStorageError, kerr.CorruptMessage, kerr.FencedLeaderEpoch,
		// kerr says not retriable, but they concern the session or the broker:
		kerr.UnknownServerError, kerr.OutOfOrderSequenceNumber, kerr.DuplicateSequenceNumber,
		kerr.InvalidProducerEpoch, kerr.InvalidProducerIDMapping, kerr.UnknownProducerID,
		kerr.OperationNotAttempted, kerr.ReassignmentInProgress, kerr.RebootstrapRequired,
		// the client's own give-ups
		kgo.ErrRecordTimeout, kgo.ErrRecordRetries, kgo.ErrMaxBuffered, kgo.ErrAborting, kgo.ErrClientClosed,
		fmt.Errorf("%w, last err: %w", kgo.ErrRecordTimeout, kerr.NotLeaderForPartition),
		// network and context
		&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
		io.EOF, io.ErrUnexpectedEOF, context.Canceled, context.DeadlineExceeded,
		errors.New("something the sink does not know"),
	}
	r := &kgo.Record{Topic: "t", Partition: 2}
	for _, err := range permanent {
		require.True(t, IsPermanent(err), "%v", err)
		out := outcome(r, err)
		require.True(t, dispatcher.IsPermanent(out), "%v", err)
		require.ErrorIs(t, out, err)
		require.ErrorContains(t, out, "topic t partition 2")
	}
	for _, err := range retryable {
		require.False(t, IsPermanent(err), "%v", err)
		out := outcome(r, err)
		require.False(t, dispatcher.IsPermanent(out), "%v", err)
		require.ErrorIs(t, out, err)
	}
	require.False(t, IsPermanent(nil))
	require.NoError(t, outcome(r, nil))
	var nilKerr *kerr.Error
	require.False(t, IsPermanent(nilKerr))

	// Every kerr code the sink calls permanent is one kerr marks not
	// retriable: the sink never overrides kerr towards dead letters.
	for code := int16(-1); code < 200; code++ {
		ke, ok := kerr.ErrorForCode(code).(*kerr.Error)
		if !ok || ke == nil {
			continue
		}
		if IsPermanent(ke) {
			require.False(t, ke.Retriable, ke.Message)
		}
	}
}
