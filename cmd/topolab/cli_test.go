package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var kebabCase = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// TestCommandTreeHelp checks the help conventions on every command: short
// help capitalised without a final period, kebab-case flags, and an example
// on every leaf command.
func TestCommandTreeHelp(t *testing.T) {
	root := newRootCommand(streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}})
	root.InitDefaultCompletionCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		name := c.CommandPath()
		if c.Short == "" {
			t.Errorf("%s: no short help", name)
		} else {
			if !unicode.IsUpper(rune(c.Short[0])) {
				t.Errorf("%s: short help %q does not start with a capital", name, c.Short)
			}
			if strings.HasSuffix(c.Short, ".") {
				t.Errorf("%s: short help %q ends with a period", name, c.Short)
			}
		}
		if !c.HasSubCommands() && c.Example == "" && !strings.HasPrefix(name, "topolab completion") {
			t.Errorf("%s: leaf command has no example", name)
		}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if !kebabCase.MatchString(f.Name) {
				t.Errorf("%s: flag --%s is not kebab-case", name, f.Name)
			}
			if f.Usage == "" {
				t.Errorf("%s: flag --%s has no help", name, f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// runCLI runs topolab in-process and returns stdout, stderr and the exit code.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCommand(streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	root.SetArgs(args)
	ctx := context.Background()
	err := root.ExecuteContext(ctx)
	if err != nil && !strings.Contains(err.Error(), errSilent.Error()) {
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), exitCode(ctx, err)
}

func TestValidateFixture(t *testing.T) {
	out, _, code := runCLI(t, "validate", "alpine-net")
	if code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	if want := "alpine-net: valid: lab alpine-net, 1 network, 4 containers\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

func TestValidateInvalidFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	data := "containers:\n  web:\n    ports: [\"8080:80\"]\n    netwroks: [bridge]\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "validate", file)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	want := file + `:4:5: containers.web.netwroks: unknown field "netwroks"; fix: did you mean "networks"?`
	if !strings.Contains(errOut, want) {
		t.Errorf("stderr %q does not contain %q", errOut, want)
	}
}

func TestValidateJSON(t *testing.T) {
	out, _, code := runCLI(t, "validate", "--format", "json", "nat")
	if code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	var doc struct {
		SchemaVersion int          `json:"schema_version"`
		Files         []validation `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if doc.SchemaVersion != 1 || len(doc.Files) != 1 || !doc.Files[0].Valid {
		t.Errorf("unexpected document %+v", doc)
	}
}

func TestUnknownTopologyExitsUsage(t *testing.T) {
	_, errOut, code := runCLI(t, "predict", "no-such-lab")
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut, "neither a file nor a fixture") {
		t.Errorf("stderr %q does not explain the missing file", errOut)
	}
}

func TestBadFlagExitsUsage(t *testing.T) {
	_, _, code := runCLI(t, "predict", "--no-such-flag", "alpine-net")
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	_, _, code = runCLI(t, "predict", "--format", "yaml", "alpine-net")
	if code != exitUsage {
		t.Fatalf("--format yaml: exit code %d, want %d", code, exitUsage)
	}
}

func TestPredictJSONSchema(t *testing.T) {
	out, _, code := runCLI(t, "predict", "--format", "json", "alpine-net")
	if code != exitOK {
		t.Fatalf("exit code %d, want 0", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if doc["schema_version"] != float64(1) || doc["lab"] != "alpine-net" || doc["runtime"] != "predict" {
		t.Errorf("header fields wrong: %v %v %v", doc["schema_version"], doc["lab"], doc["runtime"])
	}
	results, _ := doc["results"].([]any)
	if len(results) == 0 {
		t.Fatal("no results")
	}
	first := results[0].(map[string]any)
	for _, field := range []string{"from", "to", "kind", "by", "address", "result", "predicted", "reason", "rtt_ms", "resolved", "seen_source"} {
		if _, ok := first[field]; !ok {
			t.Errorf("result lacks field %q", field)
		}
	}
}

func TestPredictContradictionExitsFailed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "wrong.yaml")
	data := "containers:\n  a: {}\n  b: {}\nexpect:\n  - {from: a, to: b, kind: ping, by: name, result: ok}\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "predict", file)
	if code != exitFailed {
		t.Fatalf("exit code %d, want %d", code, exitFailed)
	}
	if !strings.Contains(errOut, "default bridge, which has no embedded DNS") {
		t.Errorf("stderr %q does not give the reason", errOut)
	}
}

func TestFixturesList(t *testing.T) {
	out, _, code := runCLI(t, "fixtures")
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	for _, name := range []string{"alpine-net", "default-bridge", "nat", "host", "none"} {
		if !regexp.MustCompile(`(?m)^` + name + `\s+\S`).MatchString(out) {
			t.Errorf("fixture %s not listed with a summary:\n%s", name, out)
		}
	}
}

func TestDrawWritesEachFormat(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"d.svg", "d.png", "d.dot"} {
		path := filepath.Join(dir, name)
		if _, errOut, code := runCLI(t, "draw", "alpine-net", "-o", path, "--overlay"); code != exitOK {
			t.Fatalf("draw -o %s: exit %d: %s", name, code, errOut)
		}
		info, err := os.Stat(path)
		if err != nil || info.Size() == 0 {
			t.Errorf("%s not written: %v", name, err)
		}
	}
	if _, _, code := runCLI(t, "draw", "alpine-net", "-o", filepath.Join(dir, "d.jpg")); code != exitUsage {
		t.Errorf("draw -o d.jpg: exit %d, want %d", code, exitUsage)
	}
}

func TestPredictRejectsHugeDefaultSet(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, []byte(benchLab("big", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "predict", file)
	if code != exitUsage {
		t.Fatalf("exit code %d, want %d", code, exitUsage)
	}
	if !strings.Contains(errOut, "list the probes to run in the file's probes: section") {
		t.Errorf("stderr %q does not give the fix", errOut)
	}
}

// TestUsageErrorsExitTwo checks command-line mistakes that cobra, the
// commands or the loader catch: each exits with the usage code and says
// what to do.
func TestUsageErrorsExitTwo(t *testing.T) {
	dir := t.TempDir()
	noExpect := filepath.Join(dir, "no-expect.yaml")
	if err := os.WriteFile(noExpect, []byte("containers:\n  a: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"capture", "some-lab"}, `required flag(s) "write" not set`},
		{[]string{"test", noExpect}, "has no expectations to test; add an expect: section"},
		{[]string{"run", "alpine-net", "--timeout", "-1s"}, "--timeout -1s: give a positive duration"},
		{[]string{"draw", "alpine-net", "--format", "json"}, "draw takes its format from the extension of --output"},
		{[]string{"validate", fifo}, "not a regular file but a named pipe"},
		{[]string{"validate"}, "validate: requires at least 1 arg(s), only received 0; usage: topolab validate FILE..."},
		{[]string{"exec", "some-lab", "node"}, "give the lab, the node, then -- and the command"},
		{[]string{"down", "no-such-lab"}, "no such lab"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, errOut, code := runCLI(t, c.args...)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d (stderr %q)", code, exitUsage, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q does not contain %q", errOut, c.want)
			}
		})
	}
}

func TestFixtureAsJSON(t *testing.T) {
	out, _, code := runCLI(t, "fixtures", "nat", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	var doc struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Name != "nat" || !strings.Contains(doc.Content, "ports: [\"8080:80\"]") {
		t.Errorf("unexpected fixture document %+v", doc)
	}
}
