package wal_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/walbatch/walbatch/wal"
)

// A WAL opened read-only (as walctl does) shows each stream's counters and
// events without changing the file. A file a running process holds is
// refused with store.ErrLocked: inspect a snapshot of it instead
// (store.DB.Snapshot, walctl snapshot).
func ExampleOpen_readOnly() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.wal")

	// A file with two events, as a processor would leave it.
	l, err := wal.Open(path, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, _ := l.Stream("orders")
	_, _ = s.Append("", []byte("first"))
	_, _ = s.Append("", []byte("second"))
	_ = l.Close()

	l, err = wal.Open(path, &wal.Options{ReadOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	for _, name := range l.Streams() {
		s, _ := l.Stream(name)
		st := s.Stats()
		fmt.Printf("%s: %d pending, %d bytes\n", name, st.PendingEvents, st.PendingBytes)
		_ = s.ForEachEvent(1, st.LastSeq, func(r wal.Record, err error) error {
			if err != nil {
				fmt.Println("damaged:", err) // a record failing its checksum
				return nil
			}
			fmt.Printf("  %d %s\n", r.Seq, r.Payload)
			return nil
		})
	}
	// Output:
	// orders: 2 pending, 11 bytes
	//   1 first
	//   2 second
}
