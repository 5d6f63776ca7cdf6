package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

type dumpOptions struct {
	path     string
	stream   string
	from, to uint64
	raw      bool
	encoding string
	format   format
}

func newDumpCommand(e *env) *cobra.Command {
	var o dumpOptions
	cmd := &cobra.Command{
		Use:   "dump FILE",
		Short: "Print events with their payloads as NDJSON (read-only)",
		Long: `dump prints every event, one JSON object per line (NDJSON): stream, sequence
number, ID, state, enqueue time, key, size and the payload. Payloads are
decoded from msgpack to JSON (map keys become strings; byte strings become
text when they are UTF-8, else {"base64": "..."}); a payload that is not
msgpack, declares lengths past its end or nests arrays and maps more than
100 deep is printed encoded, with a payload_error field, and the dump goes
on. With --raw every
payload is printed as its bytes, encoded with --encoding.
Dead letters follow the live events of each stream, with their reason.
A record that fails its checksum prints a line with an "error" field and
the dump goes on.`,
		Example: `  walctl dump events.wal --stream orders --from 100 --to 200
  walctl dump events.wal --raw --encoding hex | head`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if o.encoding != "base64" && o.encoding != "hex" {
				return usageErrorf("--encoding must be base64 or hex, not %q", o.encoding)
			}
			if o.to != 0 && o.to < o.from {
				return usageErrorf("--to %d is before --from %d", o.to, o.from)
			}
			return o.run(e, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	cmd.Flags().Uint64Var(&o.from, "from", 0, "first sequence number")
	cmd.Flags().Uint64Var(&o.to, "to", 0, "last sequence number (0: no limit)")
	cmd.Flags().BoolVar(&o.raw, "raw", false, "print payloads as encoded bytes instead of decoding msgpack")
	cmd.Flags().StringVar(&o.encoding, "encoding", "base64", "encoding of raw payloads: base64 or hex")
	addFormatFlag(cmd, &o.format, formatJSON)
	return cmd
}

// dumpRecord is one line of dump output.
type dumpRecord struct {
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
	ID     string    `json:"id,omitempty"`
	State  string    `json:"state"`
	Time   time.Time `json:"time,omitzero"`
	Key    string    `json:"key"`
	Size   int       `json:"size"`
	// Headers are the event's headers; left out when it has none.
	Headers map[string]string `json:"headers,omitempty"`
	payloadFields
	Reason   string    `json:"reason,omitempty"`
	Batch    string    `json:"batch,omitempty"`
	Attempts int       `json:"attempts,omitempty"`
	DeadAt   time.Time `json:"dead_at,omitzero"`
	Error    string    `json:"error,omitempty"`
}

var dumpColumns = []column[dumpRecord]{
	{"STREAM", func(r dumpRecord) string { return r.Stream }},
	{"SEQ", func(r dumpRecord) string { return itoa(r.Seq) }},
	{"ID", func(r dumpRecord) string { return r.ID }},
	{"STATE", func(r dumpRecord) string { return r.State }},
	{"ENQUEUED", func(r dumpRecord) string { return fmtTime(r.Time) }},
	{"KEY", func(r dumpRecord) string { return r.Key }},
	{"PAYLOAD", func(r dumpRecord) string {
		switch {
		case r.Error != "":
			return "error: " + r.Error
		case r.Payload != nil:
			return string(r.Payload)
		case r.PayloadRaw == "":
			return ""
		case r.Codec != "":
			return r.Codec + " " + r.Encoding + ":" + r.PayloadRaw
		}
		return r.Encoding + ":" + r.PayloadRaw
	}},
}

func (o *dumpOptions) run(e *env, w io.Writer) error {
	l, err := openReadOnly(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	streams, err := streamsOf(l, o.stream)
	if err != nil {
		return err
	}
	p := startProgress(e, "dumping", "records")
	defer p.end()
	var out interface {
		add(dumpRecord) error
		close() error
	}
	if o.format == formatTable {
		out = newRows(w, formatTable, dumpColumns)
	} else {
		out = &ndjson{w: w}
	}
	for _, s := range streams {
		err := walkEvents(s, o.from, o.to, "", func(ev walkedEvent) error {
			p.add(1)
			return out.add(o.record(ev))
		})
		if err != nil {
			_ = out.close()
			return fmt.Errorf("stream %q: %w", s.Name(), err)
		}
	}
	return out.close()
}

// record builds the output line for one event.
func (o *dumpOptions) record(ev walkedEvent) dumpRecord {
	r := dumpRecord{Stream: ev.stream, Seq: ev.rec.Seq, State: ev.state}
	if d := ev.dead; d != nil {
		r.Reason, r.Batch, r.Attempts, r.DeadAt = d.Reason, d.BatchID, d.Attempts, utc(d.At)
	}
	if ev.err != nil {
		r.Error = oneLine(ev.err)
		if ev.raw != nil {
			r.Size = len(ev.raw)
			r.PayloadRaw, r.Encoding = encodeBytes(ev.raw, o.encoding), o.encoding
		}
		return r
	}
	r.ID, r.Time, r.Key, r.Size = ev.rec.ID.String(), utc(ev.rec.Time), ev.rec.Key, len(ev.rec.Payload)
	r.Headers = ev.rec.Headers
	r.payloadFields = payloadOf(ev.rec.Payload, ev.codec, o.raw, o.encoding)
	return r
}

// payloadFields is how dump and dead show an event's payload, by its
// stream's recorded codec (wal.Stream.Codec): msgpack (no record) decoded
// to JSON; a JSON codec's payload as the JSON it is; any other codec's as
// raw bytes with the codec named in Codec. Raw bytes are also shown when
// asked for, and when a msgpack or JSON payload is not valid: then with
// the reason in PayloadError.
type payloadFields struct {
	Payload      json.RawMessage `json:"payload,omitempty"`
	PayloadRaw   string          `json:"payload_raw,omitempty"`
	Encoding     string          `json:"encoding,omitempty"`
	Codec        string          `json:"codec,omitempty"`
	PayloadError string          `json:"payload_error,omitempty"`
}

func payloadOf(payload []byte, codec string, raw bool, encoding string) payloadFields {
	var f payloadFields
	if len(payload) == 0 {
		return f
	}
	f.Codec = codec
	switch {
	case raw:
	case codec == "":
		js, err := msgpackToJSON(payload)
		if err == nil {
			f.Payload = js
			return f
		}
		f.PayloadError = oneLine(err)
	case isJSONCodec(codec):
		var buf bytes.Buffer
		if err := json.Compact(&buf, payload); err == nil {
			f.Payload = buf.Bytes()
			return f
		}
		f.PayloadError = "not valid JSON, as its codec " + codec + " says it is"
	}
	f.PayloadRaw, f.Encoding = encodeBytes(payload, encoding), encoding
	return f
}

// isJSONCodec reports whether a codec's content type is JSON:
// application/json or a type with the +json suffix, parameters aside.
func isJSONCodec(codec string) bool {
	ct, _, _ := strings.Cut(strings.ToLower(codec), ";")
	ct = strings.TrimSpace(ct)
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

func encodeBytes(b []byte, enc string) string {
	if enc == "hex" {
		return hex.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// ndjson writes one compact JSON object per line.
type ndjson struct {
	w   io.Writer
	buf bytes.Buffer
}

func (n *ndjson) add(r dumpRecord) error {
	n.buf.Reset()
	enc := json.NewEncoder(&n.buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return err
	}
	_, err := n.w.Write(n.buf.Bytes())
	return err
}

func (n *ndjson) close() error { return nil }

// msgpackToJSON decodes one msgpack value that fills b and returns it as
// JSON. Maps with keys that are not strings get their keys formatted as
// text; byte strings become text when they are valid UTF-8, otherwise
// {"base64": "..."}; floats JSON cannot hold (NaN, ±Inf) become strings.
// Whatever the bytes, it is bounded: b must pass msgpackcheck.Check
// (declared lengths within b, nested at most msgpackcheck.MaxDepth deep)
// and the decoder reads it through a msgpackcheck.Reader (as the
// processor's does), so a hostile payload is an error, never an
// allocation of its declared size, a hang or a stack overflow.
func msgpackToJSON(b []byte) (_ json.RawMessage, err error) {
	var rd msgpackcheck.Reader
	if err := rd.Reset(b); err != nil {
		return nil, err // "malformed msgpack: ..."
	}
	defer func() {
		if r := recover(); r != nil { // msgpack panics on some input
			err = fmt.Errorf("not msgpack: decoder panicked: %v", r)
		}
	}()
	// Check accepted exactly one value: the decoder reads all of b.
	dec := msgpack.NewDecoder(&rd)
	dec.SetMapDecoder(decodeMap)
	v, err := dec.DecodeInterface()
	if rerr := rd.Err(); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, fmt.Errorf("not msgpack: %w", err)
	}
	out, err := json.Marshal(jsonable(v))
	if err != nil {
		return nil, fmt.Errorf("payload does not convert to JSON: %w", err)
	}
	return out, nil
}

// decodeMap decodes a map with keys of any type, a map or an array
// included (which no Go map can hold: msgpack's own untyped map panics on
// them), into a map[string]any, each key formatted by mapKey.
func decodeMap(d *msgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n == -1 {
		return nil, err
	}
	m := make(map[string]any, n) // n fits the payload: msgpackcheck
	for range n {
		k, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		v, err := d.DecodeInterface()
		if err != nil {
			return nil, err
		}
		m[mapKey(k)] = v
	}
	return m, nil
}

// jsonable converts what the msgpack decoder returns into values
// encoding/json accepts.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, val := range x {
			m[k] = jsonable(val)
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = jsonable(val)
		}
		return out
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return map[string]string{"base64": base64.StdEncoding.EncodeToString(x)}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprint(x)
		}
	case time.Time:
		return x.UTC()
	}
	return v
}

func mapKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	}
	return fmt.Sprint(k)
}
