package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/internal/safetext"
)

// format is the -o switch of read commands: a table for people, JSON for
// scripts.
type format string

const (
	formatTable format = "table"
	formatJSON  format = "json"
)

// addFormatFlag registers -o/--output on a read command, with def as the
// default.
func addFormatFlag(cmd *cobra.Command, f *format, def format) {
	*f = def
	cmd.Flags().VarP((*formatValue)(f), "output", "o", "output format: table or json")
}

type formatValue format

func (v *formatValue) String() string { return string(*v) }
func (v *formatValue) Type() string   { return "table|json" }
func (v *formatValue) Set(s string) error {
	switch format(s) {
	case formatTable, formatJSON:
		*v = formatValue(s)
		return nil
	}
	return fmt.Errorf("must be table or json, not %q", s)
}

// column is one column of a table: its header and how a row shows in it.
type column[T any] struct {
	name  string
	value func(T) string
}

// rows writes a list either as an aligned table or as a JSON array, one
// element at a time, so memory does not grow with the list.
type rows[T any] struct {
	f     format
	w     io.Writer
	cols  []column[T]
	tw    *tabwriter.Writer
	n     int
	ended bool
}

// tableFlushEvery bounds how many rows the tabwriter holds: columns are
// aligned within each block of this many rows.
const tableFlushEvery = 1000

func newRows[T any](w io.Writer, f format, cols []column[T]) *rows[T] {
	r := &rows[T]{f: f, w: w, cols: cols}
	if f == formatTable {
		r.tw = newTable(w)
	}
	return r
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
}

func (r *rows[T]) header() {
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i] = c.name
	}
	fmt.Fprintln(r.tw, strings.Join(names, "\t"))
}

// add writes one row.
func (r *rows[T]) add(v T) error {
	if r.f == formatJSON {
		b, err := json.MarshalIndent(v, "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n  "
		if r.n == 0 {
			sep = "[\n  "
		}
		r.n++
		_, err = fmt.Fprintf(r.w, "%s%s", sep, b)
		return err
	}
	if r.n%tableFlushEvery == 0 {
		if err := r.tw.Flush(); err != nil {
			return err
		}
		if r.n == 0 {
			r.header()
		}
	}
	r.n++
	vals := make([]string, len(r.cols))
	for i, c := range r.cols {
		vals[i] = cell(c.value(v))
	}
	_, err := fmt.Fprintln(r.tw, strings.Join(vals, "\t"))
	return err
}

// close ends the list; an empty table still gets its header.
func (r *rows[T]) close() error {
	if r.ended {
		return nil
	}
	r.ended = true
	if r.f == formatJSON {
		end := "\n]\n"
		if r.n == 0 {
			end = "[]\n"
		}
		_, err := io.WriteString(r.w, end)
		return err
	}
	if r.n == 0 {
		r.header()
	}
	return r.tw.Flush()
}

// cell makes a value safe for one table cell or plain line: a dash for
// empty, else the value as safetext.Escape shows it (quoted, with Go
// escapes, when it holds a control or bidi character, a tab or newline, or
// invalid UTF-8).
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return safetext.Escape(s)
}

// safeWriter is what commands write their stdout through: whatever reaches
// it, no control or bidi character (see internal/safetext) reaches the
// terminal. Tab and newline pass; every other unsafe character is written
// as \uHHHH, which inside a JSON string (the only place JSON output can
// hold one) is the same character, so JSON stays valid and means the same;
// a byte that is not valid UTF-8 is written as \xHH. Table cells are
// escaped before this (cell), so it changes only JSON and the plain lines
// that print a path. A character split across two writes is held until the
// next one; flush writes what is held.
type safeWriter struct {
	w    io.Writer
	held []byte // the start of a character the last write ended within
	buf  []byte
}

func (s *safeWriter) Write(p []byte) (int, error) {
	data := p
	if len(s.held) > 0 {
		data = append(s.held, p...)
		s.held = nil
	}
	out := s.buf[:0]
	for i := 0; i < len(data); {
		c := data[i]
		if c < utf8.RuneSelf {
			if c == '\t' || c == '\n' || !safetext.Unsafe(rune(c)) {
				out = append(out, c)
			} else {
				out = fmt.Appendf(out, `\u%04x`, c)
			}
			i++
			continue
		}
		if !utf8.FullRune(data[i:]) {
			s.held = append([]byte(nil), data[i:]...)
			break
		}
		r, n := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = fmt.Appendf(out, `\x%02x`, c)
		case safetext.Unsafe(r):
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, data[i:i+n]...)
		}
		i += n
	}
	s.buf = out
	if _, err := s.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flush writes the bytes of an incomplete character the last write ended
// with, as \xHH each.
func (s *safeWriter) flush() error {
	if len(s.held) == 0 {
		return nil
	}
	var out []byte
	for _, c := range s.held {
		out = fmt.Appendf(out, `\x%02x`, c)
	}
	s.held = nil
	_, err := s.w.Write(out)
	return err
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// timeLayout is how tables show instants: UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// fmtAge shows how long ago t was, to the second; "" for a zero t.
func fmtAge(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return ageOf(now, t).Round(time.Second).String()
}

func ageOf(now, t time.Time) time.Duration {
	if d := now.Sub(t); d > 0 {
		return d
	}
	return 0
}

// utc is how JSON output shows instants: RFC 3339 in UTC (fields carry the
// omitzero tag, so a zero time is left out).
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

func itoa[T ~int | ~int64 | ~uint64](v T) string { return fmt.Sprint(v) }
