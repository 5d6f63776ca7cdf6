package wal

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
)

// MaxCodecLen is the longest codec name SetCodec records.
const MaxCodecLen = 255

// ErrInvalidCodec is returned by SetCodec for a name longer than
// MaxCodecLen bytes or holding a byte outside printable ASCII.
var ErrInvalidCodec = errors.New("wal: invalid codec name")

// Codec returns the name (a content type, such as "application/json") of
// the codec the stream's payloads are encoded with, as the processor
// recorded it with SetCodec; "" when none is recorded, which means
// msgpack: files written before codecs were recorded, and streams only
// ever written with the default codec, have no record. The name comes
// from the file: a tool must treat it as untrusted text.
func (s *Stream) Codec() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.codec
}

// SetCodec records the codec the stream's payloads are encoded with, in
// the stream's bucket (key "codec"), in one commit; "" removes the record
// (msgpack). Setting what is recorded already writes nothing. A name
// longer than MaxCodecLen bytes or not printable ASCII is refused with
// ErrInvalidCodec. The
// WAL does not check payloads against it: the processor decides when a
// stream's codec may change.
func (s *Stream) SetCodec(name string) error {
	if len(name) > MaxCodecLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidCodec, len(name), MaxCodecLen)
	}
	for i := range len(name) {
		if name[i] < 0x20 || name[i] > 0x7e {
			return fmt.Errorf("%w: %q: byte %d is not printable ASCII", ErrInvalidCodec, name, i)
		}
	}
	if s.Codec() == name {
		return nil
	}
	err := s.l.write(s, func(tx *bolt.Tx, _ *format.State) error {
		b, err := s.bucket(tx)
		if err != nil {
			return refuse(err)
		}
		if name == "" {
			return b.Delete(format.KeyCodec)
		}
		return b.Put(format.KeyCodec, []byte(name))
	}, func() {
		s.mu.Lock()
		s.codec = name
		s.mu.Unlock()
	})
	if err != nil {
		return fmt.Errorf("wal: stream %q: record codec: %w", s.name, err)
	}
	return nil
}
