package reliability

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/topolab/topolab/internal/testenv"
)

// observation is the part of a probe result that must not depend on what
// else runs on the machine: no round-trip times.
type observation struct {
	From, To, Kind, By, Network, Name, Via string
	Address, Result                        string
	Resolved                               []string
	SeenSource                             string
	Expect                                 bool
}

// parseReport reads the JSON of topolab probe --format json.
func parseReport(t testing.TB, data string) []observation {
	t.Helper()
	var report struct {
		Results []struct {
			From       string   `json:"from"`
			To         string   `json:"to"`
			Kind       string   `json:"kind"`
			By         string   `json:"by"`
			Network    string   `json:"network"`
			Name       string   `json:"name"`
			Via        string   `json:"via"`
			Address    string   `json:"address"`
			Result     string   `json:"result"`
			Resolved   []string `json:"resolved"`
			SeenSource *string  `json:"seen_source"`
		} `json:"results"`
		Expectations []struct {
			From   string `json:"from"`
			To     string `json:"to"`
			Kind   string `json:"kind"`
			By     string `json:"by"`
			Via    string `json:"via"`
			Result string `json:"result"`
			Passed *bool  `json:"passed"`
		} `json:"expectations"`
	}
	if err := json.Unmarshal([]byte(data), &report); err != nil {
		t.Fatalf("reading probe output: %v\n%s", err, data)
	}
	var out []observation
	for _, r := range report.Results {
		o := observation{From: r.From, To: r.To, Kind: r.Kind, By: r.By, Network: r.Network, Name: r.Name, Via: r.Via,
			Address: r.Address, Result: r.Result, Resolved: append([]string(nil), r.Resolved...)}
		sort.Strings(o.Resolved)
		if r.SeenSource != nil {
			o.SeenSource = *r.SeenSource
		}
		out = append(out, o)
	}
	for _, e := range report.Expectations {
		passed := "unknown"
		if e.Passed != nil {
			passed = fmt.Sprint(*e.Passed)
		}
		out = append(out, observation{From: e.From, To: e.To, Kind: e.Kind, By: e.By, Via: e.Via,
			Result: e.Result + " passed=" + passed, Expect: true})
	}
	if len(report.Results) == 0 {
		t.Fatalf("probe output has no results:\n%s", data)
	}
	return out
}

// TestFourLabsConcurrently brings four labs of different names up at once,
// probes them concurrently and compares each result set with the one the
// lab gives alone.
func TestFourLabsConcurrently(t *testing.T) {
	testenv.RequireRoot(t)
	outer := newOuterNetns(t)
	h := newHarness(t, outer)
	check := newLeakChecker(t, outer)
	fixtures := []string{"alpine-net", "default-bridge", "nat", "host"}
	labs := make([]string, len(fixtures))
	files := make([]string, len(fixtures))
	for i, f := range fixtures {
		labs[i] = labName("rel-four-" + f)
		files[i] = labFile(t, f, labs[i])
		cleanupLab(t, h, labs[i])
	}

	probeJSON := func(lab string) []observation {
		r := h.run("probe", lab, "--format", "json")
		if r.code != 0 && r.code != 1 {
			t.Errorf("%s", r)
			return nil
		}
		return parseReport(t, r.stdout)
	}

	alone := make([][]observation, len(labs))
	for i, lab := range labs {
		h.mustRun("up", files[i])
		alone[i] = probeJSON(lab)
		h.mustRun("down", lab)
		check.checkClean(t, lab, "after the lab ran alone")
	}

	var wg sync.WaitGroup
	ups := make([]result, len(labs))
	for i := range labs {
		wg.Go(func() { ups[i] = h.run("up", files[i]) })
	}
	wg.Wait()
	for _, r := range ups {
		if r.code != 0 {
			t.Fatalf("concurrent up: %s", r)
		}
	}
	if n := check.sample(); n < 4*3 {
		t.Errorf("four running labs hold %d new network namespaces, want at least 12", n)
	}

	// Twice, so that a second round also sees the state the first left.
	for round := range 2 {
		together := make([][]observation, len(labs))
		for i, lab := range labs {
			wg.Go(func() { together[i] = probeJSON(lab) })
		}
		wg.Wait()
		for i, lab := range labs {
			if diff := cmp.Diff(alone[i], together[i]); diff != "" {
				t.Errorf("round %d: lab %s probed beside three others differs from alone (-alone +together):\n%s",
					round, lab, diff)
			}
		}
	}

	for i, lab := range labs {
		wg.Go(func() {
			if r := h.run("down", lab); r.code != 0 {
				t.Errorf("%s", r)
			}
		})
		_ = i
	}
	wg.Wait()
	for _, lab := range labs {
		check.checkClean(t, lab, "after the four labs went down")
	}
	if t.Failed() {
		t.Logf("labs: %s", strings.Join(labs, ", "))
	}
}
