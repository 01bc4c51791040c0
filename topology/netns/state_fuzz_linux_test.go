package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/topolab/topolab/topology"
)

// FuzzParseStatStartTime feeds arbitrary /proc/PID/stat contents to the
// parser that tells a supervisor from a later process with its PID.
func FuzzParseStatStartTime(f *testing.F) {
	if data, err := os.ReadFile("/proc/self/stat"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("1 (a) b c) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 0 0"))
	f.Add([]byte("7 (zombie) Z 1 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start, err := parseStatStartTime(data)
		if err != nil && start != 0 {
			t.Errorf("error %v with start time %d", err, start)
		}
	})
}

func TestParseStatStartTime(t *testing.T) {
	cases := []struct {
		data string
		want uint64
		err  error
	}{
		{"1 (a) b c) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 42, nil},
		{"1 (a b) R 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 7", 7, nil},
		{"7 (zombie) Z 1 7 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 42 0 0", 0, errExited},
	}
	for _, c := range cases {
		got, err := parseStatStartTime([]byte(c.data))
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("parseStatStartTime(%q) = %d, %v; want %d, %v", c.data, got, err, c.want, c.err)
		}
	}
	for _, bad := range []string{"", ")", "1 (a) S 0", "1 (a) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 x 0",
		// Found by FuzzParseStatStartTime: out of range, which ParseUint
		// returns with the maximum value.
		"1 (a) S 0 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 0200000000000000000000 0"} {
		if got, err := parseStatStartTime([]byte(bad)); err == nil || got != 0 {
			t.Errorf("parseStatStartTime(%q) = %d, %v; want 0 and an error", bad, got, err)
		}
	}
}

// FuzzParseLockHolder feeds arbitrary lock file contents to its parser.
func FuzzParseLockHolder(f *testing.F) {
	f.Add([]byte("123 456\n"))
	f.Add([]byte("-1 0"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, ok := parseLockHolder(data)
		if ok && (st == nil || st.PID <= 0) {
			t.Errorf("parseLockHolder(%q) = %+v, true", data, st)
		}
		if ok {
			if again, ok2 := parseLockHolder([]byte(fmt.Sprintf("%d %d\n", st.PID, st.StartTime))); !ok2 || again.PID != st.PID || again.StartTime != st.StartTime {
				t.Errorf("round trip of %+v gave %+v, %v", st, again, ok2)
			}
		}
	})
}

// FuzzDecodeState feeds arbitrary state files to the decoder that Attach,
// Down and List use, which must reject them with an environment error or
// return a plan the lab's code can walk.
func FuzzDecodeState(f *testing.F) {
	plan, err := loadPlan("alpine-net")
	if err != nil {
		f.Fatal(err)
	}
	good, err := json.Marshal(state{Version: stateVersion, Lab: "x", PID: 1, Namespaces: map[string]int{"host": 3}, Plan: plan})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1,"pid":1,"plan":{"containers":[null]}}`))
	f.Add([]byte(`{"version":1,"pid":1,"plan":{"containers":[{"interfaces":[null]}]}}`))
	f.Add([]byte(`{"version":1,"pid":1,"plan":{"outside":[null],"networks":[null]}}`))
	f.Add([]byte("{garbage"))
	rt := New(Options{StateDir: f.TempDir()})
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := rt.decodeState("x", data)
		if err != nil {
			if !errors.Is(err, topology.ErrEnvironment) {
				t.Errorf("error %v does not wrap ErrEnvironment", err)
			}
			return
		}
		// What Attach does with a decoded plan.
		l := newLab(st.Plan, rt.log)
		l.makeNodes()
		for _, c := range st.Plan.Containers {
			st.Plan.NetnsOwner(c)
		}
	})
}

// TestDecodeStateNulls checks state files whose plan has null entries,
// which made restoreGateways dereference a nil pointer.
func TestDecodeStateNulls(t *testing.T) {
	rt := New(Options{StateDir: t.TempDir()})
	for _, data := range []string{
		`{"version":1,"pid":1,"plan":{"containers":[null]}}`,
		`{"version":1,"pid":1,"plan":{"containers":[{"interfaces":[null]}]}}`,
		`{"version":1,"pid":1,"plan":{"outside":[null]}}`,
	} {
		if _, err := rt.decodeState("x", []byte(data)); !errors.Is(err, topology.ErrEnvironment) {
			t.Errorf("decodeState(%s): error %v, want an environment error", data, err)
		}
	}
}

// TestStopProcessZombieChild stops a supervisor that has exited but is an
// unreaped child of the caller, which must count as gone rather than make
// stopProcess wait for it.
func TestStopProcessZombieChild(t *testing.T) {
	cmd := exec.Command("sleep", "0.2")
	if err := cmd.Start(); err != nil {
		t.Skipf("starting sleep: %v", err)
	}
	defer cmd.Wait()
	start, err := processStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	st := &state{PID: cmd.Process.Pid, StartTime: start}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
		if _, err := parseStatStartTime(data); errors.Is(err, errExited) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleep did not become a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	began := time.Now()
	if err := stopProcess(ctx, st); err != nil {
		t.Fatalf("stopProcess of a zombie child: %v", err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("stopProcess of a zombie child took %s", d)
	}
}
