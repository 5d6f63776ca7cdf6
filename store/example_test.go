package store_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/walbatch/walbatch/store"
)

// A running process mounts Handler on a protected listener (loopback
// here) so that operators can read its WAL's stats and take a consistent
// copy with `walctl snapshot URL -o FILE`, while it keeps writing.
func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "events.wal"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	mux := http.NewServeMux()
	mux.Handle("/debug/wal/", http.StripPrefix("/debug/wal", store.Handler(db, nil)))
	srv := httptest.NewServer(mux) // in a service: an http.Server on 127.0.0.1
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/debug/wal/stats")
	if err != nil {
		fmt.Println(err)
		return
	}
	var stats struct {
		FormatVersion uint64 `json:"format_version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	fmt.Println("format version", stats.FormatVersion)

	resp, err = http.Get(srv.URL + "/debug/wal/snapshot")
	if err != nil {
		fmt.Println(err)
		return
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("snapshot is the whole file:", n == resp.ContentLength)
	// Output:
	// format version 2
	// snapshot is the whole file: true
}

// Snapshot copies a WAL that is open for writing; the copy opens like the
// file itself, read-only commands included.
func ExampleDB_Snapshot() {
	dir, _ := os.MkdirTemp("", "walbatch")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "events.wal"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	var buf bytes.Buffer
	if _, err := db.Snapshot(&buf); err != nil {
		fmt.Println(err)
		return
	}
	copyPath := filepath.Join(dir, "copy.wal")
	_ = os.WriteFile(copyPath, buf.Bytes(), 0o600)
	cp, err := store.Open(copyPath, &store.Options{ReadOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cp.Close()
	fmt.Println("same file ID:", cp.Info().FileID == db.Info().FileID)
	// Output:
	// same file ID: true
}
