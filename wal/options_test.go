package wal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/walbatch/walbatch/store"
)

// An unknown Sync value was taken silently (as SyncAlways, since only
// SyncNone turns fsync off): Open and New refuse it, and Open creates no
// file.
func TestUnknownSyncModeIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.wal")
	for _, m := range []SyncMode{-1, 2, 99} {
		l, err := Open(path, &Options{Sync: m})
		if !errors.Is(err, ErrInvalidOptions) {
			if l != nil {
				_ = l.Close()
			}
			t.Fatalf("Open with Sync %s: %v, want ErrInvalidOptions", m, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open with Sync %s left a file: %v", m, err)
		}
	}
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := New(db, &Options{Sync: 7}); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("New with Sync 7: %v, want ErrInvalidOptions", err)
	}
	l, err := New(db, &Options{Sync: SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
