package format

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/internal/msgpackcheck"
)

// unmarshal decodes one of the log's own msgpack records (a batch, a dead
// letter, a completion) into dst as msgpack.Unmarshal does, once
// msgpackcheck.Check accepts it: a value damaged or crafted in the file
// cannot make the decoder allocate the lengths it declares or recurse
// past msgpackcheck.MaxDepth (an unknown field nested millions deep
// overflowed the stack), and exactly one value must fill it. A panic in
// msgpack is an error too. Callers wrap the error in store.ErrCorrupt.
func unmarshal(v []byte, dst any) (err error) {
	if err := msgpackcheck.Check(v); err != nil {
		return err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack: %v", r)
		}
	}()
	return msgpack.Unmarshal(v, dst)
}
