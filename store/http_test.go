package store

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

func openTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "h.wal"), &Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("data"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), bytes.Repeat([]byte("v"), 10000))
	}))
	return db
}

func TestHandlerStats(t *testing.T) {
	db := openTestDB(t)
	srv := httptest.NewServer(Handler(db, &HandlerOptions{Streams: func() any { return []string{"a", "b"} }}))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/stats")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got struct {
		Path          string   `json:"path"`
		SizeBytes     int64    `json:"size_bytes"`
		FormatVersion uint64   `json:"format_version"`
		FileID        string   `json:"file_id"`
		Streams       []string `json:"streams"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	fs, err := db.FileStats()
	require.NoError(t, err)
	require.Equal(t, db.Path(), got.Path)
	require.Equal(t, fs.FileSize, got.SizeBytes)
	require.Equal(t, FormatVersion, got.FormatVersion)
	require.Len(t, got.FileID, 16)
	require.Equal(t, []string{"a", "b"}, got.Streams)
}

func TestHandlerSnapshot(t *testing.T) {
	db := openTestDB(t)
	srv := httptest.NewServer(Handler(db, nil))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/snapshot")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/octet-stream", resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, strconv.Itoa(len(body)), resp.Header.Get("Content-Length"))

	// The copy opens read-only as a WAL with the same identity and data,
	// while the original is still open for writing.
	path := filepath.Join(t.TempDir(), "copy.wal")
	require.NoError(t, os.WriteFile(path, body, 0o600))
	cp, err := Open(path, &Options{ReadOnly: true})
	require.NoError(t, err)
	defer cp.Close()
	require.Equal(t, db.Info(), cp.Info())
	require.NoError(t, cp.view(func(tx *bolt.Tx) error {
		require.Len(t, tx.Bucket([]byte("data")).Get([]byte("k")), 10000)
		return nil
	}))

	// It is the same bytes as DB.Snapshot.
	var direct bytes.Buffer
	_, err = db.Snapshot(&direct)
	require.NoError(t, err)
	require.Equal(t, direct.Bytes(), body)
}

func TestHandlerMethodsAndPaths(t *testing.T) {
	db := openTestDB(t)
	h := Handler(db, nil)
	for _, c := range []struct {
		method, path string
		code         int
	}{
		{http.MethodPost, "/snapshot", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/stats", http.StatusMethodNotAllowed},
		{http.MethodGet, "/other", http.StatusNotFound},
		{http.MethodHead, "/snapshot", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		require.Equal(t, c.code, rec.Code, "%s %s", c.method, c.path)
		if c.method == http.MethodHead {
			require.Zero(t, rec.Body.Len())
			require.NotEmpty(t, rec.Header().Get("Content-Length"))
		}
	}
}

func TestHandlerClosedDB(t *testing.T) {
	db := openTestDB(t)
	h := Handler(db, nil)
	require.NoError(t, db.Close())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/snapshot", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
}

func TestHandlerSnapshotWhileWriting(t *testing.T) {
	db := openTestDB(t)
	srv := httptest.NewServer(Handler(db, nil))
	defer srv.Close()
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			err := db.update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("data")).Put([]byte(strconv.Itoa(i)), bytes.Repeat([]byte("w"), 500))
			})
			if err != nil {
				done <- err
				return
			}
		}
	}()
	dir := t.TempDir()
	for i := 0; i < 5; i++ {
		resp, err := http.Get(srv.URL + "/snapshot")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		path := filepath.Join(dir, strconv.Itoa(i)+".wal")
		require.NoError(t, os.WriteFile(path, body, 0o600))
		cp, err := Open(path, &Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, cp.view(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		}))
		require.NoError(t, cp.Close())
	}
	close(stop)
	require.NoError(t, <-done)
}
