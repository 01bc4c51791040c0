package render

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/topolab/topolab/probe"
)

// ANSI SGR sequences of the table format.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiGreen  = "\x1b[32m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[1;33m"
	ansiDim    = "\x1b[2m"
)

// cornerLabel heads the column of source names.
const cornerLabel = `from \ to`

// writeTable writes m as an aligned text table with multi-line cells, one
// line per probe, then the numbered reasons.
func writeTable(w io.Writer, m *matrix, color bool) error {
	bw := bufio.NewWriter(w)
	paint := func(s, code string) string {
		if !color || s == "" {
			return s
		}
		return code + s + ansiReset
	}

	fmt.Fprintln(bw, paint(m.heading(), ansiBold))
	fmt.Fprintln(bw, m.summary())
	fmt.Fprintln(bw)

	widths := make([]int, len(m.cols)+1)
	widths[0] = utf8.RuneCountInString(cornerLabel)
	for _, r := range m.rows {
		widths[0] = max(widths[0], utf8.RuneCountInString(r))
	}
	for j, c := range m.cols {
		widths[j+1] = utf8.RuneCountInString(c)
		for _, r := range m.rows {
			for _, e := range m.cells[[2]string{r, c}] {
				widths[j+1] = max(widths[j+1], utf8.RuneCountInString(e.text()))
			}
		}
	}
	pad := func(s string, width int) string {
		return s + strings.Repeat(" ", width-utf8.RuneCountInString(s))
	}

	header := []string{paint(pad(cornerLabel, widths[0]), ansiBold)}
	rule := []string{strings.Repeat("-", widths[0])}
	for j, c := range m.cols {
		header = append(header, paint(pad(c, widths[j+1]), ansiBold))
		rule = append(rule, strings.Repeat("-", widths[j+1]))
	}
	writeRow(bw, header)
	writeRow(bw, rule)

	for _, r := range m.rows {
		lines := 1
		for _, c := range m.cols {
			lines = max(lines, len(m.cells[[2]string{r, c}]))
		}
		for line := 0; line < lines; line++ {
			fields := []string{strings.Repeat(" ", widths[0])}
			if line == 0 {
				fields[0] = paint(pad(r, widths[0]), ansiBold)
			}
			for j, c := range m.cols {
				entries := m.cells[[2]string{r, c}]
				text := ""
				switch {
				case line < len(entries):
					text = tableEntry(entries[line], widths[j+1], paint)
				case line == 0 && r == c:
					text = pad("=", widths[j+1])
				case line == 0:
					text = paint(pad("·", widths[j+1]), ansiDim)
				default:
					text = strings.Repeat(" ", widths[j+1])
				}
				fields = append(fields, text)
			}
			writeRow(bw, fields)
		}
	}

	fmt.Fprintln(bw)
	writeReasons(bw, m, "Reasons:", func(n int, s string) string { return fmt.Sprintf("  [%d] %s", n, s) })
	return bw.Flush()
}

// tableEntry pads an entry to width and colours its result word: green for
// ok, red otherwise, and the surprise marker yellow.
func tableEntry(e cellEntry, width int, paint func(string, string) string) string {
	padding := strings.Repeat(" ", width-utf8.RuneCountInString(e.text()))
	code := ansiRed
	if e.result == probe.OK {
		code = ansiGreen
	}
	return e.probe + ": " + paint(e.result, code) + paint(e.surpriseText(), ansiYellow) + e.notesText() + padding
}

// writeRow writes fields separated by two spaces, without trailing blanks.
func writeRow(w io.Writer, fields []string) {
	line := strings.Join(fields, "  ")
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

func writeReasons(w io.Writer, m *matrix, title string, format func(int, string) string) {
	if len(m.reasons) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	for i, r := range m.reasons {
		fmt.Fprintln(w, format(i+1, r))
	}
}

// writeMarkdown writes m as a GitHub-flavoured Markdown table, one probe per
// line of a cell, then the reasons as a numbered list.
func writeMarkdown(w io.Writer, m *matrix) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "### %s\n\n%s\n\n", markdownText(m.heading()), markdownText(m.summary()))
	if len(m.rows) > 0 {
		header := []string{markdownText(cornerLabel)}
		rule := []string{"---"}
		for _, c := range m.cols {
			header = append(header, markdownText(c))
			rule = append(rule, "---")
		}
		fmt.Fprintf(bw, "| %s |\n| %s |\n", strings.Join(header, " | "), strings.Join(rule, " | "))
		for _, r := range m.rows {
			fields := []string{"**" + markdownText(r) + "**"}
			for _, c := range m.cols {
				entries := m.cells[[2]string{r, c}]
				texts := make([]string, len(entries))
				for i, e := range entries {
					texts[i] = markdownText(e.probe) + ": " + markdownResult(e)
				}
				fields = append(fields, strings.Join(texts, "<br>"))
			}
			fmt.Fprintf(bw, "| %s |\n", strings.Join(fields, " | "))
		}
		fmt.Fprintln(bw)
	}
	writeReasons(bw, m, "Reasons:\n", func(n int, s string) string { return fmt.Sprintf("%d. %s", n, markdownText(s)) })
	return bw.Flush()
}

// markdownResult sets a result word in bold when it is not ok, and a
// surprise in bold with its marker.
func markdownResult(e cellEntry) string {
	s := e.result
	if e.result != probe.OK {
		s = "**" + s + "**"
	}
	if e.surprise {
		s += " **! predicted " + markdownText(e.expected) + "**"
	}
	return s + markdownText(e.notesText())
}

// markdownText escapes the characters that would end a table cell or start
// inline markup.
func markdownText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`)
	return r.Replace(s)
}

// csvHeader names the columns of the CSV format, after the JSON fields.
var csvHeader = []string{"from", "to", "kind", "by", "network", "name", "port", "via", "address",
	"result", "predicted", "surprise", "reason", "rtt_ms", "resolved", "seen_source",
	"predicted_source", "detail"}

// writeCSV writes one row per result. Resolved addresses are joined by
// spaces; absent values are empty.
func writeCSV(w io.Writer, report *probe.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range report.Results {
		port := ""
		if r.Port != 0 {
			port = strconv.Itoa(r.Port)
		}
		rtt := ""
		if r.RTTMillis != nil {
			rtt = strconv.FormatFloat(*r.RTTMillis, 'f', -1, 64)
		}
		seen := ""
		if r.SeenSource != nil {
			seen = *r.SeenSource
		}
		row := []string{r.From, r.To, r.Kind, r.By, r.Network, r.Name, port, r.Via, r.Address,
			r.Result, r.Predicted, strconv.FormatBool(r.Surprise), r.Reason, rtt,
			strings.Join(r.Resolved, " "), seen, r.PredictedSource, r.Detail}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
