// Package errwalk reads an error that may come from user code or a remote
// peer (a dispatcher's result, a sink's callback, a client library's
// answer) without trusting it. errors.Is and errors.As loop forever on an
// Unwrap cycle and pass on the panic of any method they call; Tree, As
// and Is walk at most MaxNodes errors, call each Unwrap method once, and
// treat a method that panics as having said nothing.
//
// Walk the tree once with Tree and ask As and Is of its nodes: each
// question then costs at most MaxNodes steps, and no method of the error
// is called more often than errors.As and errors.Is would call it.
package errwalk

// MaxNodes is the most errors of a tree Tree returns: a tree larger than
// that (or an Unwrap cycle) is cut there.
const MaxNodes = 64

// Tree returns the errors of err's tree in the order errors.Is and
// errors.As visit them (pre-order, depth first, err first), skipping nil
// ones, at most MaxNodes of them. It calls each Unwrap method it reaches
// once; a node whose Unwrap panics is kept, as a leaf. Tree(nil) is nil.
func Tree(err error) []error {
	var out []error
	var walk func(e error)
	walk = func(e error) {
		if e == nil || len(out) == MaxNodes {
			return
		}
		out = append(out, e)
		for _, c := range unwrap(e) {
			walk(c)
		}
	}
	walk(err)
	return out
}

// unwrap returns what e's Unwrap method returns, as a list: nothing when
// e has none or it panics.
func unwrap(e error) (children []error) {
	defer func() {
		if recover() != nil {
			children = nil
		}
	}()
	switch u := e.(type) {
	case interface{ Unwrap() error }:
		return []error{u.Unwrap()}
	case interface{ Unwrap() []error }:
		return u.Unwrap()
	}
	return nil
}

// As returns the first of nodes that is a P, or whose As method sets one,
// as errors.As(err, &p) does over err's tree (nodes = Tree(err)). An As
// method that panics counts as no match. A P found may be a nil pointer
// of P's type.
func As[P any](nodes []error) (P, bool) {
	var p P
	for _, e := range nodes {
		if v, ok := e.(P); ok {
			return v, true
		}
		if asMethod(e, &p) {
			return p, true
		}
	}
	return p, false
}

// asMethod reports whether e has an As method that sets *target.
func asMethod[P any](e error, target *P) (ok bool) {
	x, has := e.(interface{ As(any) bool })
	if !has {
		return false
	}
	defer func() {
		if recover() != nil {
			var zero P
			*target, ok = zero, false
		}
	}()
	return x.As(target)
}

// Is reports whether one of nodes is target or has an Is method saying
// so, as errors.Is(err, target) does over err's tree (nodes = Tree(err)).
// An Is method that panics, or a comparison that does (two errors of one
// uncomparable type), counts as no.
func Is(nodes []error, target error) bool {
	for _, e := range nodes {
		if isNode(e, target) {
			return true
		}
	}
	return false
}

func isNode(e, target error) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	if e == target {
		return true
	}
	x, has := e.(interface{ Is(error) bool })
	return has && x.Is(target)
}
