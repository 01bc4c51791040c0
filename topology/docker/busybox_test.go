//go:build linux

package docker

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/topolab/topolab/probe"
	"github.com/topolab/topolab/topology"
)

var recordBusybox = flag.Bool("record-busybox", false, "write the busybox outputs of TestBusyboxProbes to probe/testdata/busybox")

// busyboxCase is one exec probe against a real lab.
type busyboxCase struct {
	file string // recording name, without .txt
	node string
	kind string
	// target is an address or name; a container name in braces, such as
	// {alpine3}, stands for that container's first address.
	target     string
	port       uint16
	wantResult string
	// wantSource is the client address a responder must report, "" for no
	// check.
	wantSource string
}

func TestBusyboxProbes(t *testing.T) {
	r := newTestRuntime(t)
	labs := []struct {
		fixture string
		lab     string
		cases   []busyboxCase
	}{
		{"alpine-net", "tlr-alpine", []busyboxCase{
			{"ping-ok-name", "alpine1", topology.KindPing, "alpine2", 0, probe.OK, ""},
			{"ping-no-name", "alpine1", topology.KindPing, "alpine3", 0, probe.NoName, ""},
			{"ping-timeout-other-bridge", "alpine1", topology.KindPing, "{alpine3}", 0, probe.Timeout, ""},
			{"ping-outside-default-bridge", "alpine3", topology.KindPing, "example.com", 0, probe.OK, ""},
			{"nslookup-ok", "alpine1", topology.KindDNS, "alpine2", 0, probe.OK, ""},
			{"nslookup-nxdomain", "alpine1", topology.KindDNS, "alpine3", 0, probe.NoName, ""},
			{"nslookup-outside-default-bridge", "alpine3", topology.KindDNS, "example.com", 0, probe.OK, ""},
			{"nslookup-outside-user-network", "alpine1", topology.KindDNS, "example.com", 0, probe.OK, ""},
			{"wget-outside", "alpine1", topology.KindHTTP, "example.com", 80, probe.OK, "192.0.2.10"},
			{"wget-refused", "alpine1", topology.KindHTTP, "alpine2", 80, probe.Refused, ""},
			{"wget-no-name", "alpine1", topology.KindHTTP, "nosuch", 80, probe.NoName, ""},
			{"wget-timeout-other-bridge", "alpine1", topology.KindHTTP, "{alpine3}", 80, probe.Timeout, ""},
		}},
		{"nat", "tlr-nat", []busyboxCase{
			{"wget-container-port", "client", topology.KindHTTP, "{web1}", 80, probe.OK, "{client}"},
			{"wget-published-gateway", "client", topology.KindHTTP, "172.17.0.1", 8080, probe.OK, ""},
			{"wget-refused-host-port", "client", topology.KindHTTP, "{web1}", 8080, probe.Refused, ""},
			{"ping-outside-by-ip", "client", topology.KindPing, "203.0.113.10", 0, probe.OK, ""},
		}},
		{"none", "tlr-none", []busyboxCase{
			{"ping-unreachable", "isolated", topology.KindPing, "203.0.113.10", 0, probe.Unreachable, ""},
			{"wget-unreachable", "isolated", topology.KindHTTP, "203.0.113.10", 80, probe.Unreachable, ""},
			{"nslookup-unreachable", "isolated", topology.KindDNS, "example.com", 0, probe.Unreachable, ""},
		}},
	}
	for _, l := range labs {
		t.Run(l.fixture, func(t *testing.T) {
			plan := loadPlan(t, l.fixture, l.lab)
			lab := upLab(t, r, plan)
			for _, c := range l.cases {
				t.Run(c.file, func(t *testing.T) { runBusyboxCase(t, lab, c) })
			}
			if err := lab.Close(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
}

// expand replaces {name} by the first address of that container.
func expand(lab *Lab, s string) string {
	name, ok := strings.CutPrefix(s, "{")
	if !ok {
		return s
	}
	c := lab.Plan().Container(strings.TrimSuffix(name, "}"))
	return c.Interfaces[0].Address.Addr().String()
}

func runBusyboxCase(t *testing.T, lab *Lab, c busyboxCase) {
	target := expand(lab, c.target)
	var argv []string
	switch c.kind {
	case topology.KindPing:
		argv = probe.BusyboxPingArgv(target)
	case topology.KindDNS:
		argv = probe.BusyboxNslookupArgv(target)
	case topology.KindHTTP:
		argv = probe.BusyboxWgetArgv(target, c.port)
	}
	var stdout, stderr bytes.Buffer
	err := lab.Node(c.node).Exec(context.Background(), argv, nil, &stdout, &stderr)
	code := 0
	if exit, ok := err.(*ExitError); ok {
		code = exit.Code
	} else if err != nil {
		t.Fatalf("exec %q in %s: %v", argv, c.node, err)
	}

	var res probe.Result
	switch c.kind {
	case topology.KindPing:
		probe.ParseBusyboxPing(&res, stdout.String(), stderr.String(), code)
	case topology.KindDNS:
		probe.ParseBusyboxNslookup(&res, stdout.String(), stderr.String(), code)
	case topology.KindHTTP:
		probe.ParseBusyboxWget(&res, stdout.String(), stderr.String(), code)
	}
	if res.Result != c.wantResult {
		t.Errorf("%s from %s: result %s (%s), want %s\nstdout: %s\nstderr: %s",
			strings.Join(argv, " "), c.node, res.Result, res.Detail, c.wantResult, stdout.String(), stderr.String())
	}
	if c.wantSource != "" {
		want := expand(lab, c.wantSource)
		if res.SeenSource == nil || !strings.HasPrefix(*res.SeenSource, want+":") {
			t.Errorf("%s from %s: seen source %v, want %s:PORT", strings.Join(argv, " "), c.node, res.SeenSource, want)
		}
	}
	if *recordBusybox {
		writeRecording(t, c, argv, stdout.String(), stderr.String(), code)
	}
}

// writeRecording writes the case's output in the format of
// probe/testdata/busybox: a header of argv, exit status and expected
// result, then the output streams.
func writeRecording(t *testing.T, c busyboxCase, argv []string, stdout, stderr string, code int) {
	dir := filepath.Join("..", "..", "probe", "testdata", "busybox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	argv = slices.Clone(argv)
	var b strings.Builder
	fmt.Fprintf(&b, "argv: %s\nexit: %d\nresult: %s\n-- stdout --\n%s-- stderr --\n%s", strings.Join(argv, " "), code, c.wantResult, stdout, stderr)
	if err := os.WriteFile(filepath.Join(dir, c.file+".txt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
