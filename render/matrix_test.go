package render

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/topolab/topolab/probe"
)

func TestMatrixEveryCellHasReason(t *testing.T) {
	plan := fixturePlan(t, "alpine-net")
	report := fixtureReport(t, plan)
	m := buildMatrix(report, plan)
	for key, entries := range m.cells {
		for _, e := range entries {
			if len(e.notes) == 0 {
				t.Errorf("cell %s -> %s entry %q cites no reason", key[0], key[1], e.probe)
			}
			for _, n := range e.notes {
				if n < 1 || n > len(m.reasons) || m.reasons[n-1] == "" {
					t.Errorf("cell %s -> %s entry %q cites missing reason %d", key[0], key[1], e.probe, n)
				}
			}
		}
	}
	for _, r := range report.Results {
		if r.Reason == "" {
			continue
		}
		found := false
		for _, reason := range m.reasons {
			found = found || reason == r.Reason
		}
		if !found {
			t.Errorf("reason %q of %s -> %s is not listed", r.Reason, r.From, r.To)
		}
	}
}

func TestMatrixTableMarksSurprise(t *testing.T) {
	report := &probe.Report{Lab: "t", Results: []probe.Result{
		{From: "a", To: "b", Kind: "ping", By: "ip", Result: probe.Timeout, Predicted: probe.OK,
			Reason: "a and b share network n.", Surprise: true},
		{From: "b", To: "a", Kind: "ping", By: "name", Result: probe.OK, Predicted: probe.OK,
			Reason: "b resolves a on n."},
	}}
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, report, FormatTable, MatrixOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ping by ip: timeout ! predicted ok [1]", "ping by name: ok [2]",
		"[1] a and b share network n.", "1 surprise"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("table without Color has ANSI sequences:\n%q", out)
	}
}

func TestMatrixTableColor(t *testing.T) {
	report := &probe.Report{Results: []probe.Result{
		{From: "a", To: "b", Kind: "ping", By: "ip", Result: probe.OK, Predicted: probe.OK, Reason: "r"},
	}}
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, report, FormatTable, MatrixOptions{Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), ansiGreen+"ok"+ansiReset) {
		t.Errorf("ok is not green:\n%q", buf.String())
	}
}

func TestMatrixUnknownFormat(t *testing.T) {
	err := WriteMatrix(&bytes.Buffer{}, &probe.Report{}, "yaml", MatrixOptions{})
	if !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("error = %v, want ErrUnknownFormat", err)
	}
}

func TestMatrixCSVOneRowPerResult(t *testing.T) {
	plan := fixturePlan(t, "nat")
	report := fixtureReport(t, plan)
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, report, FormatCSV, MatrixOptions{}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("parsing csv: %v", err)
	}
	if len(rows) != len(report.Results)+1 {
		t.Errorf("csv has %d rows, want header and %d results", len(rows), len(report.Results))
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	plan := fixturePlan(t, "alpine-net")
	report := fixtureReport(t, plan)
	report.SchemaVersion = 0
	var buf bytes.Buffer
	if err := WriteJSON(&buf, report); err != nil {
		t.Fatal(err)
	}
	var got probe.Report
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	if got.SchemaVersion != probe.SchemaVersion {
		t.Errorf("schema_version = %d, want %d", got.SchemaVersion, probe.SchemaVersion)
	}
	if len(got.Results) != len(report.Results) {
		t.Errorf("%d results, want %d", len(got.Results), len(report.Results))
	}
	if got.Surprises != report.Surprises {
		t.Errorf("surprises = %d, want %d", got.Surprises, report.Surprises)
	}
}

func TestWriteJSONEmptyResults(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, &probe.Report{Lab: "x"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"results": []`) {
		t.Errorf("nil results not written as []:\n%s", buf.String())
	}
}
