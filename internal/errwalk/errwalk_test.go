package errwalk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// loop is an error whose Unwrap returns itself, counting the calls.
type loop struct{ unwraps atomic.Int32 }

func (e *loop) Error() string { return "loop" }
func (e *loop) Unwrap() error { e.unwraps.Add(1); return e }

// joinLoop is a tree whose Unwrap() []error holds itself.
type joinLoop struct{ leaf error }

func (e *joinLoop) Error() string   { return "join loop" }
func (e *joinLoop) Unwrap() []error { return []error{e, e.leaf} }

// panics is an error whose Unwrap, Is and As methods panic.
type panics struct{}

func (panics) Error() string { return "panics" }
func (panics) Unwrap() error { panic("Unwrap") }
func (panics) Is(error) bool { panic("Is") }
func (panics) As(any) bool   { panic("As") }

// uncomparable is an error type == panics on.
type uncomparable struct{ parts []string }

func (uncomparable) Error() string { return "uncomparable" }

// asPath is an error whose As method sets a *fs.PathError.
type asPath struct{}

func (asPath) Error() string { return "as path" }
func (asPath) As(target any) bool {
	if p, ok := target.(**fs.PathError); ok {
		*p = &fs.PathError{Op: "as", Path: "p", Err: io.EOF}
		return true
	}
	return false
}

// For errors without traps, Tree, As and Is answer as errors.As and
// errors.Is do, in their order.
func TestSameAsErrorsPackage(t *testing.T) {
	pe := &fs.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}
	first := &fs.PathError{Op: "first", Path: "y", Err: io.EOF}
	for name, err := range map[string]error{
		"nil":     nil,
		"plain":   io.EOF,
		"wrapped": fmt.Errorf("a: %w", fmt.Errorf("b: %w", pe)),
		"joined":  errors.Join(errors.New("x"), fmt.Errorf("c: %w", first), pe),
		"multi":   fmt.Errorf("%w and %w", io.ErrUnexpectedEOF, pe),
		"as":      fmt.Errorf("w: %w", asPath{}),
	} {
		t.Run(name, func(t *testing.T) {
			nodes := Tree(err)
			var want *fs.PathError
			wantOK := errors.As(err, &want)
			got, ok := As[*fs.PathError](nodes)
			require.Equal(t, wantOK, ok)
			require.Equal(t, want, got)
			for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, os.ErrNotExist, fs.ErrExist} {
				require.Equal(t, errors.Is(err, target), Is(nodes, target), "%v", target)
			}
		})
	}
	require.Nil(t, Tree(nil))
	require.Equal(t, []error{io.EOF}, Tree(fmt.Errorf("%w", io.EOF))[1:])
}

// An Unwrap cycle ends the walk at MaxNodes, each Unwrap called once.
func TestCycleIsBounded(t *testing.T) {
	e := &loop{}
	nodes := Tree(fmt.Errorf("top: %w", e))
	require.Len(t, nodes, MaxNodes)
	require.EqualValues(t, MaxNodes-1, e.unwraps.Load())
	_, ok := As[*fs.PathError](nodes)
	require.False(t, ok)
	require.False(t, Is(nodes, io.EOF))

	j := &joinLoop{leaf: io.EOF}
	nodes = Tree(j)
	require.Len(t, nodes, MaxNodes)
	require.False(t, Is(nodes, io.EOF), "past the bound: the leaf is never reached, the walk ends")
}

// A wide tree is cut at MaxNodes too, in visiting order.
func TestWideTreeIsCut(t *testing.T) {
	leaves := make([]error, 2*MaxNodes)
	for i := range leaves {
		leaves[i] = fmt.Errorf("leaf %d", i)
	}
	nodes := Tree(errors.Join(leaves...))
	require.Len(t, nodes, MaxNodes)
	require.Equal(t, leaves[:MaxNodes-1], nodes[1:])
}

// Methods that panic say nothing: the node is a leaf, no match, and no
// panic reaches the caller.
func TestPanickingMethods(t *testing.T) {
	err := fmt.Errorf("a: %w", panics{})
	nodes := Tree(err)
	require.Len(t, nodes, 2)
	_, ok := As[*fs.PathError](nodes)
	require.False(t, ok)
	require.False(t, Is(nodes, io.EOF))
	p, ok := As[panics](nodes)
	require.True(t, ok)
	require.Equal(t, panics{}, p)

	u := uncomparable{parts: []string{"x"}}
	require.False(t, Is(Tree(fmt.Errorf("w: %w", u)), uncomparable{}))
}
