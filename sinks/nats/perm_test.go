package walnats

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

// A user who may publish to events.ok.> only: an event routed to
// events.secret is refused by the server with a permissions violation,
// which arrives only at the connection's error handler. It fails that
// event permanently at once (not after an ack timeout), the others are
// delivered, and the handler set before New still sees the error.
func TestPermissionViolationIsPermanent(t *testing.T) {
	s := startServer(t, func(o *server.Options) {
		o.Users = []*server.User{
			{Username: "admin", Password: "a"},
			{Username: "app", Password: "p", Permissions: &server.Permissions{
				Publish:   &server.SubjectPermission{Allow: []string{"events.ok.>", "$JS.API.>"}},
				Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>"}},
			}},
		}
	})
	_, admin := connect(t, s, nats.UserInfo("admin", "a"))
	createStream(t, admin, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"}})

	seen := make(chan error, 10)
	nc, _ := connect(t, s, nats.UserInfo("app", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		seen <- err
	}))
	d := newD(t, nc, "EVENTS", "events.{header:to}.{stream}")
	b := batchOf("b1", 0, 3)
	for i, to := range []string{"ok", "secret", "ok"} {
		b.Events[i].Headers = map[string]string{"to": to}
	}
	errs := outcomes(t, dispatch(t, d, b), 3)
	require.NoError(t, errs[0])
	require.True(t, dispatcher.IsPermanent(errs[1]), "%v", errs[1])
	require.ErrorIs(t, errs[1], ErrPermission)
	require.ErrorIs(t, errs[1], nats.ErrPermissionViolation)
	require.Contains(t, errs[1].Error(), `events.secret.orders`)
	require.NoError(t, errs[2])
	require.ErrorIs(t, <-seen, nats.ErrPermissionViolation)
	require.Len(t, storedMsgs(t, admin, "EVENTS"), 2)
}
