package topology

import (
	"errors"
	"fmt"
	"sort"
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
// loader reports them all rather than stopping at the first, up to 200,
// followed by one error without a position that counts the rest.
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

// maxErrors bounds how many errors one file reports, so that a hostile file
// cannot fill memory with messages. A longer list ends with one error that
// gives the number of errors left out.
const maxErrors = 200

// diagnostics collects errors while loading or planning one file.
type diagnostics struct {
	file string
	errs ErrorList
	// dropped counts errors beyond maxErrors.
	dropped int
	// where maps a field path, such as networks.front.gateway or
	// probes[0].kind, to the position of its value in the file. Only the
	// loader fills it; planning falls back to the positions in the Topology.
	where map[string]Pos
	// failed holds the fields that already have an error, so that a check
	// of a value the loader could not read does not report it again.
	failed map[string]bool
	// loadFailed is failed as loading left it; validation reports nothing
	// on these fields.
	loadFailed map[string]bool
}

func (d *diagnostics) add(pos Pos, field, fix, format string, args ...any) {
	if d.loadFailed[field] {
		return
	}
	if d.full() {
		d.dropped++
		return
	}
	d.markFailed(field)
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = s[:maxQuoted] + "..."
		}
	}
	d.errs = append(d.errs, &Error{
		File:  d.file,
		Pos:   pos,
		Field: truncate(field, 2*maxQuoted),
		Msg:   fmt.Sprintf(format, args...),
		Fix:   fix,
	})
}

// maxQuoted is the longest text of the file that an error message repeats.
// Longer values are cut, so that a huge value still gives a readable error.
const maxQuoted = 100

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// full reports whether the list contains maxErrors errors, after which callers
// may skip the work of composing more.
func (d *diagnostics) full() bool { return len(d.errs) >= maxErrors }

func (d *diagnostics) markFailed(field string) {
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[field] = true
}

// beginValidation records which fields loading found wrong, so that
// validation adds no second error to them.
func (d *diagnostics) beginValidation() {
	d.loadFailed = make(map[string]bool, len(d.failed))
	for f := range d.failed {
		d.loadFailed[f] = true
	}
}

// at returns the position of field's value, or fallback when the loader
// recorded none.
func (d *diagnostics) at(field string, fallback Pos) Pos {
	if p, ok := d.where[field]; ok && p.Line > 0 {
		return p
	}
	return fallback
}

// hasError reports whether field already has an error.
func (d *diagnostics) hasError(field string) bool { return d.failed[field] }

func (d *diagnostics) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sortErrors(d.errs)
	if d.dropped > 0 {
		d.errs = append(d.errs, &Error{
			File: d.file,
			Msg:  fmt.Sprintf("%d more errors are not listed", d.dropped),
			Fix:  fmt.Sprintf("fix the %d errors above first", maxErrors),
		})
		d.dropped = 0
	}
	return d.errs
}

// sortErrors orders errors by position. The sort is stable, so errors at
// one position keep the order in which the checks found them.
func sortErrors(errs ErrorList) {
	sort.SliceStable(errs, func(i, j int) bool { return posLess(errs[i].Pos, errs[j].Pos) })
}

func posLess(a, b Pos) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Column < b.Column
}
