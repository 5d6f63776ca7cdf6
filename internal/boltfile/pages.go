package boltfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"syscall"
)

// This file reads a bbolt file's B+trees with plain reads, never through
// a memory mapping, so that no damage can fault or hang it: every page
// reference is bounds-checked and every page is visited at most once (a
// reference cycle is reported, not followed). recovery.Verify runs it
// before letting bbolt walk the file; recovery.Repair uses it to salvage
// every readable key.
//
// The layout read here, after the page header (see the package doc):
// 16-byte branch elements (pos u32, ksize u32, pgid u64), 16-byte leaf
// elements (flags u32, pos u32, ksize u32, vsize u32), each pos relative to
// the element itself; a freelist page holds its count page ids (u64) after
// the header, or, when count is 0xFFFF, the real count (u64) first; a
// bucket value starts with its root page id and sequence (u64 each) and
// holds an inline leaf page after them when that id is 0.

const (
	elemSize       = 16
	leafBucketFlag = 0x01
	maxPageBytes   = 1 << 30 // a larger page run is taken as damage
)

// pageFile is a bbolt file opened for plain reads.
type pageFile struct {
	f        *os.File
	size     int64
	ps       int64  // page size
	hwm      uint64 // high-water mark: pages [0, hwm) are in use or free
	root     uint64 // root bucket's page
	freelist uint64
	// metaProblems describes an invalid meta page opened past.
	metaProblems []string
}

// openPages reads the meta pages and chooses the valid one with the
// highest transaction id, as bbolt does.
func openPages(path string) (*pageFile, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	metas := ReadMetas(f)
	best, found := metas.At()
	if !found || best.PageSize < 512 || best.PageSize > 1<<20 {
		f.Close()
		return nil, fmt.Errorf("no valid meta page")
	}
	return &pageFile{f: f, size: fi.Size(), ps: int64(best.PageSize), hwm: best.Pgid,
		root: best.Root, freelist: best.Freelist, metaProblems: metas.Problems()}, nil
}

func (pf *pageFile) Close() error { return pf.f.Close() }

// page reads page id with its overflow pages.
func (pf *pageFile) page(id uint64) ([]byte, error) {
	if id < 2 || id >= pf.hwm {
		return nil, fmt.Errorf("page %d: out of range [2, %d)", id, pf.hwm)
	}
	off := int64(id) * pf.ps
	var h [PageHeaderSize]byte
	if _, err := pf.f.ReadAt(h[:], off); err != nil {
		return nil, fmt.Errorf("page %d: beyond the end of the file (%d bytes)", id, pf.size)
	}
	if got := binary.LittleEndian.Uint64(h[:]); got != id {
		return nil, fmt.Errorf("page %d: header names page %d", id, got)
	}
	overflow := uint64(binary.LittleEndian.Uint32(h[12:]))
	if id+overflow >= pf.hwm || int64(overflow+1)*pf.ps > maxPageBytes {
		return nil, fmt.Errorf("page %d: overflow %d runs past the last page %d", id, overflow, pf.hwm-1)
	}
	buf := make([]byte, int64(overflow+1)*pf.ps)
	if _, err := pf.f.ReadAt(buf, off); err != nil && err != io.EOF {
		return nil, fmt.Errorf("page %d: %v", id, err)
	} else if err == io.EOF {
		return nil, fmt.Errorf("page %d: beyond the end of the file (%d bytes)", id, pf.size)
	}
	return buf, nil
}

// Visitor is what Walk calls back with as it walks a file's buckets; any
// of its functions may be nil.
type Visitor struct {
	// OnBucket is called for each bucket found, with its path; OnKV for
	// each key/value pair (not a bucket) with its bucket's path. The
	// slices are valid only during the call.
	OnBucket func(path [][]byte)
	OnKV     func(path [][]byte, k, v []byte)
	// IsBucket, if set, decides whether a leaf entry is a bucket, given
	// its flag: a rebuild knows the layout better than a damaged flag.
	IsBucket func(path [][]byte, k []byte, flagged bool) bool
}

// Damage is what Walk found wrong with a file's pages, one line each.
type Damage struct {
	// Meta describes an invalid meta page the walk opened past (see
	// Metas.Problems).
	Meta []string
	// Tree is damage to the B+trees: a walk through bbolt would fault or
	// loop.
	Tree []string
	// Other is damage to the freelist, unreachable pages and the meta
	// pages' headers: bbolt can still read every key.
	Other []string
}

// pageWalk visits every reachable page once.
type pageWalk struct {
	Damage
	Visitor
	pf    *pageFile
	reach map[uint64]bool
	freed map[uint64]bool
}

