package deps
import (
 _ "go.etcd.io/bbolt"
 _ "github.com/vmihailenco/msgpack/v5"
 _ "github.com/stretchr/testify/require"
 _ "github.com/spf13/cobra"
 _ "go.uber.org/goleak"
)
