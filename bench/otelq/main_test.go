package main

import (
	"testing"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// The queue set up as the bench does accepts what producers give it (whole
// calls only) and its consumers push it on; Shutdown returns.
func TestPersistentQueueRuns(t *testing.T) {
	r, err := run(scenario{producers: 4, perCall: 10}, t.TempDir(), 200*time.Millisecond, benchkit.NewPool(64))
	if err != nil {
		t.Fatal(err)
	}
	if r.Events == 0 || r.Events%10 != 0 {
		t.Fatalf("%d events acknowledged, want a positive multiple of 10", r.Events)
	}
	if d := int64(r.Extra["dispatched"]); d == 0 || d > r.Events {
		t.Fatalf("%d of %d events pushed", d, r.Events)
	}
}
