package main

import (
	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// loadPlan loads a topology file or fixture and plans it.
func loadPlan(arg string) (*topology.Plan, error) {
	t, err := fixtures.Load(arg)
	if err != nil {
		return nil, err
	}
	return topology.PlanTopology(t)
}

// predictReport predicts the probe set of m, and checks the expectations
// against the predictions.
func predictReport(m *probe.Model) (*probe.Report, error) {
	specs, err := m.ProbeSet()
	if err != nil {
		return nil, err
	}
	results := m.PredictAll(specs)
	checks := m.CheckAll(m.PredictAll(m.ExpectSpecs()))
	return &probe.Report{
		SchemaVersion: probe.SchemaVersion,
		Lab:           m.Plan.Lab,
		Runtime:       "predict",
		Results:       results,
		Expectations:  checks,
	}, nil
}

func failedChecks(checks []probe.ExpectationResult) []probe.ExpectationResult {
	var out []probe.ExpectationResult
	for _, c := range checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}
