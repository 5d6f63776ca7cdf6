package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readCommands are the read commands with golden output, by golden name.
var readCommands = []struct {
	name string
	args []string
}{
	{"stats", []string{"stats"}},
	{"stats_orders", []string{"stats", "--stream", "orders"}},
	{"ls", []string{"ls"}},
	{"ls_dead", []string{"ls", "--stream", "orders", "--state", "dead"}},
	{"ls_pending_limit", []string{"ls", "--state", "pending", "--limit", "3"}},
	{"ls_batches", []string{"ls", "--batches"}},
	{"dump", []string{"dump"}},
	{"dump_range", []string{"dump", "--stream", "orders", "--from", "3", "--to", "6"}},
	{"dump_raw_hex", []string{"dump", "--stream", "audit", "--raw", "--encoding", "hex"}},
	{"batches", []string{"batches"}},
	{"dead", []string{"dead"}},
	{"verify", []string{"verify"}},
}

func TestGoldenReadCommands(t *testing.T) {
	f := buildWAL(t)
	// Ages are measured from a clock 90 s after the oldest pending event.
	now := f.oldest.Add(90 * time.Second)
	for _, c := range readCommands {
		for _, format := range []string{"table", "json"} {
			t.Run(c.name+"_"+format, func(t *testing.T) {
				args := append(append([]string{}, c.args...), f.path, "-o", format)
				r := walctlAt(t, now, args...)
				require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
				require.Empty(t, r.stderr)
				golden(t, c.name+"_"+format, f.normalize(r.stdout))
			})
		}
	}
}

func TestReadCommandsLeaveFileUnchanged(t *testing.T) {
	f := buildWAL(t)
	before := hashFile(t, f.path)
	for _, c := range readCommands {
		for _, format := range []string{"table", "json"} {
			args := append(append([]string{}, c.args...), f.path, "-o", format)
			r := walctl(t, args...)
			require.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
			require.Equal(t, before, hashFile(t, f.path), "%v changed the file", args)
		}
	}
	// Refused changes leave it unchanged too.
	r := walctl(t, "purge", f.path, "--stream", "orders", "--state", "dead")
	require.Equal(t, exitUsage, r.code)
	require.Equal(t, before, hashFile(t, f.path))
}

func TestDumpDecodesPayloads(t *testing.T) {
	f := buildWAL(t)
	r := walctl(t, "dump", f.path, "--stream", "orders")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 6) // 3, 6, 7, 8 live; 4, 5 dead
	require.Contains(t, lines[0], `"payload":{"items":["a","b"],"order":3}`)
	require.Contains(t, lines[1], `"payload":{"note":"tab\there","order":6}`)
	require.Contains(t, lines[2], `"payload_error":"malformed msgpack: 9 bytes after the value"`)
	require.Contains(t, lines[4], `"blob":{"base64":"/wAQ"}`)
	require.Contains(t, lines[5], `"payload":{"5":"five"}`)
}
