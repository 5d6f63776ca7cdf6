package powercut

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFileStateModel drives a fileState with random writes, truncates,
// reads and syncs, against two byte slices: what the writer must see and
// what must be durable. No FUSE needed.
func TestFileStateModel(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		path := filepath.Join(t.TempDir(), "f")
		initial := make([]byte, rng.IntN(3*pageSize))
		for i := range initial {
			initial[i] = byte(rng.Uint32())
		}
		require.NoError(t, os.WriteFile(path, initial, 0o600))
		fd, err := syscall.Open(path, syscall.O_RDWR, 0)
		require.NoError(t, err)
		s := newFileState(fd, 1, int64(len(initial)))
		seen := bytes.Clone(initial)
		durable := bytes.Clone(initial)
		floor := len(durable) // the smallest size since the last sync

		for op := 0; op < 200; op++ {
			switch k := rng.IntN(10); {
			case k < 5:
				off := rng.IntN(4 * pageSize)
				p := make([]byte, 1+rng.IntN(2*pageSize))
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				n, err := s.writeAt(p, int64(off))
				require.NoError(t, err)
				require.Equal(t, len(p), n)
				if off+len(p) > len(seen) {
					seen = append(seen, make([]byte, off+len(p)-len(seen))...)
				}
				copy(seen[off:], p)
			case k < 7:
				size := rng.IntN(5 * pageSize)
				require.NoError(t, s.truncate(int64(size)))
				floor = min(floor, size)
				if size < len(seen) {
					seen = seen[:size]
				} else {
					seen = append(seen, make([]byte, size-len(seen))...)
				}
			case k < 9:
				off := rng.IntN(6 * pageSize)
				p := make([]byte, rng.IntN(3*pageSize))
				n, err := s.readAt(p, int64(off))
				require.NoError(t, err)
				want := []byte{}
				if off < len(seen) {
					want = seen[off:min(len(seen), off+len(p))]
				}
				require.Equal(t, want, p[:n], "seed %d op %d: read at %d", seed, op, off)
			default:
				require.NoError(t, s.sync())
				durable = bytes.Clone(seen)
				floor = len(durable)
				onDisk, err := os.ReadFile(path)
				require.NoError(t, err)
				require.Equal(t, durable, onDisk, "seed %d op %d: after sync", seed, op)
			}
		}

		if seed%2 == 0 {
			_, _, err := s.cut(nil, 0)
			require.NoError(t, err)
			onDisk, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, durable, onDisk, "seed %d: after a cut only synced data remains", seed)
			continue
		}
		// A torn cut: the size is the durable one or the one the writer
		// saw, and every sector is from one of the two versions. When the
		// new size was kept, so was a truncate below the durable size:
		// the old version is then cut at the floor.
		sector := []int{512, pageSize}[rng.IntN(2)]
		_, _, err = s.cut(rand.New(rand.NewPCG(seed, 8)), sector)
		require.NoError(t, err)
		onDisk, err := os.ReadFile(path)
		require.NoError(t, err)
		require.True(t, len(onDisk) == len(durable) || len(onDisk) == len(seen),
			"seed %d: torn size %d is neither %d nor %d", seed, len(onDisk), len(durable), len(seen))
		for off := 0; off < len(onDisk); off += sector {
			end := min(off+sector, len(onDisk))
			got := onDisk[off:end]
			old, cutOld, nw := sectorOf(durable, off, end), sectorOf(durable[:floor], off, end), sectorOf(seen, off, end)
			require.True(t, bytes.Equal(got, old) || bytes.Equal(got, nw) || (len(onDisk) == len(seen) && bytes.Equal(got, cutOld)),
				"seed %d: sector at %d is from neither version", seed, off)
		}
	}
}

// sectorOf returns b[off:end], zero-filled past the end of b.
func sectorOf(b []byte, off, end int) []byte {
	out := make([]byte, end-off)
	if off < len(b) {
		copy(out, b[off:min(end, len(b))])
	}
	return out
}
