package main

import (
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	walformat "github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/safetext"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/wal"
)

// hostile is text that drives a terminal: SGR colour, an OSC 8 hyperlink,
// a one-character C1 CSI, a bidi override, NUL and invalid UTF-8.
const hostile = "\x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ \u009b2J \u202egnp.exe \x00 \xff\xfe"

// hostileFixture is a WAL whose stream name (written as an older version
// could), batch keys, dead reason and last error all hold hostile text:
// events 1 in flight (failed once), 2 dead-lettered, 3 pending.
func hostileFixture(t *testing.T) *fixture {
	t.Helper()
	name := "orders" + hostile
	f := &fixture{path: filepath.Join(t.TempDir(), "hostile.wal"), uids: map[string]string{}}
	l, err := wal.Open(f.path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	_, err = l.Stream(name)
	require.ErrorIs(t, err, wal.ErrInvalidName, "a new stream cannot get such a name")
	require.NoError(t, storetx.Update(l.Store(), func(tx *bolt.Tx) error {
		rs, err := walformat.CreateRawStream(tx, name)
		if err != nil {
			return err
		}
		if err := rs.PutUID([8]byte{0xe5, 0xca, 0xbe, 1, 2, 3, 4, 5}); err != nil {
			return err
		}
		return rs.PutState(walformat.State{NextSeq: 1, NextBatch: 1, Created: time.Now().UnixNano()})
	}))
	require.NoError(t, l.Close())
	l, err = wal.Open(f.path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	s, err := l.Stream(name)
	require.NoError(t, err, "a stream an older version created is still opened")
	_, err = s.AppendMany([]wal.Entry{
		{Key: "k1" + hostile, Payload: mp(t, map[string]any{"note": hostile})},
		{Key: "k2" + hostile, Payload: mp(t, hostile)},
		{Key: "k3" + hostile, Payload: []byte(hostile)},
	})
	require.NoError(t, err)
	seal := func() *wal.Batch {
		res, err := s.Seal(wal.SealOptions{MaxEvents: 1, Force: true})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		return res.Batch
	}
	b1 := seal()
	_, err = s.Retry(b1.Seq, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "last error "+hostile)
	require.NoError(t, err)
	b2 := seal()
	require.NoError(t, s.DeadLetter(b2.Seq, "dead reason "+hostile, true))
	f.oldest = s.Stats().OldestPending
	uid := s.UID()
	f.uids["hostile"] = hex.EncodeToString(uid[:]) // the placeholder normalize writes for it
	id := l.Store().Info().FileID
	f.fileID = hex.EncodeToString(id[:])
	require.NoError(t, l.Close())
	return f
}

// requireTerminalSafe fails if out holds a byte that is not valid UTF-8 or
// a control or bidi character other than newline and tab.
func requireTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if r == utf8.RuneError && !strings.HasPrefix(out[i:], "\ufffd") {
			t.Fatalf("%s: invalid UTF-8 at byte %d: %q", what, i, out)
		}
		if safetext.Unsafe(r) && r != '\n' && r != '\t' {
			t.Fatalf("%s: raw %U at byte %d: %q", what, r, i, out)
		}
	}
}

var hostileCommands = [][]string{
	{"stats"}, {"ls"}, {"ls", "--batches"}, {"dump"}, {"dump", "--raw"}, {"batches"}, {"dead"}, {"verify"},
}

func TestHostileTextIsEscapedInEveryOutput(t *testing.T) {
	f := hostileFixture(t)
	now := f.oldest.Add(90 * time.Second)
	for _, args := range hostileCommands {
		for _, format := range []string{"table", "json"} {
			name := strings.ReplaceAll(strings.Join(args, "_"), "--", "") + "_" + format
			t.Run(name, func(t *testing.T) {
				r := walctlAt(t, now, append(append([]string{}, args...), f.path, "-o", format)...)
				require.Equal(t, 0, r.code, "stderr: %q", r.stderr)
				requireTerminalSafe(t, "stdout", r.stdout)
				requireTerminalSafe(t, "stderr", r.stderr)
				if format == "table" {
					golden(t, "hostile_"+name, f.normalize(r.stdout))
				}
			})
		}
	}
}

// JSON output stays valid and means the same: the escapes added for the
// terminal are JSON escapes of the same characters.
func TestHostileTextInJSONDecodesToTheStoredText(t *testing.T) {
	f := hostileFixture(t)
	// encoding/json writes U+FFFD for each invalid byte, as strings.Map reads them.
	valid := strings.Map(func(r rune) rune { return r }, hostile)
	r := walctl(t, "dead", f.path, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var dead []deadRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &dead))
	require.Len(t, dead, 1)
	require.Equal(t, "orders"+valid, dead[0].Stream)
	require.Equal(t, "dead reason "+valid, dead[0].Reason)
	require.Equal(t, "k2"+valid, dead[0].Key)

	r = walctl(t, "batches", f.path, "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var batches []batchRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &batches))
	require.Len(t, batches, 1)
	require.Equal(t, "last error "+valid, batches[0].LastError)
	require.Equal(t, "k1"+valid, batches[0].Key)

	r = walctl(t, "dump", f.path)
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	var first struct {
		Payload map[string]string `json:"payload"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, valid, first.Payload["note"])
}

// A table cell shows hostile text quoted with Go escapes, and unquoting it
// gives the stored text back.
func TestHostileTextInTableIsQuoted(t *testing.T) {
	f := hostileFixture(t)
	r := walctl(t, "batches", f.path)
	require.Equal(t, 0, r.code, r.stderr)
	want := `"last error \x1b[31mred\x1b[0m \x1b]8;;http://evil.example/\x1b\\link\x1b]8;;\x1b\\ \u009b2J \u202egnp.exe \x00 \xff\xfe"`
	require.Contains(t, r.stdout, want)
}

func TestHostileTextIsEscapedInErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing"+hostile, "x.wal")
	for _, args := range [][]string{{"stats", path}, {"verify", path}, {"dead", path, "--stream", "x" + hostile}} {
		r := walctl(t, args...)
		require.NotEqual(t, 0, r.code)
		require.NotEmpty(t, r.stderr)
		requireTerminalSafe(t, "stderr", r.stderr)
		requireTerminalSafe(t, "stdout", r.stdout)
	}
	f := hostileFixture(t)
	r := walctl(t, "dead", f.path, "--stream", "x"+hostile)
	require.Equal(t, exitError, r.code, r.stderr)
	requireTerminalSafe(t, "stderr", r.stderr)
	require.Contains(t, r.stderr, `no stream "x\x1b[31m`)
}
