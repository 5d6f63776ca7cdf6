package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// damageOrders changes the value of stream orders' sub-bucket sub that
// holds text (any value when text is "") with fn, through bbolt directly.
func damageOrders(t *testing.T, path, sub, text string, fn func(v []byte) []byte) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("streams")).Bucket([]byte("orders")).Bucket([]byte(sub))
		var key []byte
		require.NoError(t, b.ForEach(func(k, v []byte) error {
			if key == nil && bytes.Contains(v, []byte(text)) {
				key = append([]byte(nil), k...)
			}
			return nil
		}))
		require.NotNil(t, key, "no %s value holds %q", sub, text)
		return b.Put(key, fn(append([]byte(nil), b.Get(key)...)))
	}))
	require.NoError(t, db.Close())
}

// A flipped bit in a dead letter's reason and a completion record that does
// not decode: verify reports both (exit 3; it said OK about the first
// before records had field checksums), repair fixes both (it exited 3 on
// the second, unable to repair it), and verify is clean after.
func TestVerifyAndRepairDeadReasonAndCompletionDamage(t *testing.T) {
	f := buildWAL(t)
	damageOrders(t, f.path, "dead", "HTTP 400", func(v []byte) []byte {
		i := bytes.Index(v, []byte("HTTP 400"))
		v[i+5] ^= 0x01 // "400" -> "500": still a valid string
		return v
	})
	r := walctl(t, "verify", f.path)
	require.Equal(t, exitProblems, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "fail their checksum")

	damageOrders(t, f.path, "done", "", func([]byte) []byte { return []byte{0xc1} })
	r = walctl(t, "verify", f.path)
	require.Equal(t, exitProblems, r.code, r.stdout)
	require.Contains(t, r.stdout, "completion record")

	r = walctl(t, "repair", f.path)
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "dropped completion record")
	require.Contains(t, r.stdout, "reason now starts with corrupt")
	require.Contains(t, r.stdout, "verify after repair: OK")

	r = walctl(t, "verify", f.path)
	require.Equal(t, exitOK, r.code, r.stdout)
	// Both dead letters are still there, with their events.
	r = walctl(t, "dead", f.path, "--stream", "orders")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, id := range f.deadIDs {
		require.Contains(t, r.stdout, id)
	}
	require.Contains(t, r.stdout, "corrupt: dead-letter fields fail their checksum")
}
