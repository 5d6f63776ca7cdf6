package walnats

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

func TestSubjectTemplateErrors(t *testing.T) {
	for _, tmpl := range []string{
		"", "events.{", "events.}", "events.{{key}}", "events.{nope}", "events.{header:}",
		"events.{key|}", "events.*", "events.>", "events..x", "events x", ".events", "events.{key}.",
		"events.{key|*}", strings.Repeat("x", 1100),
	} {
		_, err := parseSubject(tmpl)
		require.ErrorIs(t, err, ErrInvalidOption, "template %q", tmpl)
	}
}

func TestSubjectTemplateRenders(t *testing.T) {
	e := &dispatcher.Event[ev]{Key: "k.1", Headers: map[string]string{"tenant": "acme"}}
	for tmpl, want := range map[string]string{
		"events":                              "events",
		"events.{stream}":                     "events.orders",
		"events.{stream}.{key}":               "events.orders.k.1",
		"e.{header:tenant}.{header:x|none}":   "e.acme.none",
		"{stream}-{key}":                      "orders-k.1",
		"x.{header:tenant|def}.{stream|none}": "x.acme.orders",
	} {
		s, err := parseSubject(tmpl)
		require.NoError(t, err, tmpl)
		got, err := subjectOf(s, "orders", e)
		require.NoError(t, err, tmpl)
		require.Equal(t, want, got, tmpl)
	}
	s, err := parseSubject("events.{header:missing}")
	require.NoError(t, err)
	_, err = subjectOf(s, "orders", e)
	require.ErrorIs(t, err, ErrSubject)
	require.Contains(t, err.Error(), `header "missing" is empty`)
}
