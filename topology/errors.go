package topology

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a topology file: where it is, which field, what is
// wrong and how to fix it.
type Error struct {
	File string
	Pos  Pos
	// Field is the path of the field, such as containers.alpine1.ports[0].
	Field string
	Msg   string
	// Fix tells the user what to change; it may be empty when the message
	// already says it.
	Fix string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Pos.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Pos.Line, e.Pos.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// ErrorList is every problem found in one topology file, in file order. The
// loader reports them all rather than stopping at the first.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// ErrInvalid is matched by errors.Is for every error that comes from a
// topology file's content rather than from reading it.
var ErrInvalid = errors.New("invalid topology file")

// Is makes errors.Is(l, ErrInvalid) true.
func (l ErrorList) Is(target error) bool { return target == ErrInvalid }

// Is makes errors.Is(e, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// diagnostics collects errors while loading or planning one file.
type diagnostics struct {
	file string
	errs ErrorList
}

func (d *diagnostics) add(pos Pos, field, fix, format string, args ...any) {
	d.errs = append(d.errs, &Error{
		File:  d.file,
		Pos:   pos,
		Field: field,
		Msg:   fmt.Sprintf(format, args...),
		Fix:   fix,
	})
}

func (d *diagnostics) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sortErrors(d.errs)
	return d.errs
}

func sortErrors(errs ErrorList) {
	// Stable insertion sort: lists are short and equal positions keep the
	// order in which the checks found them.
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && posLess(errs[j].Pos, errs[j-1].Pos); j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

func posLess(a, b Pos) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Column < b.Column
}
