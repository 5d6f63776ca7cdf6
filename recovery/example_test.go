package recovery_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// Verify checks a file no process has open (or a snapshot of one) and
// lists what is wrong; `walctl verify` prints the same report.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.wal")
	l, err := wal.Open(path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := l.Stream("orders")
	_, _ = s.Append("", []byte("an event"))
	_ = l.Close()

	r, err := recovery.Verify(path, nil)
	if err != nil {
		fmt.Println(err) // the file cannot be opened: store.ErrLocked, ErrNotWAL, ...
		return
	}
	fmt.Println("ok:", r.OK(), "streams:", len(r.Streams))
	for _, p := range r.Problems {
		fmt.Println(p) // each problem; recovery.Repair fixes what it can
	}
	// Output:
	// ok: true streams: 1
}