// Walk reads the file at path with plain reads, at the meta page bbolt
// would open at, and visits every reachable page once, calling v back for
// each bucket and key. It returns an error only when the file cannot be
// walked at all (unreadable, or no valid meta page); everything else it
// finds is in the Damage.
func Walk(path string, v Visitor) (Damage, error) {
	pf, err := openPages(path)
	if err != nil {
		return Damage{}, err
	}
	defer pf.Close()
	w := &pageWalk{Damage: Damage{Meta: pf.metaProblems}, Visitor: v, pf: pf,
		reach: map[uint64]bool{0: true, 1: true}, freed: map[uint64]bool{}}
	if int64(pf.hwm)*pf.ps > pf.size {
		w.Tree = append(w.Tree, fmt.Sprintf("file is truncated: %d bytes, its pages need %d", pf.size, int64(pf.hwm)*pf.ps))
	}
	for id := uint64(0); id < 2; id++ {
		var h [PageHeaderSize]byte
		_, err := pf.f.ReadAt(h[:], int64(id)*pf.ps)
		if got, flags := binary.LittleEndian.Uint64(h[:]), binary.LittleEndian.Uint16(h[8:]); err != nil || got != id || flags != FlagMeta {
			w.Other = append(w.Other, fmt.Sprintf("meta page %d: header names page %d of type %#x", id, got, flags))
		}
	}
	w.readFreelist()
	w.bucket(nil, pf.root)
	var runStart uint64
	inRun := false
	for id := uint64(2); id <= pf.hwm; id++ {
		lost := id < pf.hwm && !w.reach[id] && !w.freed[id]
		switch {
		case lost && !inRun:
			runStart, inRun = id, true
		case !lost && inRun:
			w.Other = append(w.Other, fmt.Sprintf("pages %d-%d: unreachable and not free", runStart, id-1))
			inRun = false
		}
		if id < pf.hwm && w.reach[id] && w.freed[id] {
			w.Other = append(w.Other, fmt.Sprintf("page %d: in use and free", id))
		}
	}
	return w.Damage, nil
}

func (w *pageWalk) readFreelist() {
	id := w.pf.freelist
	if id == NoFreelist {
		return
	}
	buf, err := w.pf.page(id)
	if err != nil {
		w.Other = append(w.Other, "freelist "+err.Error())
		return
	}
	if flags := binary.LittleEndian.Uint16(buf[8:]); flags != FlagFreelist {
		w.Other = append(w.Other, fmt.Sprintf("freelist page %d: type %#x", id, flags))
		return
	}
	w.mark(id, buf)
	count, start := uint64(binary.LittleEndian.Uint16(buf[10:])), uint64(PageHeaderSize)
	if count == 0xFFFF {
		count, start = binary.LittleEndian.Uint64(buf[PageHeaderSize:]), PageHeaderSize+8
	}
	if count > (uint64(len(buf))-start)/8 {
		w.Other = append(w.Other, fmt.Sprintf("freelist page %d: %d ids do not fit", id, count))
		return
	}
	for i := uint64(0); i < count; i++ {
		f := binary.LittleEndian.Uint64(buf[start+8*i:])
		switch {
		case f < 2 || f >= w.pf.hwm:
			w.Other = append(w.Other, fmt.Sprintf("freelist: page %d out of range", f))
		case w.freed[f]:
			w.Other = append(w.Other, fmt.Sprintf("freelist: page %d freed twice", f))
		}
		w.freed[f] = true
	}
}

// mark records the pages of buf (id and its overflow) as reachable.
func (w *pageWalk) mark(id uint64, buf []byte) {
	for i := uint64(0); i < uint64(len(buf))/uint64(w.pf.ps); i++ {
		w.reach[id+i] = true
	}
}

// bucket walks the B+tree of a bucket rooted at page root.
func (w *pageWalk) bucket(path [][]byte, root uint64) {
	stack := []uint64{root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if w.reach[id] {
			w.Tree = append(w.Tree, fmt.Sprintf("page %d: referenced more than once", id))
			continue
		}
		buf, err := w.pf.page(id)
		if err != nil {
			w.Tree = append(w.Tree, err.Error())
			continue
		}
		w.mark(id, buf)
		switch flags := binary.LittleEndian.Uint16(buf[8:]); flags {
		case FlagBranch:
			kids, err := branchChildren(buf)
			if err != nil {
				w.Tree = append(w.Tree, fmt.Sprintf("page %d: %v", id, err))
			}
			for i := len(kids) - 1; i >= 0; i-- {
				stack = append(stack, kids[i])
			}
		case FlagLeaf:
			if err := w.leaf(path, buf); err != nil {
				w.Tree = append(w.Tree, fmt.Sprintf("page %d: %v", id, err))
			}
		default:
			w.Tree = append(w.Tree, fmt.Sprintf("page %d: type %#x where a branch or leaf belongs", id, flags))
		}
	}
}

