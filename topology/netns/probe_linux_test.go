package netns

import (
	"context"
	"testing"
	"time"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

// TestFixtureExpectations runs the expect section of every fixture with the
// probe package against a real lab and checks each result, and also that
// the observation matches the prediction.
func TestFixtureExpectations(t *testing.T) {
	for _, f := range fixtures.List() {
		t.Run(f.Name, func(t *testing.T) {
			l := upFixture(t, f.Name)
			plan := l.Plan()
			expect := plan.Topology.Expect
			specs := make([]topology.ProbeSpec, len(expect))
			for i, e := range expect {
				specs[i] = e.ProbeSpec
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			results := probe.Run(ctx, l, probe.NewModel(plan), specs, probe.RunOptions{Timeout: time.Second})
			for i, r := range results {
				want := expect[i].Result
				got := r.Result
				if want == probe.Fail && got != probe.OK {
					continue
				}
				if got != want {
					t.Errorf("%s -> %s %s by %s via %q: %s (%s), want %s", r.From, r.To, r.Kind, r.By, r.Via,
						got, r.Detail, want)
				}
				if r.Surprise {
					t.Errorf("%s -> %s %s by %s via %q: observed %s, predicted %s", r.From, r.To, r.Kind, r.By, r.Via,
						got, r.Predicted)
				}
			}
		})
	}
}
