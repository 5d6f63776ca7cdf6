package walnats

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

var errTest = errors.New("test failure")

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func apiErr(code int, errCode jetstream.ErrorCode, desc string) error {
	return fmt.Errorf("nats: %w", &jetstream.APIError{Code: code, ErrorCode: errCode, Description: desc})
}

// The mapping of the errors a publish can end with, including those a
// single in-process server cannot produce (leadership changes, a cluster
// not ready, a stream offline).
func TestOutcomeMapping(t *testing.T) {
	retryable := []error{
		jetstream.ErrNoStreamResponse, nats.ErrNoResponders, nats.ErrTimeout, jetstream.ErrAsyncPublishTimeout,
		nats.ErrDisconnected, nats.ErrConnectionClosed, nats.ErrConnectionReconnecting, jetstream.ErrTooManyStalledMsgs,
		context.DeadlineExceeded, context.Canceled,
		apiErr(500, jsClusterNotLeader, "JetStream cluster can not handle request"),
		apiErr(503, jsClusterNotAvail, "JetStream system temporarily unavailable"),
		apiErr(500, jsStreamOffline, "stream is offline"),
		apiErr(409, jsDuplicateInProcess, "duplicate message id is in process"),
		apiErr(429, jsTooManyRequests, "too many requests"),
		apiErr(503, jsStreamStoreFailed, "maximum messages exceeded"),
		apiErr(400, jsAccountResourcesExceeded, "resource limits exceeded for account"),
		apiErr(500, jsStorageResourcesExceeded, "insufficient storage resources available"),
		apiErr(503, 19999, "a future transient error"),
		errTest,
	}
	permanent := []error{
		nats.ErrMaxPayload, nats.ErrBadSubject, fmt.Errorf("%w: Permissions Violation", nats.ErrPermissionViolation),
		ErrPermission, ErrSubject, ErrHeader, ErrBody,
		jetstream.ErrStreamMessageExceedsMaximum,
		apiErr(400, jsMessageExceedsMaximum, "message size exceeds maximum allowed"),
		apiErr(400, jsHeaderExceedsMaximum, "header size exceeds maximum allowed of 64k"),
		apiErr(400, jsStreamNotMatch, "expected stream does not match"),
		apiErr(400, jsStreamSealed, "invalid operation on sealed stream"),
		apiErr(503, jsStreamStoreFailed, "message too large"),
		apiErr(400, 19998, "a future client error"),
	}
	for _, err := range retryable {
		got := outcome(publishError("e1", "s", err))
		require.False(t, dispatcher.IsPermanent(got), "%v", err)
		require.ErrorIs(t, got, err)
	}
	for _, err := range permanent {
		got := outcome(publishError("e1", "s", err))
		require.True(t, dispatcher.IsPermanent(got), "%v", err)
		require.ErrorIs(t, got, err)
	}
	require.NoError(t, outcome(nil))
}
