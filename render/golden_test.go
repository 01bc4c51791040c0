package render

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// fixtureNames are the fixtures every golden test renders.
var fixtureNames = []string{"alpine-net", "default-bridge", "host", "nat", "none"}

func fixturePlan(t testing.TB, name string) *topology.Plan {
	t.Helper()
	topo, err := fixtures.Load(name)
	if err != nil {
		t.Fatalf("loading fixture %s: %v", name, err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatalf("planning fixture %s: %v", name, err)
	}
	return plan
}

// fixtureReport predicts the probes of a fixture's expect section and then
// turns every third prediction into a surprise, so the golden files show
// both agreeing and differing results with their reasons.
func fixtureReport(t testing.TB, plan *topology.Plan) *probe.Report {
	t.Helper()
	m := probe.NewModel(plan)
	results := m.PredictAll(m.ExpectSpecs())
	rtt := 0.25
	for i := range results {
		r := &results[i]
		if r.Predicted == "" {
			r.Predicted = r.Result
		}
		if r.Result == probe.OK {
			r.RTTMillis = &rtt
		}
		if i%3 != 1 {
			continue
		}
		r.Surprise = true
		if r.Predicted == probe.OK {
			r.Result = probe.Timeout
			r.RTTMillis = nil
			r.Detail = "no reply within 1s"
		} else {
			r.Result = probe.OK
			r.RTTMillis = &rtt
		}
	}
	surprises := 0
	for _, r := range results {
		if r.Surprise {
			surprises++
		}
	}
	return &probe.Report{SchemaVersion: probe.SchemaVersion, Lab: plan.Lab, Runtime: "netns",
		Results: results, Surprises: surprises}
}

// checkGolden compares got with testdata/name, or rewrites the file when
// the test runs with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test ./render -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from golden file (-want +got); run go test ./render -update if the change is intended:\n%s", path, diff)
	}
}

func TestDOTGolden(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			plan := fixturePlan(t, name)
			got, err := DOT(plan, DiagramOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+".dot", got)

			report := fixtureReport(t, plan)
			got, err = DOT(plan, DiagramOptions{Results: report.Results, Overlay: true})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name+"-overlay.dot", got)
		})
	}
}

func TestMatrixGolden(t *testing.T) {
	formats := map[string]string{FormatTable: ".txt", FormatMarkdown: ".md", FormatCSV: ".csv", FormatJSON: ".json"}
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			plan := fixturePlan(t, name)
			report := fixtureReport(t, plan)
			for format, ext := range formats {
				var buf bytes.Buffer
				if err := WriteMatrix(&buf, report, format, MatrixOptions{Plan: plan}); err != nil {
					t.Fatalf("format %s: %v", format, err)
				}
				checkGolden(t, name+"-matrix"+ext, buf.Bytes())
			}
		})
	}
}

func TestMatrixTableColorGolden(t *testing.T) {
	plan := fixturePlan(t, "alpine-net")
	var buf bytes.Buffer
	if err := WriteMatrix(&buf, fixtureReport(t, plan), FormatTable, MatrixOptions{Plan: plan, Color: true}); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "alpine-net-matrix-color.txt", buf.Bytes())
}
