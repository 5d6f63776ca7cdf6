package dispatcher

import (
	"bytes"
	"compress/gzip"
	"io"
	"sync"
)

// gzipWriters recycles gzip writers: each holds about 800 KB of state.
var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(io.Discard) }}

// gzipBytes returns p compressed with gzip at the default level.
func gzipBytes(p []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(p)/3 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(p); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
