package store

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// HandlerOptions configures Handler. A nil *HandlerOptions means the
// defaults.
type HandlerOptions struct {
	// Streams, when set, is called for each GET /stats and its result is
	// added to the response under "streams", encoded with encoding/json
	// (for example a []processor.Stats or []wal.Stats, whose keys are
	// snake_case like walctl's JSON, durations in seconds). It must be safe
	// to call concurrently. Default: none.
	Streams func() any
}

// Handler returns an http.Handler that lets operators look at a WAL held
// open by a running process, without stopping it:
//
//	GET /stats     the file's size, free space, format version, creation
//	               time and ID as JSON (plus HandlerOptions.Streams)
//	GET /snapshot  a consistent copy of the whole file as of one moment,
//	               application/octet-stream, with its Content-Length
//
// Paths are relative to where the handler is mounted; use http.StripPrefix
// to mount it under a prefix. Other paths get 404, other methods 405.
// Writers go on during a snapshot; it holds a read transaction while it
// streams, so free pages are not reused until it ends. `walctl snapshot
// URL -o FILE` downloads one, and every read-only walctl command accepts
// the copy like a WAL.
//
// The handler exposes the file's contents to whoever can reach it: mount
// it on a loopback or otherwise protected listener.
func Handler(db *DB, opts *HandlerOptions) http.Handler {
	var o HandlerOptions
	if opts != nil {
		o = *opts
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		serveStats(w, db, o)
	})
	mux.HandleFunc("/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if !allowGet(w, r) {
			return
		}
		serveSnapshot(w, r, db)
	})
	return mux
}

func allowGet(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// httpStats is the JSON body of GET /stats.
type httpStats struct {
	Path          string    `json:"path"`
	SizeBytes     int64     `json:"size_bytes"`
	FreeBytes     int64     `json:"free_bytes"`
	PageSize      int       `json:"page_size"`
	FormatVersion uint64    `json:"format_version"`
	Created       time.Time `json:"created"`
	FileID        string    `json:"file_id"`
	Streams       any       `json:"streams,omitempty"`
}

func serveStats(w http.ResponseWriter, db *DB, o HandlerOptions) {
	fs, err := db.FileStats()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	info := db.Info()
	s := httpStats{
		Path: db.Path(), SizeBytes: fs.FileSize, FreeBytes: fs.FreeBytes, PageSize: fs.PageSize,
		FormatVersion: info.Version, Created: info.Created.UTC(), FileID: hex.EncodeToString(info.FileID[:]),
	}
	if o.Streams != nil {
		s.Streams = o.Streams()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s)
}

func serveSnapshot(w http.ResponseWriter, r *http.Request, db *DB) {
	started := false
	err := db.view(func(tx *bolt.Tx) error {
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(tx.Size(), 10))
		h.Set("Content-Disposition", `attachment; filename="walbatch-snapshot.wal"`)
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		started = true
		if r.Method == http.MethodHead {
			return nil
		}
		_, err := tx.WriteTo(w)
		return err
	})
	switch {
	case err == nil:
	case !started:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		// The status is out: abort the response so that the client sees a
		// short body, not a complete-looking damaged copy.
		panic(http.ErrAbortHandler)
	}
}
