package probe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseBusybox feeds arbitrary output of busybox ping, nslookup and
// wget to their parsers, which read what a container's programs print in
// the docker runtime. Each parse must end with a result word, and a
// successful ping with a round-trip time.
func FuzzParseBusybox(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join("testdata", "busybox", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		_, rest, _ := strings.Cut(string(data), "-- stdout --\n")
		stdout, stderr, _ := strings.Cut(rest, "-- stderr --\n")
		for program := range uint8(3) {
			f.Add(program, stdout, stderr, 0)
			f.Add(program, stdout, stderr, 1)
		}
	}
	f.Add(uint8(0), "PING x (10.0.0.1): 56 data bytes\n64 bytes from 10.0.0.1: seq=0 ttl=64 time=1e999 ms\n", "", 0)
	f.Add(uint8(1), "Name:\tweb\nAddress: 10.0.0.1\n", "", 0)
	f.Add(uint8(2), "", "wget: server returned error: HTTP/1.1 404", 1)
	valid := map[string]bool{OK: true, Timeout: true, Refused: true, Unreachable: true, NoName: true, Error: true}
	f.Fuzz(func(t *testing.T, program uint8, stdout, stderr string, exit int) {
		var r Result
		switch program % 3 {
		case 0:
			ParseBusyboxPing(&r, stdout, stderr, exit)
			if r.Result == OK && r.RTTMillis == nil {
				t.Errorf("ping ok without a round-trip time: %+v", r)
			}
		case 1:
			ParseBusyboxNslookup(&r, stdout, stderr, exit)
		case 2:
			ParseBusyboxWget(&r, stdout, stderr, exit)
		}
		if !valid[r.Result] {
			t.Errorf("program %d: result %q is no result word (stdout %q, stderr %q, exit %d)",
				program%3, r.Result, stdout, stderr, exit)
		}
	})
}
