package dispatcher

import (
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

func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, seed := range []string{"0", "120", "-1", "99999999999999999999", "Sun, 01 Mar 2026 12:01:00 GMT",
		"Sunday, 01-Mar-26 12:00:30 GMT", "Sun Mar  1 12:00:45 2026", "", "x", "1e3"} {
		f.Add(seed)
	}
	const limit = time.Hour
	f.Fuzz(func(t *testing.T, in string) {
		d, ok := parseRetryAfter(in, now, limit)
		if d < 0 || d > limit {
			t.Fatalf("parseRetryAfter(%q) = %s, out of [0, %s]", in, d, limit)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %s but not ok", in, d)
		}
	})
}
