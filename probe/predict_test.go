package probe

import (
	"testing"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

func loadModel(t *testing.T, name string) *Model {
	t.Helper()
	top, err := fixtures.Load(name)
	if err != nil {
		t.Fatalf("loading %s: %v", name, err)
	}
	plan, err := topology.PlanTopology(top)
	if err != nil {
		t.Fatalf("planning %s: %v", name, err)
	}
	return NewModel(plan)
}

// TestFixtureExpectationsPredicted checks that the predictor agrees with
// what each lesson teaches.
func TestFixtureExpectationsPredicted(t *testing.T) {
	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			m := loadModel(t, f.Name)
			results := m.PredictAll(m.ExpectSpecs())
			for _, c := range m.CheckAll(results) {
				if !c.Passed {
					t.Errorf("%s -> %s %s by %s via %q: %s; reason: %s",
						c.From, c.To, c.Kind, c.By, c.Via, c.Failure, c.Reason)
				}
			}
		})
	}
}
