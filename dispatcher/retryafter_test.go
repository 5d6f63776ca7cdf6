package dispatcher

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"3600", time.Hour, true},
		{"3601", time.Hour, true},
		{"99999999999999999999999", time.Hour, true},
		{"-5", 0, true},
		{date(90 * time.Second), 90 * time.Second, true},
		{date(-time.Minute), 0, true},
		{date(48 * time.Hour), time.Hour, true},
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Sun Mar  1 12:00:45 2026", 45 * time.Second, true},       // ANSI C asctime
		{"", 0, false},
		{"   ", 0, false},
		{"-", 0, false},
		{"1.5", 0, false},
		{"+5", 0, false},
		{"5s", 0, false},
		{"0x10", 0, false},
		{"soon", 0, false},
		{"2026-03-01T12:00:30Z", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.in, now, time.Hour)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

// A huge Retry-After under a huge cap gives the cap, never a wrapped or
// negative delay: 9999999999 s is more nanoseconds than an int64 holds.
func TestParseRetryAfterNeverOverflows(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const maxDuration = time.Duration(math.MaxInt64)
	for _, tc := range []struct {
		in    string
		limit time.Duration
		want  time.Duration
	}{
		{"9999999999", maxDuration, maxDuration},
		{"9223372036", maxDuration, 9223372036 * time.Second},
		{"9223372037", maxDuration, maxDuration},
		{"99999999999999999999999999", maxDuration, maxDuration},
		{"9999999999", 100 * 365 * 24 * time.Hour, 100 * 365 * 24 * time.Hour},
		{"Fri, 31 Dec 9999 23:59:59 GMT", maxDuration, maxDuration},
		{"Mon, 01 Jan 0001 00:00:00 GMT", maxDuration, 0},
	} {
		got, ok := parseRetryAfter(tc.in, now, tc.limit)
		require.True(t, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

// FuzzParseRetryAfter checks that any value under any cap gives a delay in
// [0, cap], and 0 when the value is not understood.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{"0", "120", "-1", "99999999999999999999", "9999999999", "Sun, 01 Mar 2026 12:01:00 GMT",
		"Sunday, 01-Mar-26 12:00:30 GMT", "Sun Mar  1 12:00:45 2026", "Fri, 31 Dec 9999 23:59:59 GMT", "", "x", "1e3"} {
		for _, limit := range []int64{int64(time.Hour), math.MaxInt64, 1} {
			f.Add(seed, limit)
		}
	}
	f.Fuzz(func(t *testing.T, in string, limitNs int64) {
		limit := time.Duration(limitNs)
		if limit <= 0 {
			return // NewHTTP refuses it
		}
		d, ok := parseRetryAfter(in, now, limit)
		if d < 0 || d > limit {
			t.Fatalf("parseRetryAfter(%q, cap %s) = %s, out of [0, cap]", in, limit, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %s but not ok", in, d)
		}
	})
}
