package msgpackcheck

import (
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// msgpack/v5 decodes an ext whose data starts with a container header as
// that container (into a map or slice target), allocating on its declared
// length: such data must pass Check too. A timestamp or other ext data is
// not read.
func TestExtDataThatDecodesAsAValueIsChecked(t *testing.T) {
	bad := map[string][]byte{
		"fixext4 holding a map16 of 34816":     {0xd6, 0x2f, 0xde, 0x88, 0x00, 0x20},
		"ext8 holding a map32 of 4G":           {0xc7, 0x05, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff},
		"ext8 holding an array32 of 4G":        {0xc7, 0x05, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff},
		"ext8 holding a str32 of 4G":           {0xc7, 0x05, 0x01, 0xdb, 0xff, 0xff, 0xff, 0xff},
		"array holding an ext holding a map32": {0x91, 0xc7, 0x05, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff},
		// A map read through the ext is nil, and the decoder reads on in
		// the ext's data: the next key, then a map32 of 1M.
		"ext8 holding nil, then more": {0xc7, 0x08, 0x05, 0xc0, 0xa1, 'x', 0xdf, 0x00, 0x10, 0x00, 0x00},
	}
	for name, b := range bad {
		if err := Check(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Check = %v, want ErrInvalid", name, err)
		}
	}
	// Ext nesting counts toward MaxDepth: an ext holding an ext ...
	deep := []byte{0x91, 0x01}
	for range MaxDepth + 1 {
		deep = append([]byte{0xc8, byte(len(deep) >> 8), byte(len(deep)), 0x01}, deep...)
	}
	if err := Check(deep); !errors.Is(err, ErrInvalid) {
		t.Errorf("exts nested %d deep: Check = %v, want ErrInvalid", MaxDepth+1, err)
	}
	good := map[string][]byte{
		"a timestamp whose bytes look like a map32": {0xd6, 0xff, 0xdf, 0x00, 0x00, 0x01},
		"ext holding a valid map":                   {0xd6, 0x05, 0x81, 0xa1, 0x61, 0x01},
		"ext holding opaque bytes":                  {0xd6, 0x05, 0x00, 0x01, 0x02, 0x03},
		"ext holding nil alone":                     {0xd4, 0x05, 0xc0},
	}
	for name, b := range good {
		if err := Check(b); err != nil {
			t.Errorf("%s: Check = %v, want nil", name, err)
		}
	}
	tm, err := msgpack.Marshal(map[string]any{"at": msgpack.RawMessage{0xd6, 0xff, 0xdf, 0x00, 0x00, 0x01}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(tm); err != nil {
		t.Errorf("a map holding a timestamp: %v", err)
	}
}
