package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// Matrix formats WriteMatrix accepts.
const (
	FormatTable    = "table"
	FormatMarkdown = "markdown"
	FormatCSV      = "csv"
	FormatJSON     = "json"
)

// MatrixFormats lists the formats of WriteMatrix, for help texts.
var MatrixFormats = []string{FormatTable, FormatMarkdown, FormatCSV, FormatJSON}

// MatrixOptions controls WriteMatrix.
type MatrixOptions struct {
	// Color adds ANSI colours to the table format. The caller decides, as
	// a rule from whether the output is a terminal and from NO_COLOR.
	Color bool
	// Plan, when set, orders rows and columns as the plan lists nodes
	// (containers, the host, outside hosts) and names the target of
	// probes given only a via address. Without it, nodes are ordered by
	// first appearance in the report.
	Plan *topology.Plan
}

// ErrUnknownFormat is returned by WriteMatrix for a format it does not
// know.
var ErrUnknownFormat = errors.New("unknown matrix format")

// WriteMatrix writes report as an all-pairs matrix in format: "table" for a
// terminal, "markdown", "csv" (one row per result) or "json" (the report
// itself, as WriteJSON writes it). In the table and Markdown formats a row
// is a source and a column a target. Each cell lists the probes of that
// pair with their results and cites the numbered reasons listed under the
// matrix. A ! marks a result that differs from its prediction.
func WriteMatrix(w io.Writer, report *probe.Report, format string, opts MatrixOptions) error {
	if report == nil {
		report = &probe.Report{}
	}
	var err error
	switch format {
	case FormatTable:
		err = writeTable(w, buildMatrix(report, opts.Plan), opts.Color)
	case FormatMarkdown:
		err = writeMarkdown(w, buildMatrix(report, opts.Plan))
	case FormatCSV:
		err = writeCSV(w, report)
	case FormatJSON:
		err = WriteJSON(w, report)
	default:
		return fmt.Errorf("%w %q: use one of %s", ErrUnknownFormat, format, strings.Join(MatrixFormats, ", "))
	}
	if err != nil {
		return fmt.Errorf("writing %s matrix: %w", format, err)
	}
	return nil
}

// WriteJSON writes report as indented JSON, the content of results.json.
// A zero SchemaVersion is written as probe.SchemaVersion, Surprises is
// recounted from the results, and a nil result list is written as [].
func WriteJSON(w io.Writer, report *probe.Report) error {
	out := probe.Report{}
	if report != nil {
		out = *report
	}
	if out.SchemaVersion == 0 {
		out.SchemaVersion = probe.SchemaVersion
	}
	if out.Results == nil {
		out.Results = []probe.Result{}
	}
	out.Surprises = 0
	for _, r := range out.Results {
		if r.Surprise {
			out.Surprises++
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("encoding results json: %w", err)
	}
	return nil
}

// matrix is a report arranged by source and target, with the reasons
// numbered in order of first use.
type matrix struct {
	lab, runtime string
	surprises    int
	total        int
	rows, cols   []string
	cells        map[[2]string][]cellEntry
	reasons      []string
}

// cellEntry is one result in a cell.
type cellEntry struct {
	probe    string // e.g. "ping by name"
	result   string
	expected string // the prediction, shown when it differs
	surprise bool
	notes    []int // 1-based indexes into matrix.reasons
}

// text returns the entry as plain text, e.g. "ping by ip: timeout ! predicted ok [3]".
func (e cellEntry) text() string {
	return e.probe + ": " + e.result + e.surpriseText() + e.notesText()
}

func (e cellEntry) surpriseText() string {
	if !e.surprise {
		return ""
	}
	return " ! predicted " + e.expected
}

func (e cellEntry) notesText() string {
	var b strings.Builder
	for _, n := range e.notes {
		fmt.Fprintf(&b, " [%d]", n)
	}
	return b.String()
}

func buildMatrix(report *probe.Report, plan *topology.Plan) *matrix {
	m := &matrix{
		lab:     report.Lab,
		runtime: report.Runtime,
		total:   len(report.Results),
		cells:   map[[2]string][]cellEntry{},
	}
	reasonIndex := map[string]int{}
	note := func(text string) int {
		if n, ok := reasonIndex[text]; ok {
			return n
		}
		m.reasons = append(m.reasons, text)
		reasonIndex[text] = len(m.reasons)
		return len(m.reasons)
	}

	var sources, targets []string
	for i := range report.Results {
		r := &report.Results[i]
		to := matrixTarget(plan, r)
		sources = appendNew(sources, r.From)
		targets = appendNew(targets, to)

		e := cellEntry{probe: matrixProbe(r), result: r.Result, expected: r.Predicted, surprise: r.Surprise}
		if e.surprise {
			m.surprises++
		}
		reason := r.Reason
		if reason == "" {
			reason = "no reason recorded"
		}
		e.notes = append(e.notes, note(reason))
		if r.Detail != "" && r.Result != probe.OK {
			e.notes = append(e.notes, note("observed: "+r.Detail))
		}
		key := [2]string{r.From, to}
		m.cells[key] = append(m.cells[key], e)
	}
	m.rows = orderNodes(plan, sources)
	m.cols = orderNodes(plan, targets)
	return m
}

// matrixTarget names a result's column: the target node, or the via
// address when no node of the plan owns it.
func matrixTarget(plan *topology.Plan, r *probe.Result) string {
	if to := targetNode(plan, r); to != "" {
		return to
	}
	if r.Via != "" {
		return "via " + r.Via
	}
	return "?"
}

// matrixProbe describes a probe within its cell, e.g. "ping by name",
// "http :80", "tcp via gateway:8080", "ping by ip on alpine-net".
func matrixProbe(r *probe.Result) string {
	s := r.Kind
	switch {
	case r.Kind == topology.KindDNS:
		// A dns probe always looks a name up.
	case r.Kind == topology.KindPing && r.By != "":
		s += " by " + r.By
	case r.By == topology.ByName:
		s += " by name"
	}
	if r.Name != "" {
		s += " " + r.Name
	}
	if r.Network != "" {
		s += " on " + r.Network
	}
	if r.Via != "" {
		s += " via " + r.Via
	} else if r.Port != 0 {
		s += fmt.Sprintf(" :%d", r.Port)
	}
	return s
}

func appendNew(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// orderNodes sorts names in plan order (containers, the host, outside
// hosts), keeping the names the plan does not know at the end in their
// given order. Without a plan the given order stays.
func orderNodes(plan *topology.Plan, names []string) []string {
	if plan == nil {
		return names
	}
	var known []string
	for _, c := range plan.Containers {
		known = append(known, c.Name)
	}
	known = append(known, topology.HostNode)
	for _, o := range plan.Outside {
		known = append(known, o.Name)
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	var out []string
	for _, k := range known {
		if present[k] {
			out = append(out, k)
			delete(present, k)
		}
	}
	for _, n := range names {
		if present[n] {
			out = append(out, n)
		}
	}
	return out
}

// heading is the first line of the table and Markdown formats.
func (m *matrix) heading() string {
	s := "Reachability"
	if m.lab != "" {
		s += " of lab " + m.lab
	}
	if m.runtime != "" {
		s += " (runtime " + m.runtime + ")"
	}
	return s
}

// summary counts results and surprises in one sentence.
func (m *matrix) summary() string {
	s := fmt.Sprintf("%d results, %d surprises", m.total, m.surprises)
	if m.surprises == 1 {
		s = fmt.Sprintf("%d results, 1 surprise", m.total)
	}
	if m.surprises > 0 {
		s += " (marked !: observed differs from predicted)"
	}
	return s + "."
}
