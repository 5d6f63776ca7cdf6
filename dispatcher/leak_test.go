package dispatcher

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run when any goroutine the tests started is still
// alive once every test is done: a leaked connection, server or request.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
