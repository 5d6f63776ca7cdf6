package walnats

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/internal/errwalk"
)

// ErrInvalidOption is returned by New when an argument or an option is
// invalid; the wrapping error names it.
var ErrInvalidOption = errors.New("walnats: invalid option")

// ErrStream is returned by New and Check, wrapped, when the target stream
// cannot be used: it does not exist, or it sends no acknowledgements
// (NoAck), or its configuration could not be read.
var ErrStream = errors.New("walnats: unusable stream")

// ErrWindowShort is returned, wrapped, by Check when the processor's retry
// horizon is longer than the stream's duplicate window: a redelivery after
// the window is stored again, so the stream can hold an event twice.
var ErrWindowShort = errors.New("walnats: retry horizon longer than the stream's duplicate window")

// ErrSubject is an event's outcome, wrapped in a *dispatcher.PermanentError,
// when the subject template renders to no valid subject for it: an empty
// value without a default, a wildcard token, whitespace, or more than 1024
// bytes.
var ErrSubject = errors.New("walnats: invalid subject")

// ErrHeader is an event's outcome, wrapped in a *dispatcher.PermanentError,
// when one of its headers cannot be sent: a name that is not printable
// ASCII without ':', or one reserved for the server ("Nats-...") or for
// this dispatcher ("Walbatch-...").
var ErrHeader = errors.New("walnats: invalid event header")

// ErrBody is an event's outcome, wrapped in a *dispatcher.PermanentError,
// when the body function (WithBody) failed for it.
var ErrBody = errors.New("walnats: encoding the message body failed")

// ErrPermission is an event's outcome, wrapped in a
// *dispatcher.PermanentError, when the server refused the connection's
// publish to the event's subject (a permissions violation).
var ErrPermission = errors.New("walnats: publish permission denied")

// outcome maps the error of one event's publish to its outcome for the
// processor: permanent (the event goes to dead letters with its reason)
// when no retry can succeed, else retryable.
func outcome(err error) error {
	if err == nil {
		return nil
	}
	if permanent(err) {
		return dispatcher.Permanent(err)
	}
	return err
}

// permanent reports whether a publish that failed with err would fail the
// same way every time.
//
// Permanent: the message is larger than the server's max_payload or the
// stream's MaxMsgSize or header limit; the connection may not publish to
// the subject; the subject is bound to another stream than the one named
// (Nats-Expected-Stream), or to a sealed stream or a mirror; an invalid
// subject or header; and any other JetStream API error with a 4xx code,
// except those below.
//
// Retryable: no responders (no stream listens yet, or its leader is being
// elected), timeouts, a lost connection, leadership changes and a cluster
// that is not ready, a stream offline, too many requests, a message ID
// still in process, full storage or account limits (space can be freed),
// and anything not known to be permanent.
//
// err may hold the error of the user's body function (WithBody): its tree
// is walked once, at most 64 errors of it (internal/errwalk), so an
// Unwrap cycle or a method that panics there cannot hang or crash the
// dispatch.
func permanent(err error) bool {
	nodes := errwalk.Tree(err)
	is := func(targets ...error) bool {
		for _, t := range targets {
			if errwalk.Is(nodes, t) {
				return true
			}
		}
		return false
	}
	switch {
	case is(ErrPermission, ErrSubject, ErrHeader, ErrBody):
		return true
	case is(nats.ErrMaxPayload, nats.ErrPermissionViolation, nats.ErrBadSubject, nats.ErrInvalidMsg,
		nats.ErrHeadersNotSupported, nats.ErrBadHeaderMsg):
		return true
	case is(context.Canceled, context.DeadlineExceeded):
		return false
	}
	api, ok := errwalk.As[*jetstream.APIError](nodes)
	if !ok || api == nil {
		return false
	}
	switch api.ErrorCode {
	case jsMessageExceedsMaximum, jsHeaderExceedsMaximum, jsStreamNotMatch, jsStreamSealed, jsStreamMismatch:
		return true
	case jsStreamStoreFailed:
		// Storing failed: a stream at its limits with DiscardNew
		// (retryable) or a message too large for the file store.
		return strings.Contains(strings.ToLower(api.Description), "message too large")
	case jsClusterNotAvail, jsClusterNotLeader, jsClusterNotActive, jsClusterNotAssigned, jsClusterIncomplete,
		jsStreamOffline, jsNotEnabled, jsNotEnabledForAccount, jsInsufficientResources, jsAccountResourcesExceeded,
		jsStorageResourcesExceeded, jsMemoryResourcesExceeded, jsDuplicateInProcess, jsTooManyRequests,
		jsStreamSequenceNotMatch, jsExpectedLastSeqNotReady:
		return false
	}
	switch {
	case api.Code == 408 || api.Code == 409 || api.Code == 429:
		return false
	case api.Code >= 400 && api.Code < 500:
		return true
	}
	return false
}

// JetStream API error codes (err_code) that outcome names; the server's
// server/errors.json lists them all.
const (
	jsAccountResourcesExceeded jetstream.ErrorCode = 10002 // resource limits exceeded for account
	jsClusterIncomplete        jetstream.ErrorCode = 10004
	jsClusterNotActive         jetstream.ErrorCode = 10006
	jsClusterNotAssigned       jetstream.ErrorCode = 10007
	jsClusterNotAvail          jetstream.ErrorCode = 10008 // JetStream system temporarily unavailable
	jsClusterNotLeader         jetstream.ErrorCode = 10009 // JetStream cluster can not handle request
	jsInsufficientResources    jetstream.ErrorCode = 10023
	jsMemoryResourcesExceeded  jetstream.ErrorCode = 10028
	jsNotEnabledForAccount     jetstream.ErrorCode = 10039
	jsStorageResourcesExceeded jetstream.ErrorCode = 10047
	jsMessageExceedsMaximum    jetstream.ErrorCode = 10054 // message size exceeds maximum allowed
	jsStreamMismatch           jetstream.ErrorCode = 10056
	jsStreamNotMatch           jetstream.ErrorCode = 10060 // expected stream does not match
	jsStreamSequenceNotMatch   jetstream.ErrorCode = 10063
	jsNotEnabled               jetstream.ErrorCode = 10076
	jsStreamStoreFailed        jetstream.ErrorCode = 10077
	jsHeaderExceedsMaximum     jetstream.ErrorCode = 10097 // header size exceeds maximum allowed of 64k
	jsStreamSealed             jetstream.ErrorCode = 10109
	jsStreamOffline            jetstream.ErrorCode = 10118
	jsDuplicateInProcess       jetstream.ErrorCode = 10158 // duplicate message id is in process
	jsExpectedLastSeqNotReady  jetstream.ErrorCode = 10163
	jsTooManyRequests          jetstream.ErrorCode = 10167
)

// publishError says which event failed where.
func publishError(id, subj string, err error) error {
	return fmt.Errorf("walnats: event %s on %q: %w", id, subj, err)
}
