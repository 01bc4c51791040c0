package docker

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/topolab/topolab/fixtures"
	"github.com/topolab/topolab/topology"
)

func TestTopologyLabelRoundTrip(t *testing.T) {
	for _, name := range []string{"alpine-net", "default-bridge", "host", "nat", "none"} {
		t.Run(name, func(t *testing.T) {
			topo, err := fixtures.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			want, err := topology.PlanTopology(topo)
			if err != nil {
				t.Fatal(err)
			}
			encoded, err := encodeTopology(topo)
			if err != nil {
				t.Fatalf("encodeTopology: %v", err)
			}
			decoded, err := decodeTopology(encoded)
			if err != nil {
				t.Fatalf("decodeTopology: %v", err)
			}
			got, err := topology.PlanTopology(decoded)
			if err != nil {
				t.Fatalf("planning the decoded topology: %v", err)
			}
			if a, b := mustJSON(t, got), mustJSON(t, want); a != b {
				t.Errorf("plan of the decoded topology differs:\n got %s\nwant %s", a, b)
			}
			if len(decoded.Expect) != len(topo.Expect) || len(decoded.Probes) != len(topo.Probes) {
				t.Errorf("decoded %d probes and %d expectations, want %d and %d",
					len(decoded.Probes), len(decoded.Expect), len(topo.Probes), len(topo.Expect))
			}
		})
	}
}

func TestDecodeTopologyRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "not base64!", "aGVsbG8=", strings.Repeat("A", maxTopologyLabel+4)} {
		if _, err := decodeTopology(s); err == nil {
			t.Errorf("decodeTopology(%.20q): no error", s)
		}
	}
}

func TestEndpointAliasesAddNetworkForm(t *testing.T) {
	iface := &topology.Interface{Network: "app-net", DNSNames: []string{"web2", "web", "0123456789ab"}}
	got := endpointAliases(iface)
	want := []string{"web2", "web", "0123456789ab", "web2.app-net", "web.app-net", "0123456789ab.app-net"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("endpointAliases = %v, want %v", got, want)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestGwPriorityDifferenceBeforeAPI148(t *testing.T) {
	topo, err := topology.Parse("gw.yaml", []byte(`name: gw
networks:
  front: {}
  back: {}
containers:
  web:
    networks:
      front: {}
      back: {gw_priority: 5}
`))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := topology.PlanTopology(topo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		api  string
		want int
	}{{"1.41", 1}, {"1.48", 0}} {
		c, err := client.New(client.WithAPIVersion(tc.api), client.WithHost("unix:///nonexistent.sock"))
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		r := &Runtime{client: c, log: slog.New(slog.NewTextHandler(&logs, nil))}
		lab := newLab(r, plan)
		r.noteVersionDifferences(lab, plan.Container("web"), false)
		c.Close()
		diffs := lab.Differences()
		if len(diffs) != tc.want {
			t.Errorf("API %s: differences %q, want %d", tc.api, diffs, tc.want)
			continue
		}
		if tc.want > 0 && (!strings.Contains(diffs[0], "gw_priority 5 on network back is ignored") ||
			!strings.Contains(logs.String(), "level=WARN")) {
			t.Errorf("API %s: difference %q, log %q; want the ignored gw_priority and a warning", tc.api, diffs[0], logs.String())
		}
	}
}
