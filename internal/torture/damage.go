package torture

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/wal"
)

// corruption is one record damaged by the parent between child runs.
type corruption struct {
	Stream  string
	Seq     uint64
	ID      string // event ID
	Key     string // the event's K
	Offsets []int64
}

// corruptRecord picks a random event still in the WAL at path (pending or
// in flight, any stream; an envelope or a record inside a run), finds the
// bytes of the value holding it in the file and flips one byte of the
// event's payload at every place they occur (a stale copy may sit in a
// free page; the live one is among them). No process may have the file
// open. It returns nil, nil when the WAL holds no event to damage.
func corruptRecord(path string, rng *rand.Rand) (*corruption, error) {
	type cand struct {
		stream string
		seq    uint64
		raw    []byte // the value holding it
		rec    format.Record
	}
	var pick *cand
	n := 0
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	runs := l.Store().Info().Version >= 2
	err = storetx.View(l.Store(), func(tx *bolt.Tx) error {
		streams, err := format.RawStreams(tx)
		if err != nil {
			return err
		}
		for _, rs := range streams {
			if rs.Events == nil || len(rs.UID) != 8 {
				continue
			}
			st, err := format.DecodeState(rs.Version, rs.State)
			if err != nil {
				continue
			}
			sc := format.ScanBatches(format.Events{Bucket: rs.Events, UID: [8]byte(rs.UID), Runs: runs, Last: st.NextSeq - 1}, rs.Batches)
			live := format.NewLive(st.SealedThrough, sc.Counted)
			cur := format.NewEventCursor(rs.Events, [8]byte(rs.UID), runs, st.NextSeq-1)
			for ok := cur.Seek(0); ok; ok = cur.Next() {
				if !live.Has(cur.Seq()) {
					continue
				}
				rec, err := cur.Event()
				if err != nil {
					continue // damaged already
				}
				n++ // reservoir sampling: one event, uniformly
				if rng.IntN(n) == 0 {
					raw := append([]byte(nil), cur.Value().Raw...)
					rec.Payload = append([]byte(nil), rec.Payload...)
					pick = &cand{rs.Name, cur.Seq(), raw, rec}
				}
			}
		}
		return nil
	})
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil || pick == nil {
		return nil, err
	}
	rec := pick.rec
	id := wal.EventID(rec.ID)
	var ev Event
	if err := msgpack.Unmarshal(rec.Payload, &ev); err != nil {
		return nil, fmt.Errorf("torture: event %s does not decode: %w", id, err)
	}
	c := &corruption{Stream: pick.stream, Seq: pick.seq, ID: id.String(), Key: ev.K}
	// The payload (never empty: a msgpack map) is where it is in the
	// value; a byte of it, counted from its end.
	p := bytes.Index(pick.raw, rec.Payload)
	if p < 0 || len(rec.Payload) == 0 {
		return nil, fmt.Errorf("torture: the payload of event %s is not in its value", id)
	}
	at := p + len(rec.Payload) - 1 - rng.IntN(len(rec.Payload))
	mask := byte(1 + rng.IntN(255))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for off := 0; ; {
		i := bytes.Index(data[off:], pick.raw)
		if i < 0 {
			break
		}
		pos := int64(off + i + at)
		if _, err := f.WriteAt([]byte{data[pos] ^ mask}, pos); err != nil {
			return nil, err
		}
		c.Offsets = append(c.Offsets, pos)
		off += i + len(pick.raw)
	}
	if len(c.Offsets) == 0 {
		return nil, fmt.Errorf("torture: record %s of stream %s not found in the file", c.ID, c.Stream)
	}
	return c, f.Sync()
}

// disk is the WAL's file system when it is a small tmpfs the parent can
// fill and free; nil when it is not.
type disk struct {
	dir    string
	filler string
	full   bool
}

// mountTmpfs mounts a tmpfs of size MiB on dir. It returns a reason when it
// cannot (not root, no mount permission).
func mountTmpfs(dir string, size int) (*disk, string) {
	if os.Geteuid() != 0 {
		return nil, "not root: cannot mount a tmpfs to fill"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err.Error()
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Sprintf("mount -t tmpfs failed: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return &disk{dir: dir, filler: filepath.Join(dir, "filler")}, ""
}

func (d *disk) unmount() error {
	if out, err := exec.Command("umount", d.dir).CombinedOutput(); err != nil {
		return fmt.Errorf("umount %s: %v: %s", d.dir, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fill writes to the filler file until the file system is full.
func (d *disk) fill() error {
	f, err := os.OpenFile(d.filler, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for size := len(buf); size > 0; {
		if _, err := f.Write(buf[:size]); err != nil {
			if !isNoSpace(err) {
				return err
			}
			size /= 2 // fill the last bytes too
		}
	}
	d.full = true
	return nil
}

// free removes the filler file.
func (d *disk) free() error {
	d.full = false
	if err := os.Remove(d.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func isNoSpace(err error) bool { return errors.Is(err, syscall.ENOSPC) }
