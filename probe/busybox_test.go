package probe

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// busyboxRecording is one file of testdata/busybox, recorded by the docker
// runtime's TestBusyboxProbes -record-busybox against real containers.
type busyboxRecording struct {
	argv           []string
	exit           int
	result         string
	stdout, stderr string
}

func readBusyboxRecording(t *testing.T, path string) busyboxRecording {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(data), "-- stdout --\n")
	if !ok {
		t.Fatalf("%s: missing -- stdout -- line", path)
	}
	stdout, stderr, ok := strings.Cut(rest, "-- stderr --\n")
	if !ok {
		t.Fatalf("%s: missing -- stderr -- line", path)
	}
	rec := busyboxRecording{stdout: stdout, stderr: stderr}
	for _, line := range strings.Split(strings.TrimSpace(head), "\n") {
		key, value, _ := strings.Cut(line, ": ")
		switch key {
		case "argv":
			rec.argv = strings.Fields(value)
		case "exit":
			if rec.exit, err = strconv.Atoi(value); err != nil {
				t.Fatalf("%s: invalid exit status %q", path, value)
			}
		case "result":
			rec.result = value
		}
	}
	return rec
}

// parseRecording runs the parser that matches the recording's program.
func parseRecording(t *testing.T, rec busyboxRecording) Result {
	t.Helper()
	var r Result
	switch {
	case strings.Contains(strings.Join(rec.argv, " "), " wget "):
		ParseBusyboxWget(&r, rec.stdout, rec.stderr, rec.exit)
	case rec.argv[1] == "ping":
		ParseBusyboxPing(&r, rec.stdout, rec.stderr, rec.exit)
	case rec.argv[1] == "nslookup":
		ParseBusyboxNslookup(&r, rec.stdout, rec.stderr, rec.exit)
	default:
		t.Fatalf("no parser for %q", rec.argv)
	}
	return r
}

func TestBusyboxRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "busybox", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recordings in testdata/busybox")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			rec := readBusyboxRecording(t, file)
			r := parseRecording(t, rec)
			if r.Result != rec.result {
				t.Errorf("result %s (detail %q), want %s", r.Result, r.Detail, rec.result)
			}
			if r.Result != OK && r.Detail == "" && r.Result != Timeout {
				t.Errorf("result %s without a detail", r.Result)
			}
		})
	}
}

func TestParseBusyboxPingReply(t *testing.T) {
	rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", "ping-ok-name.txt"))
	r := parseRecording(t, rec)
	if r.Address != "172.18.0.3" {
		t.Errorf("address %q, want 172.18.0.3", r.Address)
	}
	if r.RTTMillis == nil || *r.RTTMillis <= 0 {
		t.Errorf("RTT %v, want a positive value", r.RTTMillis)
	}
}

func TestParseBusyboxPingTimeout(t *testing.T) {
	rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", "ping-timeout-other-bridge.txt"))
	r := parseRecording(t, rec)
	if r.Address != "172.17.0.2" {
		t.Errorf("address %q, want 172.17.0.2", r.Address)
	}
	if r.RTTMillis != nil {
		t.Errorf("RTT %v, want nil", *r.RTTMillis)
	}
}

func TestParseBusyboxNslookupAnswers(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"nslookup-ok", []string{"172.18.0.3"}},
		{"nslookup-outside-default-bridge", []string{"203.0.113.10"}},
		{"nslookup-outside-user-network", []string{"203.0.113.10"}},
		{"nslookup-nxdomain", []string{}},
	}
	for _, tt := range tests {
		rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", tt.file+".txt"))
		r := parseRecording(t, rec)
		if strings.Join(r.Resolved, ",") != strings.Join(tt.want, ",") || r.Resolved == nil {
			t.Errorf("%s: resolved %#v, want %#v", tt.file, r.Resolved, tt.want)
		}
	}
}

func TestParseBusyboxNslookupOldFormat(t *testing.T) {
	// The answer format of busybox before 1.28, as older alpine images print it.
	stdout := "Server:    127.0.0.11\nAddress 1: 127.0.0.11\n\nName:      alpine2\nAddress 1: 172.18.0.3 alpine2.alpine-net\n"
	var r Result
	ParseBusyboxNslookup(&r, stdout, "", 0)
	if r.Result != OK || strings.Join(r.Resolved, ",") != "172.18.0.3" {
		t.Errorf("result %s, resolved %v, want ok with 172.18.0.3", r.Result, r.Resolved)
	}
}

func TestParseBusyboxWgetSource(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"wget-outside", "192.0.2.10:"},
		{"wget-published-gateway", "172.17.0.1:"},
		{"wget-container-port", "172.17.0.3:"},
	}
	for _, tt := range tests {
		rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", tt.file+".txt"))
		r := parseRecording(t, rec)
		if r.SeenSource == nil || !strings.HasPrefix(*r.SeenSource, tt.want) {
			t.Errorf("%s: seen source %v, want %sPORT", tt.file, r.SeenSource, tt.want)
		}
	}
}

func TestParseBusyboxWgetRefusedAddress(t *testing.T) {
	rec := readBusyboxRecording(t, filepath.Join("testdata", "busybox", "wget-refused.txt"))
	r := parseRecording(t, rec)
	if r.Address != "172.18.0.3" {
		t.Errorf("address %q, want 172.18.0.3", r.Address)
	}
}