// element returns the key (and for a leaf the value) of element i of page
// buf, bounds-checked.
//
// bbolt writes the elements' keys and values back to back, in element
// order, right after the element array; next is where element i's data
// should start, and the returned next is where element i+1's should. Data
// elsewhere means damaged sizes or offsets (elements overlapping), which
// is reported in gap while the element is still returned.
func element(buf []byte, i int, leaf bool, next uint64) (flags uint32, k, v []byte, child, after uint64, gap, err error) {
	flags, k, v, child, err = elementAt(buf, i, leaf)
	if err != nil {
		return
	}
	start := uint64(cap(buf) - cap(k)) // k is buf[start:...]
	if i == 0 {
		next = uint64(PageHeaderSize + int(binary.LittleEndian.Uint16(buf[10:]))*elemSize)
	}
	if start != next {
		gap = fmt.Errorf("element %d: data at offset %d, expected %d (overlapping elements)", i, start, next)
	}
	return flags, k, v, child, start + uint64(len(k)+len(v)), gap, nil
}

func elementAt(buf []byte, i int, leaf bool) (flags uint32, k, v []byte, child uint64, err error) {
	eoff := PageHeaderSize + i*elemSize
	if eoff+elemSize > len(buf) {
		return 0, nil, nil, 0, fmt.Errorf("element %d beyond the page", i)
	}
	e := buf[eoff : eoff+elemSize]
	le := binary.LittleEndian
	var pos, ksize, vsize uint64
	if leaf {
		flags, pos, ksize, vsize = le.Uint32(e), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[8:])), uint64(le.Uint32(e[12:]))
	} else {
		pos, ksize, child = uint64(le.Uint32(e)), uint64(le.Uint32(e[4:])), le.Uint64(e[8:])
	}
	start := uint64(eoff) + pos
	if start+ksize+vsize > uint64(len(buf)) {
		return 0, nil, nil, 0, fmt.Errorf("element %d points beyond the page", i)
	}
	return flags, buf[start : start+ksize], buf[start+ksize : start+ksize+vsize], child, nil
}

func branchChildren(buf []byte) (kids []uint64, err error) {
	n := int(binary.LittleEndian.Uint16(buf[10:]))
	var prev []byte
	var next uint64
	var gapErr error
	defer func() {
		if gapErr != nil && err == nil {
			err = gapErr
		}
	}()
	for i := 0; i < n; i++ {
		_, k, _, child, after, gap, err := element(buf, i, false, next)
		if err != nil {
			return kids, err
		}
		if gap != nil && gapErr == nil {
			gapErr = gap
		}
		next = after
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return kids, fmt.Errorf("branch keys out of order at element %d", i)
		}
		prev = k
		kids = append(kids, child)
	}
	return kids, nil
}

// leaf visits the elements of a leaf page (or an inline bucket's page).
func (w *pageWalk) leaf(path [][]byte, buf []byte) (err error) {
	n := int(binary.LittleEndian.Uint16(buf[10:]))
	var prev []byte
	var next uint64
	var gapErr error
	defer func() {
		if gapErr != nil && err == nil {
			err = gapErr
		}
	}()
	for i := 0; i < n; i++ {
		flags, k, v, _, after, gap, err := element(buf, i, true, next)
		if err != nil {
			return err
		}
		if gap != nil && gapErr == nil {
			gapErr = gap
		}
		next = after
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("leaf keys out of order at element %d", i)
		}
		prev = k
		isBucket := flags&leafBucketFlag != 0
		if w.IsBucket != nil {
			isBucket = w.IsBucket(path, k, isBucket)
		}
		if !isBucket {
			if w.OnKV != nil {
				w.OnKV(path, k, v)
			}
			continue
		}
		if len(v) < 16 {
			return fmt.Errorf("bucket %q: value too short", k)
		}
		sub := append(append([][]byte(nil), path...), k)
		if w.OnBucket != nil {
			w.OnBucket(sub)
		}
		root := binary.LittleEndian.Uint64(v)
		if root != 0 {
			w.bucket(sub, root)
			continue
		}
		inline := v[16:]
		if len(inline) < PageHeaderSize || binary.LittleEndian.Uint16(inline[8:]) != FlagLeaf {
			return fmt.Errorf("bucket %q: bad inline page", k)
		}
		if err := w.leaf(sub, inline); err != nil {
			return fmt.Errorf("bucket %q: %v", k, err)
		}
	}
	return nil
}
