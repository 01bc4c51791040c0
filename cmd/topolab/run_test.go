package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/internal/testenv"
	"github.com/topolab/topolab/probe"
)

// TestRunFixturesMatchPrediction runs every lesson on real namespaces: each
// observed result must equal its prediction, and every expectation must
// pass.
func TestRunFixturesMatchPrediction(t *testing.T) {
	testenv.RequireRoot(t)
	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			dir := t.TempDir()
			_, errOut, code := runCLI(t, "run", f.Name, "-o", dir, "--strict")
			if code != exitOK {
				t.Fatalf("run exited %d:\n%s", code, errOut)
			}
			data, err := os.ReadFile(filepath.Join(dir, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			var report probe.Report
			if err := json.Unmarshal(data, &report); err != nil {
				t.Fatalf("results.json: %v", err)
			}
			if report.SchemaVersion != probe.SchemaVersion || report.Runtime != "netns" {
				t.Errorf("schema_version %d runtime %q", report.SchemaVersion, report.Runtime)
			}
			if len(report.Results) == 0 {
				t.Fatal("no results")
			}
			for _, r := range report.Results {
				if r.Result != r.Predicted {
					t.Errorf("%s -> %s %s by %s via %q at %s: observed %s, predicted %s (%s)",
						r.From, r.To, r.Kind, r.By, r.Via, r.Address, r.Result, r.Predicted, r.Detail)
				}
				if r.SeenSource != nil && r.PredictedSource != "" && *r.SeenSource != r.PredictedSource {
					t.Errorf("%s -> %s %s via %q: server saw %s, predicted %s",
						r.From, r.To, r.Kind, r.Via, *r.SeenSource, r.PredictedSource)
				}
			}
			for _, c := range report.Expectations {
				if !c.Passed {
					t.Errorf("expectation %s -> %s %s failed: %s", c.From, c.To, c.Kind, c.Failure)
				}
			}
			for _, name := range []string{"diagram.svg", "diagram.png", "matrix.md", "results.json", "capture.pcapng", "nat.md"} {
				if info, err := os.Stat(filepath.Join(dir, name)); err != nil || info.Size() == 0 {
					t.Errorf("%s missing from the output folder: %v", name, err)
				}
			}
		})
	}
}

func TestTestCommandFailsOnWrongExpectation(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "wrong.yaml")
	data := "name: wrong-expect\ncontainers:\n  a: {}\n  b: {}\nexpect:\n  - {from: a, to: b, kind: ping, by: ip, result: timeout}\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "test", file)
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d\n%s", code, exitFailed, out)
	}
	if want := "expected timeout, got ok"; !strings.Contains(out, want) {
		t.Errorf("output %q does not contain %q", out, want)
	}
}

// TestOwnDNSServerBesideEmbeddedDNS runs a container that serves port 53
// itself on a user-defined network: its server and Docker's embedded DNS
// server on 127.0.0.11:53 must both answer.
func TestOwnDNSServerBesideEmbeddedDNS(t *testing.T) {
	testenv.RequireRoot(t)
	file := filepath.Join(t.TempDir(), "dns.yaml")
	data := `name: own-dns
networks:
  app: {}
containers:
  resolver: {networks: [app], listen: [53/udp, 53/tcp]}
  client: {networks: [app]}
expect:
  - {from: client, to: resolver, kind: udp, port: 53, result: ok}
  - {from: client, to: resolver, kind: tcp, port: 53, result: ok}
  - {from: resolver, to: client, kind: dns, result: ok, resolves_to: [client]}
  - {from: resolver, kind: udp, via: "localhost:53", result: ok}
`
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCLI(t, "test", file)
	if code != exitOK {
		t.Fatalf("test exited %d:\n%s", code, out)
	}
}
