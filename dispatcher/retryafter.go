package dispatcher

import (
	"net/http"
	"strings"
	"time"
)

// parseRetryAfter reads an HTTP Retry-After value (RFC 9110, 10.2.3): either
// delay-seconds or an HTTP-date, taken relative to now. ok is false for an
// empty or malformed value, which callers ignore. A negative delay or a date
// in the past gives 0; a delay over limit is cut to limit.
func parseRetryAfter(v string, now time.Time, limit time.Duration) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, neg, isNum := parseDelaySeconds(v); isNum {
		if neg {
			return 0, true
		}
		if secs > int64(limit/time.Second) {
			return limit, true
		}
		return min(time.Duration(secs)*time.Second, limit), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		return 0, true
	}
	return min(d, limit), true
}

// parseDelaySeconds parses an optional '-' followed by one or more ASCII
// digits. The value saturates instead of overflowing.
func parseDelaySeconds(v string) (secs int64, neg, ok bool) {
	if v[0] == '-' {
		neg = true
		v = v[1:]
	}
	if v == "" {
		return 0, false, false
	}
	const saturate = int64(1) << 40
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false, false
		}
		if secs < saturate {
			secs = secs*10 + int64(c-'0')
		}
	}
	return secs, neg, true
}
